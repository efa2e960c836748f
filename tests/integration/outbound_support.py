"""Helpers for the outbound tests: an engine wired as the daemon wires it, on a real tmp_path.

``Rig`` holds a real ledger, a real :class:`As2GatewayClient` (no rate limit, instant idempotent
retries) and an :class:`OutboundEngine` against an emulator. ``run_until`` drives the engine the
way the service's outbound thread does (step, and wait when nothing progressed). ``restart()``
throws the engine away and builds a new one on the same state and folders, as a process
restart would. ``clock`` is real time plus an adjustable offset so back-off can be skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.sending import As2Sender
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.config.schema import Config
from as2sync.emulator.model import SubmissionView
from as2sync.emulator.server import RunningEmulator
from as2sync.folders.layout import PartnerDirs, partner_dirs
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import Ledger, open_ledger
from as2sync.ledger.outbound import Submission
from as2sync.outbound.engine import OutboundEngine

USER = "demo@example.com"
PASSWORD = "demo"
STATION = "MYSTATION"

FAST: dict[str, Any] = {
    "settle_seconds": 0.1,
    "scan_seconds": 0.5,
    "track_seconds": 0.1,
    "reconcile_grace_seconds": 0.5,
}


def make_config(base: Path, url: str, **outbound: Any) -> Config:
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    return Config.model_validate(
        {
            "gateway": {"url": url, "username": USER, "password": PASSWORD},
            "state_dir": str(base / "state"),
            "folders": {"root": str(root)},
            "outbound": {**FAST, **outbound},
        }
    )


def fast_client(url: str, timeout: float = 10.0) -> As2GatewayClient:
    return As2GatewayClient(
        url,
        USER,
        PASSWORD,
        limiter=RateLimiter(100_000, 1.0),
        retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.001, sleep=lambda _s: None),
        timeout=timeout,
    )


@dataclass
class Rig:
    base: Path
    emu: RunningEmulator
    outbound: dict[str, Any] = field(default_factory=dict)
    offset: float = 0.0
    timeout: float = 10.0  # the client's; the property tests make it shorter than a slow reply

    def __post_init__(self) -> None:
        self.config = make_config(self.base, self.emu.base_url, **self.outbound)
        self.root = self.config.folders.root
        self.ledger: Ledger = open_ledger(self.config.state_dir)
        self.gateway = fast_client(self.emu.base_url, self.timeout)
        self.engine = self._engine()
        self.stop_event = threading.Event()
        self.dirs("ACME")  # the usual partnership exists before the daemon starts

    def clock(self) -> float:
        return time.time() + self.offset

    def _engine(self) -> OutboundEngine:
        backend = As2Sender(self.gateway, self.config, self.clock)
        return OutboundEngine(self.config, self.ledger, backend, clock=self.clock)

    def start(self) -> Rig:
        self.engine.start()
        return self

    def restart(self) -> None:
        """A new engine on the same ledger and folders (the old one is simply abandoned)."""
        self.engine.stop()
        self.engine = self._engine()
        self.engine.start()

    def close(self) -> None:
        self.engine.stop()
        self.gateway.close()
        self.ledger.close()

    def dirs(self, partner: str = "ACME") -> PartnerDirs:
        d = partner_dirs(self.config, STATION, partner)
        d.outbox.mkdir(parents=True, exist_ok=True)
        return d

    def drop(self, name: str, data: bytes, partner: str = "ACME") -> Path:
        """Write a file into the outbox the way a careful user does (write, then rename in)."""
        outbox = self.dirs(partner).outbox
        tmp = outbox / f".{name}.writing"
        tmp.write_bytes(data)
        final = outbox / name
        tmp.rename(final)
        return final

    def step(self) -> bool:
        return self.engine.step(self.stop_event)

    def run_until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            progressed = self.step()
            if predicate():
                return
            if not progressed:
                self.engine.wait(0.05)
        raise AssertionError(f"timed out after {timeout}s; ledger: {self.rows()}")

    def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.step():
                self.engine.wait(0.05)

    def rows(self) -> list[Submission]:
        with self.ledger.read() as s:
            return lo.in_states(s, list(lo.SubmissionState))

    def states(self) -> list[str]:
        return sorted(r.state.value for r in self.rows())

    def submissions(self) -> list[SubmissionView]:
        return self.emu.state.submissions()

    def sends(self) -> list[tuple[str, str, int]]:
        """Send requests the emulator saw (POST /message/...)."""
        return [
            r
            for r in self.emu.state.request_log()
            if r[0] == "POST"
            and "/message/" in r[1]
            and "/batch/" not in r[1]
            and not r[1].endswith(("/stop", "/retry", "/markUnread"))
        ]

    def names(self, folder: str, partner: str = "ACME") -> list[str]:
        path = getattr(self.dirs(partner), folder)
        return sorted(p.name for p in path.iterdir()) if path.exists() else []
