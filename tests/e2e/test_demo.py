"""`as2sync demo` (what `make demo` runs) and `as2sync demo --api mftgateway`: a full round trip
through the echo partner, and Ctrl-C stops everything."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("api", [(), ("--api", "mftgateway")], ids=["as2gateway", "mftgateway"])
def test_demo_round_trip_through_the_echo_partner_and_clean_ctrl_c(
    tmp_path: Path, api: tuple[str, ...]
) -> None:
    demo = tmp_path / "demo"
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "as2sync", "demo", "--dir", str(demo), "--port", str(port), *api],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        outbox = demo / "MYSTATION" / "LOOP" / "outbox"
        wait_until(lambda: "Press Ctrl-C" in (tmp_path / "demo.log").read_text(), 60, what="banner")
        # The seeded messages fill an inbox at once.
        wait_until(lambda: any(demo.glob("MYSTATION/*/inbox/PO-*.edi")), 30, what="seeded")
        (outbox / "hello.txt").write_text("hello AS2\n")
        wait_until(lambda: (outbox.parent / "sent" / "hello.txt").exists(), 30, what="sent")
        wait_until(lambda: (outbox.parent / "inbox" / "hello.txt").exists(), 30, what="echoed")
        assert (outbox.parent / "inbox" / "hello.txt").read_text() == "hello AS2\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        # Both processes are gone: the emulator's port is free again.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
