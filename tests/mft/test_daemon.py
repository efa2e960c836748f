"""``as2sync run`` as a real process with ``gateway.api: mftgateway`` against the MFT emulator:
a file put in an outbox is submitted exactly once, and a received message is stored exactly
once and marked read (issue 13, done-when: a user changes gateway.api and url)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.harness import DaemonProcess, wait_until, write_config
from tests.integration.inbound_support import inbox_files
from tests.mft.conftest import PASSWORD, USER, MakeMft


def test_run_sends_once_and_receives_once(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(delivery_delay=0.0)
    message_id = emu.state.seed_received(
        "MYSTATION", "ACME", [("in.edi", b"ISA*incoming~")], persisted_ms=int(time.time() * 1000)
    )
    config = write_config(
        tmp_path,
        emu.base_url,
        gateway={"api": "mftgateway", "username": USER, "password": PASSWORD},
    )
    outbox = tmp_path / "root" / "MYSTATION" / "ACME" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "po.edi").write_bytes(b"ISA*outgoing~")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        wait_until(
            lambda: (
                len(emu.state.submissions()) == 1
                and emu.state.is_read(message_id)
                and not list(outbox.iterdir())
            ),
            timeout=60,
        )
        time.sleep(1.5)  # a few more polls and scans: nothing more may happen
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    (sent,) = emu.state.submissions()
    assert sent.attachments == [("po.edi", b"ISA*outgoing~")]
    files = inbox_files(tmp_path / "root")
    files.pop(".as2sync.lock")
    assert files == {
        "MYSTATION/ACME/inbox/in.edi": b"ISA*incoming~",
        "MYSTATION/ACME/sent/po.edi": b"ISA*outgoing~",
    }
    assert emu.state.duplicate_submissions() == 0
