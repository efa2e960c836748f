"""``as2sync demo`` (``make demo``): the emulator and the daemon on demo folders, in one command.

The emulator runs as a child process (its own server loop, as users would run it); the daemon
runs in this process with readable console logs. Ctrl-C stops both: the daemon shuts down
cleanly first, then the emulator gets SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from as2sync import log as logsetup
from as2sync.config import load_config

STATION, PARTNER, ECHO = "MYSTATION", "ACME", "LOOP"
USER, PASSWORD = "demo@example.com", "demo-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{url}/authorize", json={"username": USER, "password": PASSWORD}, timeout=1)
            return
        time.sleep(0.2)
    raise RuntimeError("the emulator did not start within 30 s")


def write_demo_config(base: Path, url: str, api: str = "as2gateway") -> Path:
    for partner in (PARTNER, ECHO):
        for sub in ("outbox", "inbox", "sent", "failed"):
            (base / STATION / partner / sub).mkdir(parents=True, exist_ok=True)
    config = {
        "gateway": {
            **({} if api == "as2gateway" else {"api": api}),
            "url": url,
            "username": USER,
            "password": PASSWORD,
        },
        "state_dir": ".state",
        "folders": {"root": "."},
        "outbound": {"settle_seconds": 1, "scan_seconds": 10, "track_seconds": 5},
        "inbound": {"poll_seconds": 3},
        "log": {"level": "info", "format": "console"},
    }
    path = base / "config.yaml"
    path.write_text(
        "# Written by `as2sync demo`: the daemon's config for the local emulator.\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return path


def run_demo(base: Path, port: int, api: str = "as2gateway") -> None:
    """``api``: which emulator and backend (``as2gateway`` or ``mftgateway``)."""
    from as2sync.daemon.service import Daemon

    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    url = f"http://127.0.0.1:{port}" + ("/v1" if api == "as2gateway" else "")
    emulator = subprocess.Popen(
        [
            sys.executable, "-m", "as2sync", "emulator", "--api", api,
            "--host", "127.0.0.1", "--port", str(port),
            "--user", USER, "--password", PASSWORD,
            "--station", STATION, "--partner", PARTNER, "--partner", f"{ECHO}:echo",
            "--echo-delay", "3", "--delivery-delay", "2",
            "--data", str(base / ".emulator"), "--seed-messages", "3",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(url, emulator)
        config_path = write_demo_config(base, url, api)
        config = load_config(config_path)
        logsetup.configure(config.log.level, config.log.format.value)
        outbox = base / STATION / ECHO / "outbox"
        print(
            f"""
as2sync demo is running.
  emulator:  {url}  (user {USER}, password {PASSWORD})
  folders:   {base}
  config:    {config_path}

Try it:
  1. Drop a file into {outbox}/
     e.g.  echo 'hello AS2' > {outbox}/hello.txt
  2. Watch it move to {base / STATION / ECHO / "sent"}/ once the gateway accepts it,
     and come back into {base / STATION / ECHO / "inbox"}/ a few seconds later:
     partner {ECHO} is an echo partner of the emulator.
  3. {base / STATION / PARTNER / "inbox"}/ already holds messages the emulator seeded.
  In another terminal:  .venv/bin/as2sync status -c {config_path}

Press Ctrl-C to stop.
""",
            flush=True,
        )
        daemon = Daemon(config, config_path)
        daemon.install_signal_handlers()
        daemon.open()
        try:
            daemon.run_forever()
        finally:
            daemon.close()
    finally:
        if emulator.poll() is None:
            emulator.send_signal(signal.SIGTERM)
            try:
                emulator.wait(10)
            except subprocess.TimeoutExpired:
                emulator.kill()
        print("demo stopped.", file=sys.stderr)
