"""The gateway goes away (SIGKILL of the emulator) and comes back with its persisted state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonProcess, EmulatorProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e


def test_daemon_rides_out_a_gateway_outage_and_recovers_by_itself(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path, "--no-rate-limit", "--delivery-delay", "0.1")
    emulator.start()
    config = write_config(
        tmp_path,
        emulator.base_url,
        health={"max_unreachable_seconds": 2, "max_loop_age_seconds": 60},
    )
    pair = tmp_path / "root" / "MYSTATION" / "ACME"
    (pair / "outbox").mkdir(parents=True)
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        first = emulator.seed("MYSTATION", "ACME", [("before.edi", b"ISA*before~")])
        wait_until(lambda: (pair / "inbox" / "before.edi").exists(), 20, what="first message")

        emulator.kill()  # the gateway is gone, mid-run, without a goodbye
        (pair / "outbox" / "during.edi").write_bytes(b"ISA*during~")

        def unhealthy() -> bool:
            return as2sync("health", "-c", str(config)).returncode == 1

        wait_until(unhealthy, 30, what="health reports the outage")
        status = json.loads(as2sync("status", "--json", "-c", str(config)).stdout)
        assert status["gateway"]["reachable"] is False
        assert daemon.alive()
        assert not (pair / "sent" / "during.edi").exists()
        waiting = [*pair.glob("outbox/during.edi"), *pair.glob(".as2sync/processing/*during.edi")]
        assert len(waiting) == 1  # claimed or not, it waits safely for the gateway

        emulator.start()  # same port, same --data: the gateway remembers everything
        wait_until(lambda: (pair / "sent" / "during.edi").exists(), 90, what="sent after outage")
        second = emulator.seed("MYSTATION", "ACME", [("after.edi", b"ISA*after~")])
        wait_until(lambda: (pair / "inbox" / "after.edi").exists(), 60, what="received after")
        wait_until(lambda: as2sync("health", "-c", str(config)).returncode == 0, 30, what="healthy")

        snapshot = emulator.snapshot()
        read = {m["message_id"]: m["read"] for m in snapshot["received"]}
        assert read[first] and read[second]
        names = [a["name"] for s in emulator.submissions() for a in s["attachments"]]
        assert names.count("during.edi") == 1
        assert daemon.terminate() == 0
    finally:
        daemon.close()
        emulator.kill()
