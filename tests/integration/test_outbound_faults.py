"""Outbound under faults: 5xx and dropped connections around the send, rate limiting, the
in-doubt policy, delivery failures, and restarts in every state a crash can leave behind.

Exactly-once is checked on the emulator's side: ``duplicate_submissions()`` counts messages
whose attachments equal an earlier one's, which an exactly-once client must never cause.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.backends.as2gateway.model import OutboundFile, PartnerType
from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import Faults
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, SubmissionState
from as2sync.outbound import claim
from tests.conftest import EMULATOR_DEFAULTS
from tests.integration.outbound_support import STATION, Rig

X12 = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~"
SEND_ONLY = ("send",)


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator)
    yield r
    r.close()


def archived(rig: Rig, count: int = 1) -> bool:
    return len(rig.names("sent")) >= count


def test_5xx_before_the_action_is_reconciled_then_sent_exactly_once(rig: Rig) -> None:
    rig.emu.state.set_faults(Faults(error_before=1.0, endpoints=SEND_ONLY))
    rig.start()
    rig.drop("a.edi", X12)
    with capture_logs() as logs:
        rig.run_until(lambda: rig.states() == ["in_doubt"])
    assert any(e["event"] == "outbound.in_doubt" for e in logs)
    failed_attempts = rig.rows()[0].attempts
    rig.emu.state.set_faults(Faults())
    with capture_logs() as logs:
        rig.run_until(lambda: archived(rig))
    assert any(e["event"] == "outbound.resubmit" for e in logs)
    [sub] = rig.submissions()
    [row] = rig.rows()
    assert row.message_id == sub.message_id
    assert row.attempts == failed_attempts + 1  # resent once, after reconciling found nothing
    assert rig.emu.state.duplicate_submissions() == 0


def test_5xx_after_the_action_is_reconciled_without_sending_again(rig: Rig) -> None:
    rig.emu.state.set_faults(Faults(error_after=1.0, endpoints=SEND_ONLY))
    rig.start()
    rig.drop("a.edi", X12)
    with capture_logs() as logs:
        rig.run_until(lambda: archived(rig))
    [sub] = rig.submissions()
    [row] = rig.rows()
    assert row.message_id == sub.message_id
    assert row.attempts == 1
    assert [e["message_id"] for e in logs if e["event"] == "outbound.reconciled"] == [
        sub.message_id
    ]
    rig.run_for(0.3)
    assert len(rig.submissions()) == 1


def test_connection_dropped_after_sending_is_reconciled_not_duplicated(rig: Rig) -> None:
    rig.emu.state.set_faults(Faults(drop_after=1.0, endpoints=SEND_ONLY))
    rig.start()
    for i in range(3):
        rig.drop(f"f{i}.edi", X12 + b"%d" % i)
    rig.run_until(lambda: archived(rig, 3))
    assert len(rig.submissions()) == 3
    assert rig.emu.state.duplicate_submissions() == 0
    assert {r.message_id for r in rig.rows()} == {s.message_id for s in rig.submissions()}


def test_connection_dropped_before_the_action_is_sent_once_after_the_grace_period(
    rig: Rig,
) -> None:
    rig.emu.state.set_faults(Faults(drop=1.0, endpoints=SEND_ONLY))
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: rig.states() == ["in_doubt"])
    rig.emu.state.set_faults(Faults())
    rig.run_until(lambda: archived(rig))
    assert len(rig.submissions()) == 1


def test_random_faults_on_many_files_never_duplicate_or_lose(
    tmp_path: Path, make_emulator: object
) -> None:
    emu = make_emulator(  # type: ignore[operator]
        faults=Faults(error_before=0.2, error_after=0.2, drop=0.1, drop_after=0.2, seed=7)
    )
    rig = Rig(tmp_path, emu, {"max_in_flight": 4}).start()
    try:
        for i in range(20):
            rig.drop(f"f{i:02}.edi", X12 + b"%02d" % i)
        rig.run_until(lambda: archived(rig, 20), timeout=40)
        assert rig.names("sent") == [f"f{i:02}.edi" for i in range(20)]
        assert len(rig.submissions()) == 20
        assert rig.emu.state.duplicate_submissions() == 0
    finally:
        rig.close()


def test_rate_limited_send_is_retried_after_back_off(rig: Rig) -> None:
    rig.emu.state.set_faults(Faults(rate_limit_burst=1.0, endpoints=SEND_ONLY))
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: bool(rig.rows()) and rig.rows()[0].error is not None)
    [row] = rig.rows()
    assert row.state == SubmissionState.CLAIMED
    assert row.next_attempt_at is not None and row.next_attempt_at > rig.clock()
    assert row.files[0].processing_path.exists()  # waits in processing
    rig.emu.state.set_faults(Faults())
    rig.offset += 3600  # skip the back-off
    rig.run_until(lambda: archived(rig))
    assert len(rig.submissions()) == 1


def test_gateway_down_pauses_sending_and_leaves_files_in_the_outbox(tmp_path: Path) -> None:
    with running_emulator(EMULATOR_DEFAULTS) as first:
        port = first.port
        rig = Rig(tmp_path, first)
    try:  # the gateway is down from here on: connections are refused
        rig.start()
        for i in range(10):
            rig.drop(f"f{i}.edi", X12 + b"%d" % i)
        with capture_logs() as logs:
            rig.run_for(1.0)
        # One batch of max_in_flight (2) tried and parked; nothing more claimed or tried.
        assert len(rig.rows()) == 2
        assert all(r.state == SubmissionState.CLAIMED for r in rig.rows())
        assert len(rig.names("outbox")) == 8
        assert [e["event"] for e in logs].count("outbound.paused") == 1
        with running_emulator(replace(EMULATOR_DEFAULTS, port=port)) as back:
            rig.emu = back
            rig.offset += 3600  # past the pause
            with capture_logs() as logs:
                rig.run_until(lambda: archived(rig, 10))
            assert len(back.state.submissions()) == 10
            assert any(e["event"] == "outbound.resumed" for e in logs)
    finally:
        rig.close()


def test_in_doubt_hold_moves_the_file_to_failed_saying_it_may_have_been_sent(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"in_doubt": "hold"}).start()
    try:
        rig.emu.state.set_faults(Faults(error_after=1.0, endpoints=SEND_ONLY))
        rig.drop("a.edi", X12)
        rig.run_until(lambda: "a.edi" in rig.names("failed"))
        sidecar = json.loads((rig.dirs().failed / "a.edi.error.json").read_text())
        assert "may have accepted it" in sidecar["reason"]
        assert len(rig.submissions()) == 1
        rig.run_for(0.3)
        assert len(rig.submissions()) == 1
    finally:
        rig.close()


def test_delivery_failure_moves_the_archived_file_to_failed(rig: Rig) -> None:
    rig.dirs("DOWN")
    rig.restart()
    rig.drop("a.edi", X12, partner="DOWN")
    with capture_logs() as logs:
        rig.run_until(lambda: "a.edi" in rig.names("failed", "DOWN"))
    assert rig.names("sent", "DOWN") == []
    sidecar = json.loads((rig.dirs("DOWN").failed / "a.edi.error.json").read_text())
    assert "could not deliver" in sidecar["reason"]
    assert sidecar["message_id"] == rig.submissions()[0].message_id
    assert rig.states() == ["delivery_failed"]
    assert any(e["event"] == "outbound.delivery_failed" for e in logs)
    assert len(rig.submissions()) == 1
    with rig.ledger.read() as s:
        [failure] = lo.recent_failures(s)
    assert failure.state == "delivery_failed"


# -- restarts: the states a SIGKILL can leave, rebuilt by driving the real steps ------------


def test_restart_with_a_claim_planned_but_not_renamed_sends_it_once(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    claim.plan(rig.engine.ctx, STATION, "ACME", source)  # killed right after the commit
    rig.restart()
    rig.run_until(lambda: archived(rig))
    assert len(rig.submissions()) == 1
    assert len(rig.rows()) == 1


def test_restart_with_a_claim_renamed_but_not_hashed_sends_it_once(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    sub = claim.plan(rig.engine.ctx, STATION, "ACME", source)
    assert claim.move_into_processing(rig.engine.ctx, sub)  # killed after the move
    rig.restart()
    rig.run_until(lambda: archived(rig))
    assert [s.attachments for s in rig.submissions()] == [[("a.edi", X12)]]
    assert len(rig.rows()) == 1


def test_restart_with_a_claimed_file_removed_by_the_user_abandons_it(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    claim.plan(rig.engine.ctx, STATION, "ACME", source)
    source.unlink()
    rig.restart()
    rig.run_for(0.3)
    assert rig.states() == ["abandoned"]
    assert rig.submissions() == []


def test_restart_after_the_gateway_accepted_but_before_the_commit_reconciles(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    ctx = rig.engine.ctx
    sub = claim.claim(ctx, STATION, "ACME", source)
    assert sub is not None
    with rig.ledger.transaction() as s:
        lo.begin_submit(s, sub.id, rig.clock())
    f = sub.files[0]
    message_id = rig.gateway.submit(
        STATION,
        "ACME",
        [OutboundFile(f.processing_path, f.name, "application/edi-x12", f.size or 0)],
        partner_type=PartnerType.PRODUCTION,
    )  # ... and killed before mark_submitted
    rig.restart()
    rig.run_until(lambda: archived(rig))
    assert [r.message_id for r in rig.rows()] == [message_id]
    assert len(rig.submissions()) == 1


def test_restart_with_an_archive_link_made_but_not_unlinked_finishes_the_move(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    ctx = rig.engine.ctx
    sub = claim.claim(ctx, STATION, "ACME", source)
    assert sub is not None
    f = sub.files[0]
    target = rig.dirs().sent / "a.edi"
    target.parent.mkdir(parents=True, exist_ok=True)
    with rig.ledger.transaction() as s:
        lo.begin_submit(s, sub.id, rig.clock())
        lo.mark_submitted(s, sub.id, rig.clock(), "<accepted@gw>")
        lo.set_target(s, f.id, rig.clock(), sent=target)
    os.link(f.processing_path, target)  # killed between link and unlink
    rig.restart()
    rig.run_for(0.2)
    [row] = rig.rows()
    assert row.state in (SubmissionState.ARCHIVED, SubmissionState.DELIVERED)
    assert row.files[0].state == FileState.SENT
    assert rig.names("sent") == ["a.edi"]
    assert not f.processing_path.exists()
    assert rig.submissions() == []  # the gateway was never asked again


def test_restart_with_a_rejection_half_done_finishes_it_with_its_sidecar(rig: Rig) -> None:
    source = rig.drop("a.edi", X12)
    ctx = rig.engine.ctx
    sub = claim.claim(ctx, STATION, "ACME", source)
    assert sub is not None
    with rig.ledger.transaction() as s:
        lo.begin_submit(s, sub.id, rig.clock())
        lo.mark_rejecting(s, sub.id, rig.clock(), "refused for the test", http_status=400)
    rig.restart()
    rig.run_for(0.2)
    assert rig.names("failed") == ["a.edi", "a.edi.error.json"]
    sidecar = json.loads((rig.dirs().failed / "a.edi.error.json").read_text())
    assert (sidecar["reason"], sidecar["http_status"]) == ("refused for the test", 400)
    assert rig.states() == ["failed"]
