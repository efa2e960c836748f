"""The outbound ledger: guarded state changes, duplicate evidence, history, retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.errors import LedgerError, LedgerUnavailable
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import Ledger, open_ledger
from as2sync.ledger.outbound import FileState, SubmissionState


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = open_ledger(tmp_path / "state")
    yield led
    led.close()


def plan(ledger: Ledger, name: str = "a.edi", partner: str = "ACME", now: float = 100.0) -> int:
    with ledger.transaction() as s:
        sub = lo.plan_claim(
            s,
            station="ST",
            partner=partner,
            source=Path("/root/ST") / partner / "outbox" / name,
            processing_dir=Path("/root/ST") / partner / ".as2sync/processing",
            now=now,
        )
    return sub.id


def claimed(
    ledger: Ledger, name: str = "a.edi", sha: str = "s1", now: float = 100.0, partner: str = "ACME"
) -> int:
    sid = plan(ledger, name, partner, now)
    with ledger.transaction() as s:
        fid = lo.get(s, sid).files[0].id
        lo.mark_claimed(s, sid, now, {fid: (sha, 10, "application/edi-x12")})
    return sid


def sent(ledger: Ledger, sid: int, message_id: str, now: float = 101.0) -> None:
    with ledger.transaction() as s:
        lo.begin_submit(s, sid, now)
        lo.mark_submitted(s, sid, now, message_id)
        f = lo.get(s, sid).files[0]
        lo.set_target(s, f.id, now, sent=Path("/root/ST/ACME/sent") / f.name)
        lo.file_moved(s, f.id, FileState.SENT, now)
        lo.mark_archived(s, sid, now)


def test_processing_path_carries_the_file_row_id(ledger: Ledger) -> None:
    sid = plan(ledger)
    with ledger.read() as s:
        f = lo.get(s, sid).files[0]
    assert f.processing_path.name == f"{f.id}-a.edi"
    assert f.state == FileState.CLAIMING
    assert f.current_path == f.source_path


def test_processing_name_of_a_very_long_name_fits_name_max(ledger: Ledger) -> None:
    sid = plan(ledger, "é" * 120 + ".edi")
    with ledger.read() as s:
        f = lo.get(s, sid).files[0]
    assert len(f.processing_path.name.encode()) <= 240
    assert f.processing_path.name.endswith(".edi")
    assert f.name == "é" * 120 + ".edi"


def test_state_changes_refuse_the_wrong_starting_state(ledger: Ledger) -> None:
    sid = plan(ledger)
    with (
        pytest.raises(LedgerError, match="is claiming, expected claimed"),
        ledger.transaction() as s,
    ):
        lo.begin_submit(s, sid, 1.0)
    with ledger.read() as s:
        assert lo.get(s, sid).state == SubmissionState.CLAIMING


def test_a_full_life_is_recorded_and_counted(ledger: Ledger) -> None:
    sid = claimed(ledger)
    sent(ledger, sid, "<m1@gw>")
    with ledger.transaction() as s:
        lo.mark_delivered(s, sid, 102.0, delivery_status="Delivered", mdn_status="Received")
    with ledger.read() as s:
        sub = lo.get(s, sid)
        assert (sub.state, sub.message_id, sub.attempts) == (
            SubmissionState.DELIVERED,
            "<m1@gw>",
            1,
        )
        assert sub.files[0].current_path == Path("/root/ST/ACME/sent/a.edi")
        assert lo.counts_by_state(s) == {("ST", "ACME"): {"delivered": 1}}
        [row] = lo.recent(s)
        assert (row.file, row.message_id, row.delivery_status, row.mdn_status) == (
            "a.edi",
            "<m1@gw>",
            "Delivered",
            "Received",
        )


def test_a_changed_file_is_given_back_and_the_row_ends_returned(ledger: Ledger) -> None:
    sid = claimed(ledger)
    with ledger.transaction() as s:
        lo.mark_returning(s, sid, 101.0, "grew after the claim")
        f = lo.get(s, sid).files[0]
        assert f.state == FileState.RETURNING
        assert f.current_path == f.processing_path
        with pytest.raises(LedgerError, match="still has files to return"):
            lo.mark_returned(s, sid, 101.0)
    with ledger.transaction() as s:
        lo.set_return_target(s, f.id, Path("/root/ST/ACME/outbox/a (2).edi"), 102.0)
        lo.file_returned(s, f.id, 102.0)
        lo.mark_returned(s, sid, 102.0)
    with ledger.read() as s:
        sub = lo.get(s, sid)
        assert (sub.state, sub.error, sub.finished_at) == (
            SubmissionState.RETURNED,
            "grew after the claim",
            102.0,
        )
        assert sub.files[0].source_path == Path("/root/ST/ACME/outbox/a (2).edi")
        assert sub.files[0].current_path is None  # the user's again, not as2sync's
        assert lo.count_in_states(s, lo.UNFINISHED_STATES) == 0
        # Not sent: its content is no evidence for the duplicate window.
        assert lo.find_duplicate(s, "ST", "ACME", "s1", since=0, exclude_file=0) is None


def test_a_sent_file_that_changed_afterwards_is_given_back_and_the_row_archived(
    ledger: Ledger,
) -> None:
    sid = claimed(ledger)
    with ledger.transaction() as s:
        lo.begin_submit(s, sid, 101.0)
        lo.mark_submitted(s, sid, 101.0, "<m1@gw>")
        f = lo.get(s, sid).files[0]
        lo.files_returning(s, sid, [f.id], 101.0)
        lo.file_returned(s, f.id, 101.0)
        lo.mark_archived(s, sid, 101.0)
    with ledger.read() as s:
        sub = lo.get(s, sid)
    assert (sub.state, sub.message_id, sub.files[0].state) == (
        SubmissionState.ARCHIVED,
        "<m1@gw>",
        FileState.RETURNED,
    )


def test_transient_error_returns_the_row_to_claimed_with_a_due_time(ledger: Ledger) -> None:
    sid = claimed(ledger)
    with ledger.transaction() as s:
        lo.begin_submit(s, sid, 1.0)
        lo.retry_later(s, sid, 1.0, 5.0, "connection refused")
    with ledger.read() as s:
        assert lo.in_states(s, [SubmissionState.CLAIMED], due_before=4.9) == []
        [due] = lo.in_states(s, [SubmissionState.CLAIMED], due_before=5.0)
        assert due.error == "connection refused"
        assert lo.next_due(s, [SubmissionState.CLAIMED]) == 5.0


def test_duplicate_found_within_the_window_only(ledger: Ledger) -> None:
    first = claimed(ledger, "a.edi", sha="same", now=100.0)
    sent(ledger, first, "<m1@gw>", now=100.0)
    second = claimed(ledger, "b.edi", sha="same", now=200.0)
    with ledger.read() as s:
        fid = lo.get(s, second).files[0].id
        dup = lo.find_duplicate(s, "ST", "ACME", "same", since=150.0, exclude_file=fid)
        assert dup is None
        dup = lo.find_duplicate(s, "ST", "ACME", "same", since=50.0, exclude_file=fid)
        assert dup is not None and dup.message_id == "<m1@gw>"
        assert lo.find_duplicate(s, "ST", "OTHER", "same", since=0, exclude_file=fid) is None


def test_a_failed_original_is_no_duplicate_evidence(ledger: Ledger) -> None:
    first = claimed(ledger, sha="same")
    with ledger.transaction() as s:
        lo.mark_rejecting(s, first, 100.0, "refused", http_status=404)
    with ledger.read() as s:
        assert lo.find_duplicate(s, "ST", "ACME", "same", since=0, exclude_file=-1) is None


def test_allow_resend_is_consumed_once(ledger: Ledger) -> None:
    sid = claimed(ledger, sha="same")
    with ledger.transaction() as s:
        lo.mark_rejecting(s, sid, 100.0, "duplicate of <m0@gw>")
        f = lo.get(s, sid).files[0]
        lo.set_target(s, f.id, 100.0, failed=Path("/root/ST/ACME/failed/a.edi"))
        lo.file_moved(s, f.id, FileState.FAILED, 100.0)
        lo.mark_failed(s, sid, 100.0)
    with ledger.transaction() as s:
        assert lo.allow_resend(s, "/root/ST/ACME/failed/a.edi", 200.0) is True
        assert lo.allow_resend(s, "/root/ST/ACME/failed/unknown.edi", 200.0) is False
    with ledger.transaction() as s:
        assert lo.use_resend_allowance(s, "ST", "ACME", "same") is True
    with ledger.transaction() as s:
        assert lo.use_resend_allowance(s, "ST", "ACME", "same") is False


def test_merge_moves_files_into_one_submission(ledger: Ledger) -> None:
    a, b, c = claimed(ledger, "a.edi"), claimed(ledger, "b.edi"), claimed(ledger, "c.edi")
    with ledger.transaction() as s:
        lo.merge_into(s, a, [b, c], 1.0)
    with ledger.read() as s:
        assert [f.name for f in lo.get(s, a).files] == ["a.edi", "b.edi", "c.edi"]
        assert len(lo.in_states(s, [SubmissionState.CLAIMED])) == 1
        assert lo.waiting_files(s) == (3, 100.0)


def test_merge_refuses_other_partnerships(ledger: Ledger) -> None:
    a, b = claimed(ledger, "a.edi"), claimed(ledger, "b.edi", partner="OTHER")
    with pytest.raises(LedgerError), ledger.transaction() as s:
        lo.merge_into(s, a, [b], 1.0)
    with ledger.read() as s:
        assert len(lo.in_states(s, [SubmissionState.CLAIMED])) == 2


def test_discarded_claim_leaves_no_trace(ledger: Ledger) -> None:
    sid = plan(ledger)
    with ledger.transaction() as s:
        lo.discard_claim(s, sid)
    with ledger.read() as s:
        assert lo.counts_by_state(s) == {}


def test_prune_keeps_unfinished_rows_and_the_duplicate_window(ledger: Ledger) -> None:
    old_done = claimed(ledger, "old.edi", now=10.0)
    sent(ledger, old_done, "<old@gw>", now=10.0)
    recent_done = claimed(ledger, "recent.edi", now=500.0)
    sent(ledger, recent_done, "<recent@gw>", now=500.0)
    stuck = claimed(ledger, "stuck.edi", now=5.0)
    with ledger.transaction() as s:
        lo.begin_submit(s, stuck, 5.0)
        lo.mark_in_doubt(s, stuck, 5.0, "timeout")
    with ledger.transaction() as s:
        assert lo.prune(s, 1000.0, keep_since=400.0) == 1
    with ledger.read() as s:
        left = {r.file for r in lo.recent(s)}
    assert left == {"recent.edi", "stuck.edi"}


def test_recent_failures_carry_their_reason(ledger: Ledger) -> None:
    sid = claimed(ledger)
    with ledger.transaction() as s:
        lo.begin_submit(s, sid, 1.0)
        lo.mark_rejecting(
            s, sid, 2.0, "the gateway refused the message (HTTP 404)", http_status=404
        )
    with ledger.read() as s:
        [row] = lo.recent_failures(s)
    assert row.state == "rejecting"
    assert row.error is not None and "404" in row.error


def test_a_full_ledger_disk_is_a_clear_error_and_the_transaction_leaves_nothing(
    ledger: Ledger,
) -> None:
    # SQLite's own size cap fails a write with SQLITE_FULL, exactly as a full disk does.
    with ledger.transaction() as s:
        s.connection().exec_driver_sql("PRAGMA max_page_count = 1")  # smaller than it is
    with ledger.read() as s:
        before = len(lo.in_states(s, list(SubmissionState)))
    with pytest.raises(LedgerUnavailable) as caught:  # an operator's problem, not a bug
        for i in range(200):
            plan(ledger, name=f"f{i}.edi" + "x" * 150)
    assert "the disk is full; free space and as2sync resumes by itself" in str(caught.value)
    assert "database or disk is full" in str(caught.value)  # SQLite's words, for searching
    with ledger.read() as s:
        # Whatever committed before is intact; the failing transaction left no half row.
        rows = lo.in_states(s, list(SubmissionState))
    assert len(rows) >= before
    assert all(r.files for r in rows)


def test_a_refreshed_view_is_what_a_fresh_read_returns_after_a_change_of_the_row_alone(
    ledger: Ledger,
) -> None:
    first, second = claimed(ledger, "a.edi", "s1"), claimed(ledger, "b.edi", "s2")
    with ledger.transaction() as s:
        lo.merge_into(s, first, [second], 100.5)
    with ledger.read() as s:
        sub = lo.get(s, first)
    with ledger.transaction() as s:
        lo.begin_submit(s, first, 101.0)
        sub = lo.refreshed(s, sub)
        assert sub == lo.get(s, first)
    with ledger.transaction() as s:
        lo.retry_later(s, first, 102.0, 110.0, "busy", http_status=503)
        sub = lo.refreshed(s, sub)
        assert sub == lo.get(s, first)
    assert (sub.state, sub.attempts, sub.next_attempt_at) == (SubmissionState.CLAIMED, 1, 110.0)
    with ledger.transaction() as s:
        lo.begin_submit(s, first, 111.0)
        lo.mark_in_doubt(s, first, 111.5, "reset", look_at=115.0, remote={"seen": 1})
        sub = lo.refreshed(s, sub)
        assert sub == lo.get(s, first)
    assert sub.remote == {"seen": 1} and len(sub.files) == 2
