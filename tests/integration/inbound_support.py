"""Helpers for the inbound tests: a config, a fast gateway client, an engine on a real tmp_path.

``Rigs(tmp_path)`` builds an :class:`InboundEngine` wired exactly as the daemon wires it (real
ledger, real As2GatewayClient) against a base URL -- the emulator's, or a fake one served by
``httpx.MockTransport``. ``restart()`` throws the engine away and builds a new one on the same
state, as a process restart after a crash would.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.receiving import As2Receiver
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.config.schema import Config, InboundConfig
from as2sync.folders.layout import WORK_DIR
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger.db import Ledger, open_ledger

USER = "demo@example.com"
PASSWORD = "demo"


def make_config(base: Path, url: str, **inbound: Any) -> Config:
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    return Config.model_validate(
        {
            "gateway": {"url": url, "username": USER, "password": PASSWORD},
            "state_dir": str(base / "state"),
            "folders": {"root": str(root)},
            "inbound": inbound,
        }
    )


def fast_client(
    url: str, transport: httpx.BaseTransport | None = None, timeout: float = 10.0
) -> As2GatewayClient:
    """A client without rate limiting and with instant retries (3 attempts)."""
    return As2GatewayClient(
        url,
        USER,
        PASSWORD,
        limiter=RateLimiter(100_000, 1.0),
        retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.001, sleep=lambda _s: None),
        timeout=timeout,
        transport=transport,
    )


def inbox_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` outside the work folders, by path relative to ``root``."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if WORK_DIR in rel.parts or not path.is_file():
            continue
        found[rel.as_posix()] = path.read_bytes()
    return found


def work_files(root: Path) -> list[str]:
    """Whatever is left in the work folders (temp files, temp folders)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if WORK_DIR in p.relative_to(root).parts and p.parent.name == "incoming"
    )


@dataclass
class Rig:
    config: Config
    ledger: Ledger
    gateway: As2GatewayClient
    engine: InboundEngine
    clock: Callable[[], float]
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def root(self) -> Path:
        return self.config.folders.root

    def inbox(self, station: str = "MYSTATION", partner: str = "ACME") -> Path:
        return self.root / station / partner / "inbox"

    def poll(self) -> int:
        return self.engine.poll(self.stop)

    def files(self) -> dict[str, bytes]:
        return inbox_files(self.root)


class Rigs:
    """Builds rigs under one tmp_path and closes them at the end."""

    def __init__(self, base: Path, *, timeout: float = 10.0) -> None:
        self.base = base
        self.timeout = timeout  # the clients'
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Rigs:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def make(
        self,
        url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        start: bool = True,
        **inbound: Any,
    ) -> Rig:
        config = make_config(self.base, url, **inbound)
        return self._build(config, transport, clock, start)

    def restart(
        self,
        rig: Rig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        **inbound: Any,
    ) -> Rig:
        """A new engine, ledger and client on the same state (what a restart does)."""
        rig.gateway.close()
        rig.ledger.close()
        config = rig.config
        if inbound:
            merged = {**config.inbound.model_dump(), **inbound}
            config = config.model_copy(update={"inbound": InboundConfig.model_validate(merged)})
        return self._build(config, transport, clock or rig.clock, True)

    def _build(
        self,
        config: Config,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], float],
        start: bool,
    ) -> Rig:
        ledger = open_ledger(config.state_dir)
        self._stack.callback(ledger.close)
        gateway = fast_client(config.gateway.url, transport, self.timeout)
        self._stack.callback(gateway.close)
        engine = InboundEngine(config, ledger, As2Receiver(gateway, config, clock), clock=clock)
        if start:
            engine.start()
        return Rig(config, ledger, gateway, engine, clock)


