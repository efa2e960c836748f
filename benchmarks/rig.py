"""The bench rig: the emulator and the daemon as separate processes, and the means to load them
and to read what happened.

Everything a benchmark reports is observed from outside the daemon: the emulator's request log
and submission records (``/_admin``), the folders, and ``/proc``. The daemon runs with the
default configuration (``settle_seconds`` 2, ``max_in_flight`` 2, ``track_seconds`` 30,
the client-side limit of 50 requests per 10 s) unless a benchmark says otherwise.

The emulator runs *without* ``--data``: with a data directory it rewrites its whole state file
(and fsyncs it) on every mutation, a cost that grows with the number of messages and belongs to
the stand-in, not to the gateway or to as2sync.
"""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks import procfs
from benchmarks.stats import RequestSummary, summarize
from tests.e2e.harness import (
    PASSWORD,
    USER,
    DaemonProcess,
    EmulatorProcess,
    wait_until,
    write_config,
)

STATION = "MYSTATION"
PARTNER = "ACME"
ECHO_PARTNER = "LOOP"

# The daemon's defaults, spelled out: write_config's own defaults are tuned for fast tests
# (settle 0.2 s, tracking every second), which would not be the configuration users run.
DEFAULT_OUTBOUND: dict[str, Any] = {"settle_seconds": 2, "scan_seconds": 60, "track_seconds": 30}
DEFAULT_INBOUND: dict[str, Any] = {"poll_seconds": 30}
UNLIMITED_CLIENT: dict[str, Any] = {"rate_limit": {"requests": 1_000_000, "per_seconds": 1}}


