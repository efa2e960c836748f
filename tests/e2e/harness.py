"""Run the real ``as2sync run`` process in tests: config, start, readiness, kill, restart.

Readiness is observed the way systemd observes it: the harness binds a notify socket, passes
it as ``$NOTIFY_SOCKET`` and waits for ``READY=1``. Output goes to a log file per start so a
failing test can show what the daemon said.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

PASSWORD = "Pw-e2e-Very-Secret-42"
USER = "demo@example.com"


def write_config(
    directory: Path,
    base_url: str,
    *,
    root: Path | None = None,
    state_dir: Path | None = None,
    **sections: dict[str, Any],
) -> Path:
    """A config for ``base_url`` with fast, test-friendly timings; ``sections`` override keys."""
    root = root or directory / "root"
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "gateway": {"url": base_url, "username": USER, "password": PASSWORD, "timeout_seconds": 10},
        "state_dir": str(state_dir or directory / "state"),
        "folders": {"root": str(root)},
        "outbound": {"settle_seconds": 0.2, "scan_seconds": 2, "track_seconds": 1},
        "inbound": {"poll_seconds": 0.5},
        "log": {"level": "info", "format": "json"},
        "shutdown_timeout_seconds": 10,
    }
    for name, values in sections.items():
        if isinstance(config.get(name), dict):
            config[name].update(values)
        else:
            config[name] = values
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def as2sync(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m as2sync ARGS`` as a user would; ``AS2SYNC_*`` variables are not inherited."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AS2SYNC_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "as2sync", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class DaemonProcess:
    """``python -m as2sync run -c CONFIG`` as a child process."""

    def __init__(
        self, config: Path, *, env: dict[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> None:
        """``prefix`` goes before the Python command, e.g. ``setpriv --reuid=nobody ...`` to
        run the daemon unprivileged (root ignores file permissions)."""
        self.config = config
        self.env = env or {}
        self.prefix = tuple(prefix)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_dir = config.parent / "daemon-logs"
        self.log_dir.mkdir(exist_ok=True)
        self._notify: socket.socket | None = None
        # The notify socket lives in a short private folder: a unix socket's path is limited
        # to 107 bytes, which a test's tmp_path (longer still under pytest-xdist) can exceed.
        self._notify_dir = Path(tempfile.mkdtemp(prefix="as2n-"))
        if self.prefix:  # another user must reach the socket in it
            os.chmod(self._notify_dir, 0o711)  # noqa: S103 - search only, for the socket
        self.notifications: list[str] = []

    def watchdog_pings(self) -> int:
        """How many WATCHDOG=1 notifications have arrived since the last start."""
        return sum(1 for n in list(self.notifications) if "WATCHDOG=1" in n.splitlines())

    def keeps_pinging(self, within: float) -> bool:
        """Whether WATCHDOG=1 arrives again (after any before this call) within ``within`` s."""
        seen = self.watchdog_pings()
        try:
            wait_until(lambda: self.watchdog_pings() > seen, within, what="WATCHDOG=1")
        except AssertionError:
            return False
        return True

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"run-{self.starts}.log"

    def start(self, *args: str, failpoints: str | None = None, wait_ready: bool = True) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.notifications = []
        if self._notify is not None:
            self._notify.close()
        notify_path = self._notify_dir / f"notify-{self.starts}.sock"
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        if self.prefix:  # another user must be allowed to send READY=1 to it
            os.chmod(notify_path, 0o777)  # noqa: S103 - a test socket in a private dir
        self._notify.settimeout(0.1)
        # Read notifications as they come, as systemd does: a supervisor that stops reading
        # would fill the socket's queue (the daemon then drops them; see as2sync/daemon/notify.py).
        threading.Thread(
            target=_read_notifications, args=(self._notify, self.notifications), daemon=True
        ).start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AS2SYNC_")}
        env.update(self.env)
        env["NOTIFY_SOCKET"] = str(notify_path)
        if failpoints:
            env["AS2SYNC_FAILPOINTS"] = failpoints
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    "as2sync",
                    "run",
                    "-c",
                    str(self.config),
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if wait_ready:
            self.wait_ready()

    def _drain_notify(self) -> None:
        """Let notifications sent so far arrive (the reader thread collects them)."""
        time.sleep(0.2)

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.output()}")
            return any("READY=1" in n for n in self.notifications)

        wait_until(ready, timeout, what="READY=1")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log_lines(self) -> list[str]:
        """Every line the daemon wrote, over all its starts."""
        return [
            line
            for p in sorted(self.log_dir.glob("run-*.log"))
            for line in p.read_text(errors="replace").splitlines()
            if line
        ]

    def output(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n" + p.read_text(errors="replace")[-20000:]
            for p in sorted(self.log_dir.glob("run-*.log"))
        )

    def close(self) -> None:
        self.kill()
        if self._notify is not None:
            self._notify.close()
        shutil.rmtree(self._notify_dir, ignore_errors=True)


def _read_notifications(sock: socket.socket, sink: list[str]) -> None:
    """Collect datagrams from ``sock`` into ``sink`` until the socket is closed."""
    while True:
        try:
            sink.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        except OSError:  # closed: this start is over
            return


def crash_repeatedly(
    daemon: DaemonProcess,
    rng: random.Random,
    *,
    failpoints: list[str],
    random_kills: int,
    before_each: Callable[[], None],
    max_random_delay: float = 0.8,
    failpoint_timeout: float = 20.0,
) -> list[str]:
    """Crash ``daemon`` once at each failpoint, then ``random_kills`` times at seeded random
    moments, calling ``before_each`` (e.g. to drop more files) before every start.

    Returns the failpoints that fired (a point that was not reached is killed anyway).
    """
    fired = []
    for point in failpoints:
        before_each()
        daemon.start(failpoints=point, wait_ready=False)
        try:
            daemon.wait(failpoint_timeout)
        except subprocess.TimeoutExpired:  # the point was not reached this time
            daemon.kill()
        else:
            fired.append(point)
    for _ in range(random_kills):
        before_each()
        daemon.start()
        time.sleep(rng.uniform(0.0, max_random_delay))
        daemon.kill()
    return fired


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmulatorProcess:
    """``python -m as2sync emulator`` as a child process, driven through its /_admin API."""

    def __init__(self, directory: Path, *args: str, port: int | None = None) -> None:
        self.directory = directory
        self.args = args
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_admin"

    def start(self) -> None:
        import httpx

        self.starts += 1
        log = (self.directory / f"emulator-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "as2sync", "emulator", "--port", str(self.port),
                "--user", USER, "--password", PASSWORD, "--data", str(self.directory / "emu-data"),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"emulator exited with {self.proc.returncode}")
            try:
                httpx.get(f"{self.admin_url}/state", timeout=1)
            except httpx.HTTPError:
                return False
            return True

        wait_until(up, 30, what="emulator up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(method, f"{self.admin_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def seed(self, station: str, partner: str, attachments: list[tuple[str, bytes]]) -> str:
        import base64

        body = {
            "station": station,
            "partner": partner,
            "attachments": [
                {"name": n, "content_base64": base64.b64encode(d).decode()} for n, d in attachments
            ],
        }
        return str(self.admin("POST", "/received", json=body)["message_id"])

    def submissions(self, content: bool = False) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"/submissions?content={str(content).lower()}"))

    def snapshot(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/state"))