class ManualClock:
    """Epoch seconds that move only when told."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeMessage:
    message_id: str
    sender: str
    receiver: str
    files: list[tuple[str, bytes]]  # what the gateway holds
    listed: list[tuple[str, int]]  # what the list metadata says (name, size)
    read: bool = False


ZipBuilder = Callable[[list[str]], bytes]


class FakeGateway:
    """A minimal AS2 Gateway for ``httpx.MockTransport``.

    It lists its unread messages, answers the batch request with ``zip_for(ids)`` (by default
    an honest zip of the messages' files; tests pass hand-made, hostile zips), serves single
    attachments, and marks read on ``markAsRead``. ``truncation_for(ids)`` turns the batch
    answer into a 206 with that ``(i,j)``. ``on_request(method, path)`` runs before each
    answer (to change the world mid-request). Requests are recorded as ``(method, path)``.
    """

    def __init__(
        self,
        zip_for: ZipBuilder | None = None,
        stations: tuple[str, ...] = ("MYSTATION",),
        truncation_for: Callable[[list[str]], tuple[int, int] | None] | None = None,
    ) -> None:
        self.zip_for = zip_for or self.honest_zip
        self.stations = stations
        self.truncation_for = truncation_for
        self.on_request: Callable[[str, str], None] | None = None
        self.messages: dict[str, FakeMessage] = {}
        self.requests: list[tuple[str, str]] = []

    def add(
        self,
        message_id: str,
        files: list[tuple[str, bytes]],
        *,
        listed: list[tuple[str, int]] | None = None,
        sender: str = "ACME",
        receiver: str = "MYSTATION",
    ) -> None:
        self.messages[message_id] = FakeMessage(
            message_id,
            sender,
            receiver,
            files,
            listed if listed is not None else [(n, len(d)) for n, d in files],
        )

    def honest_zip(self, ids: list[str]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for mid in ids:
                m = self.messages.get(mid)
                if m is None:
                    zf.writestr(f"{mid}/.error", f"No received AS2 message found with ID {mid}")
                    continue
                for name, data in m.files:
                    zf.writestr(f"{mid}/{name}", data)
        return out.getvalue()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def _entity(self, m: FakeMessage) -> dict[str, Any]:
        return {
            "as2MessageId": m.message_id,
            "persistedTimestamp": 1_700_000_000_000,
            "senderId": m.sender,
            "receiverId": m.receiver,
            "partnerType": "Production",
            "mdnStatus": "Pending",
            "attachments": [{"name": n, "size": s} for n, s in m.listed],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.requests.append((request.method, path))
        if self.on_request is not None:
            self.on_request(request.method, path)
        mark = request.url.params.get("markAsRead") == "true"
        if path == "/authorize":
            return httpx.Response(200, json={"token": "t0k3n-abc", "expiry": 4_102_444_800_000})
        if path == "/station":
            return httpx.Response(200, json=[{"as2Identifier": s} for s in self.stations])
        if path == "/message/received" and request.method == "GET":
            unread = [m for m in self.messages.values() if not m.read]
            return httpx.Response(
                200,
                json={"totalRecords": len(unread), "records": [self._entity(m) for m in unread]},
            )
        if path == "/message/received/batch/attachments":
            ids = json.loads(request.content)
            cut = self.truncation_for(ids) if self.truncation_for else None
            headers = {"Content-Type": "application/octet-stream"}
            if cut is not None:
                headers["X-Batch-Truncation-Index"] = f"({cut[0]},{cut[1]})"
            if mark:  # the fully archived ones only
                for mid in ids[: len(ids) if cut is None else cut[0]]:
                    if mid in self.messages:
                        self.messages[mid].read = True
            return httpx.Response(
                200 if cut is None else 206, content=self.zip_for(ids), headers=headers
            )
        if path.startswith("/message/received/") and request.method == "GET":
            rest = unquote(request.url.raw_path.decode().split("?", 1)[0])
            rest = rest.split("/message/received/", 1)[1]
            mid, _, tail = rest.partition("/attachments/")
            m = self.messages.get(mid)
            if m is None:
                return httpx.Response(404, json={"message": "not found"})
            if mark:
                m.read = True
            if tail:
                name, data = m.files[int(tail)]
                return httpx.Response(
                    200,
                    content=data,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'},
                )
            return httpx.Response(200, json=self._entity(m))
        return httpx.Response(404, json={"message": f"not in the fake: {path}"})