class Emulator(EmulatorProcess):
    """``python -m as2sync emulator`` in memory (see the module docstring), with a kept-alive
    admin client for seeding thousands of messages quickly."""

    def __init__(self, directory: Path, *args: str) -> None:
        super().__init__(directory, "--station", STATION, *args)
        self._client: httpx.Client | None = None

    def start(self) -> None:
        self.starts += 1
        with (self.directory / f"emulator-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "as2sync", "emulator", "--port", str(self.port),
                    "--user", USER, "--password", PASSWORD, *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._client = httpx.Client(base_url=self.admin_url, timeout=60)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}")
            try:
                self.admin("GET", "/state")
            except httpx.HTTPError:
                return False
            return True

        wait_until(up, 30, what="emulator up")

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._client is not None
        response = self._client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def seed_many(self, messages: Iterable[tuple[str, bytes]], partner: str = PARTNER) -> list[str]:
        """Seed one received message per ``(name, content)`` (consumed lazily, so gigabytes
        need not be in memory at once); returns their IDs."""
        ids = []
        for name, data in messages:
            body = {
                "station": STATION,
                "partner": partner,
                "attachments": [{"name": name, "content_base64": base64.b64encode(data).decode()}],
            }
            ids.append(str(self.admin("POST", "/received", json=body)["message_id"]))
        return ids

    def request_log(self) -> list[list[Any]]:
        return list(self.admin("GET", "/requests"))

    def requests(self, quiet: float = 1.0) -> RequestSummary:
        """The request log summarized, once no request came for ``quiet`` seconds (a client
        that has just finished its work may still be making its last request)."""
        self.wait_quiet(quiet)
        return summarize(self.request_log())

    def wait_quiet(self, seconds: float, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        count = len(self.request_log())
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = len(self.request_log())
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return

    def unread(self) -> int:
        return sum(1 for m in self.snapshot()["received"] if not m["read"])

    def close(self) -> None:
        self.stop()
        if self._client is not None:
            self._client.close()


@dataclass
class Daemon:
    """``as2sync run`` as a child process (the e2e harness's :class:`DaemonProcess`)."""

    process: DaemonProcess

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def start(self) -> None:
        """Start it and wait for READY=1 (systemd's notify protocol, as the harness does)."""
        self.process.start()

    def cpu(self) -> float:
        return procfs.cpu_seconds(self.pid)

    def switches(self) -> int:
        return procfs.context_switches(self.pid)

    def memory(self) -> dict[str, int]:
        return procfs.memory(self.pid)

    def stop(self) -> None:
        if self.process.alive():
            try:
                self.process.terminate(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.close()


@dataclass
class Workspace:
    """A scratch directory holding the emulator's log, the daemon's config, state and folders."""

    directory: Path
    emulators: list[Emulator] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.directory / "root"

    def partner_dir(self, partner: str = PARTNER) -> Path:
        return self.root / STATION / partner

    def outbox(self, partner: str = PARTNER) -> Path:
        return self.partner_dir(partner) / "outbox"

    def inbox(self, partner: str = PARTNER) -> Path:
        return self.partner_dir(partner) / "inbox"

    def sent(self, partner: str = PARTNER) -> Path:
        return self.partner_dir(partner) / "sent"

    def emulator(self, *args: str, partners: Sequence[str] = (PARTNER,)) -> Emulator:
        partner_args = [a for p in partners for a in ("--partner", p)]
        emu = Emulator(self.directory, *partner_args, *args)
        self.emulators.append(emu)
        emu.start()
        return emu

    def daemon(
        self,
        emu: Emulator,
        *,
        partners: Sequence[str] = (PARTNER,),
        start: bool = True,
        config: dict[str, dict[str, Any]] | None = None,
    ) -> Daemon:
        """A daemon for ``emu`` with the default timings, ``config``'s sections merged over
        them (``{"outbound": {"bundle_max_files": 10}}``)."""
        for partner in partners:
            for sub in ("outbox", "inbox", "sent"):
                (self.partner_dir(partner) / sub).mkdir(parents=True, exist_ok=True)
        merged: dict[str, Any] = {
            "outbound": dict(DEFAULT_OUTBOUND),
            "inbound": dict(DEFAULT_INBOUND),
        }
        for name, values in (config or {}).items():
            merged.setdefault(name, {}).update(values)
        path = write_config(self.directory, emu.base_url, root=self.root, **merged)
        daemon = Daemon(DaemonProcess(path))
        self.daemons.append(daemon)
        if start:
            daemon.start()
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        for emu in self.emulators:
            emu.close()


@contextmanager
def workspace(base: Path | None, keep: bool, name: str) -> Iterator[Workspace]:
    """A fresh :class:`Workspace` under ``base`` (a temp dir if None), removed unless ``keep``."""
    directory = Path(tempfile.mkdtemp(prefix=f"as2sync-bench-{name}-", dir=base))
    ws = Workspace(directory)
    try:
        yield ws
    finally:
        ws.close()
        if keep:
            print(f"    kept {directory}", flush=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)


# -- load -------------------------------------------------------------------------------------


def payload(n: int, size: int) -> bytes:
    """``size`` bytes for file ``n``: a recognisable header, then incompressible bytes (the
    emulator deflates its zips; random bytes keep the zips as big as the attachments)."""
    head = f"as2sync bench file {n}\n".encode()
    if size <= len(head):
        return head[:size]
    return head + os.urandom(size - len(head))


def drop(outbox: Path, files: Sequence[tuple[str, bytes]]) -> float:
    """Write each file under a hidden temp name, then rename it into ``outbox`` (so the daemon
    never sees a partial file); returns the time the last rename happened."""
    for name, data in files:
        temp = outbox / f".{name}.writing"
        temp.write_bytes(data)
        os.rename(temp, outbox / name)
    return time.time()


def count_files(folder: Path) -> int:
    """Regular files directly in ``folder`` (0 if it does not exist)."""
    try:
        return sum(1 for e in os.scandir(folder) if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return 0


def wait_for_files(folder: Path, count: int, timeout: float, what: str) -> float:
    """Wait until ``folder`` holds ``count`` files; returns the time that was first seen.

    Polls every 20 ms, so times read this way are late by at most that much."""
    wait_until(lambda: count_files(folder) >= count, timeout, interval=0.02, what=what)
    return time.time()


def ctimes(folder: Path) -> dict[str, float]:
    """``st_ctime`` of every file in ``folder``: for a file as2sync placed there, the moment
    it was linked in (the link changes the inode's ctime), so no polling is needed."""
    return {e.name: e.stat(follow_symlinks=False).st_ctime for e in os.scandir(folder)}


class RequestMeter:
    """Samples how many ``/v1`` requests the emulator has logged, every ``interval`` seconds,
    so that request rates can be measured over any span of a run."""

    def __init__(self, emu: Emulator, interval: float = 0.1) -> None:
        self.emu = emu
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-meter", daemon=True)
        # Its own connection: the admin client is not shared between threads.
        self._client = httpx.Client(base_url=emu.admin_url, timeout=30)

    def __enter__(self) -> RequestMeter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            before = time.time()
            count = len(self._client.get("/requests").json())
            self.samples.append(((before + time.time()) / 2, count))
            self._stop.wait(self.interval)

    def count_at(self, when: float) -> float:
        """Requests logged by ``when``, interpolated between the samples around it."""
        samples = self.samples
        if not samples:
            return 0.0
        if when <= samples[0][0]:
            return float(samples[0][1])
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else float(c1)
        return float(samples[-1][1])
