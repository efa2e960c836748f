"""Sends in doubt: found early when they arrived, resent only when they cannot still be on their
way (the partner's sendTimeout), and a reconcile pass stops at once on shutdown.

The rig's clock is real time plus an offset, so waiting seconds or minutes is one addition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync import failpoints
from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from as2sync.outbound import decide, reconcile
from tests.conftest import MakeEmulator
from tests.integration.outbound_support import Rig

X12 = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~"
SEND_ONLY = ("send",)


def archived(rig: Rig) -> bool:
    return rig.names("sent") == ["a.edi"]


def requests(rig: Rig, path_part: str) -> int:
    return sum(1 for method, path, _ in rig.emu.state.request_log() if path_part in path)


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator, {"reconcile_grace_seconds": 120})
    yield r
    r.close()


def test_a_send_in_doubt_that_arrived_is_settled_at_the_first_look_seconds_later(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    # As the spec warns (4.5.1), the message is listed as sent only seconds after the send.
    rig = Rig(tmp_path, make_emulator(delivery_delay=1.0), {"reconcile_grace_seconds": 120})
    try:
        rig.emu.state.set_faults(Faults(error_after=1.0, endpoints=SEND_ONLY))
        rig.start()
        rig.drop("a.edi", X12)
        rig.run_until(lambda: rig.states() == ["in_doubt"])
        rig.emu.state.set_faults(Faults())
        [row] = rig.rows()
        assert row.submit_started_at is not None and row.next_attempt_at is not None
        # The first look is due about 5 s after the submit, not after the 120 s grace.
        assert row.next_attempt_at - row.submit_started_at <= decide.FIRST_LOOK_SECONDS + 0.5
        deadline = time.monotonic() + 10
        while rig.submissions()[0].status != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
        rig.emu.state.clear_request_log()
        rig.offset += decide.FIRST_LOOK_SECONDS + 0.5
        rig.run_until(lambda: archived(rig), timeout=5)
        [row] = rig.rows()
        [sub] = rig.submissions()
        assert row.message_id == sub.message_id
        # One look (three lists and one download), and nobody asked how slow the partner
        # is: the grace cannot have run out yet.
        assert requests(rig, "/attachments") == 1
        assert requests(rig, "/partner") == 0
    finally:
        rig.close()


def test_a_slow_partners_send_is_not_resent_while_it_may_still_be_on_its_way(
    tmp_path: Path, make_emulator: MakeEmulator
) -> None:
    emu = make_emulator(send_timeout=300)
    rig = Rig(tmp_path, emu, {"reconcile_grace_seconds": 1})
    try:
        emu.state.set_faults(Faults(error_before=1.0, endpoints=SEND_ONLY))
        rig.start()
        rig.drop("a.edi", X12)
        rig.run_until(lambda: rig.states() == ["in_doubt"])
        emu.state.set_faults(Faults())
        # Past the configured 1 s and the partner's 300 s, within 300 s x 1.5.
        rig.offset += 400
        rig.run_for(0.5)
        assert rig.states() == ["in_doubt"]
        assert rig.submissions() == []
        rig.offset += 60
        rig.run_until(lambda: archived(rig))
        assert len(rig.submissions()) == 1
        assert requests(rig, "/partner") == 1  # asked once, then kept
    finally:
        rig.close()


def test_a_reconcile_pass_makes_no_request_once_stop_is_set(rig: Rig) -> None:
    rig.emu.state.set_faults(Faults(error_before=1.0, endpoints=SEND_ONLY))
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: rig.states() == ["in_doubt"])
    rig.emu.state.clear_request_log()
    stop = threading.Event()
    stop.set()
    assert reconcile.reconcile(rig.engine.ctx, rig.rows(), stop) == 0
    assert rig.emu.state.request_log() == []


def test_a_value_error_once_the_upload_began_is_in_doubt_never_refused(rig: Rig) -> None:
    """Only the client's InvalidRequest, raised before any byte is sent, refuses a message. Any
    other exception once the request may have left (here a ValueError as the body begins to
    stream) leaves it in doubt: looked up on the gateway, never put in failed/, from where
    ``as2sync retry`` would send it a second time."""

    def bug(_name: str) -> None:
        raise ValueError("a bug while the body streams")

    failpoints.arm("outbound.during_upload", bug)
    try:
        rig.start()
        rig.drop("a.edi", X12)
        rig.run_until(lambda: rig.states() in (["in_doubt"], ["failed"]))
    finally:
        failpoints.arm("")
    assert rig.states() == ["in_doubt"]
    assert rig.names("failed") == []
