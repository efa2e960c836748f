"""The outbound decisions, tested as properties over generated inputs where they have them."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from as2sync.errors import (
    AuthError,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.gateway.base import Attachment, Folder, Mdn, MessageInfo
from as2sync.ledger.outbound import Duplicate, SubmissionState
from as2sync.outbound import decide
from as2sync.outbound.decide import (
    ClaimStep,
    Listed,
    ReconcileKind,
    Recovery,
    SubmitOutcome,
    TrackKind,
    Unit,
)

STATION, PARTNER = "MYSTATION", "ACME"
MB = 1024 * 1024

# -- claim ------------------------------------------------------------------------------------


def test_too_big_is_refused_before_the_duplicate_check() -> None:
    dup = Duplicate(1, "<id@gw>", "a.edi", 0.0)
    verdict = decide.claim_verdict(10 * MB + 1, 10 * MB, dup)
    assert not verdict.accepted
    assert "larger than" in (verdict.reason or "")


def test_a_file_of_exactly_the_limit_is_accepted() -> None:
    assert decide.claim_verdict(10 * MB, 10 * MB, None).accepted


def test_duplicate_reason_names_the_original_message_id() -> None:
    verdict = decide.claim_verdict(5, 10 * MB, Duplicate(1, "<id@gw>", "a.edi", 0.0))
    assert verdict.reason == "duplicate of <id@gw>"


def test_duplicate_of_a_message_still_being_sent_names_its_file() -> None:
    verdict = decide.claim_verdict(5, 10 * MB, Duplicate(1, None, "a.edi", 0.0))
    assert verdict.reason is not None and "'a.edi'" in verdict.reason


@given(source=st.booleans(), processing=st.booleans())
def test_claim_recovery_prefers_the_processing_copy(source: bool, processing: bool) -> None:
    step = decide.claim_step(source_exists=source, processing_exists=processing)
    if processing:
        assert step == ClaimStep.HASH
    elif source:
        assert step == ClaimStep.RENAME
    else:
        assert step == ClaimStep.ABANDON


def test_recovery_never_resends_a_submission_that_was_in_progress() -> None:
    assert decide.recovery_for(SubmissionState.SUBMITTING) == Recovery.IN_DOUBT
    assert decide.recovery_for(SubmissionState.SUBMITTED) == Recovery.ARCHIVE
    assert decide.recovery_for(SubmissionState.CLAIMING) == Recovery.CLAIM
    assert decide.recovery_for(SubmissionState.REJECTING) == Recovery.MOVE_TO_FAILED
    assert decide.recovery_for(SubmissionState.DELIVERY_FAILING) == Recovery.MOVE_TO_FAILED
    for state in (
        SubmissionState.CLAIMED,
        SubmissionState.IN_DOUBT,
        SubmissionState.ARCHIVED,
        SubmissionState.FAILED,
        SubmissionState.DELIVERED,
    ):
        assert decide.recovery_for(state) == Recovery.NOTHING


# -- submit errors ----------------------------------------------------------------------------


def test_submit_errors_are_classified_by_what_may_have_happened() -> None:
    cases = {
        TransientError("connect refused"): SubmitOutcome.RETRY,
        RateLimited("429", retry_after=3): SubmitOutcome.RETRY,
        StorageError("cannot read"): SubmitOutcome.RETRY,
        AuthError("bad password", status=401): SubmitOutcome.RETRY,
        PermanentError("413", status=413): SubmitOutcome.REJECT,
        NotFound("unknown partner", status=404): SubmitOutcome.REJECT,
        ValueError("too many files"): SubmitOutcome.REJECT,
        UnknownOutcome("5xx", status=502): SubmitOutcome.IN_DOUBT,
        ProtocolError("no Link header"): SubmitOutcome.IN_DOUBT,
        RuntimeError("a bug after the request"): SubmitOutcome.IN_DOUBT,
    }
    for exc, expected in cases.items():
        assert decide.classify_submit_error(exc) == expected, exc


@given(attempts=st.integers(min_value=0, max_value=10_000))
def test_retry_delay_grows_and_is_capped(attempts: int) -> None:
    delay = decide.retry_delay(attempts)
    assert decide.RETRY_BASE_SECONDS <= delay <= decide.RETRY_MAX_SECONDS
    assert decide.retry_delay(attempts + 1) >= delay


@given(
    attempts=st.integers(min_value=1, max_value=50),
    retry_after=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_retry_after_is_honoured_up_to_the_cap(attempts: int, retry_after: float) -> None:
    delay = decide.retry_delay(attempts, retry_after)
    assert delay >= min(retry_after, decide.RETRY_MAX_SECONDS)
    assert delay <= decide.RETRY_MAX_SECONDS


# -- bundling ---------------------------------------------------------------------------------

units_strategy = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),  # partner
        st.sampled_from(["x.edi", "y.edi", "z.edi", "w.edi"]),  # name
        st.integers(min_value=0, max_value=4 * MB),  # size
        st.integers(min_value=1, max_value=3),  # files in the unit
    ),
    max_size=40,
)


def _units(raw: list[tuple[str, str, int, int]]) -> list[Unit]:
    return [
        Unit(
            i,
            STATION,
            partner,
            "production",
            None,
            (name,) if n == 1 else tuple(f"{i}-{k}-{name}" for k in range(n)),
            size,
        )
        for i, (partner, name, size, n) in enumerate(raw)
    ]


@settings(max_examples=300)
@given(raw=units_strategy, max_files=st.integers(min_value=1, max_value=10))
def test_bundles_respect_every_limit_and_lose_nothing(
    raw: list[tuple[str, str, int, int]], max_files: int
) -> None:
    units = _units(raw)
    groups = decide.plan_bundles(units, max_files, 10 * MB)
    flat = [u.id for g in groups for u in g]
    assert sorted(flat) == [u.id for u in units]  # each unit exactly once
    for group in groups:
        assert len({u.key for u in group}) == 1  # one partnership per message
        ids = [u.id for u in group]
        assert ids == sorted(ids)  # oldest first within a message
        if len(group) > 1:
            names = [n for u in group for n in u.names]
            assert len(names) == len(set(names))  # multipart needs unique names
            assert len(names) <= max_files
            assert sum(u.size for u in group) <= 10 * MB
            assert all(len(u.names) == 1 for u in group)  # retried bundles stay whole
    firsts = [g[0].id for g in groups]
    assert firsts == sorted(firsts)  # messages in order of their oldest file


def test_bundling_off_sends_every_file_alone() -> None:
    units = _units([("A", "x.edi", 1, 1), ("A", "y.edi", 1, 1)])
    assert [len(g) for g in decide.plan_bundles(units, 1, 10 * MB)] == [1, 1]


def test_files_arriving_together_for_one_partner_form_one_message() -> None:
    units = _units([("A", f"{n}.edi", 100, 1) for n in "abcdefghijkl"])
    groups = decide.plan_bundles(units, 10, 10 * MB)
    assert [len(g) for g in groups] == [10, 2]


# -- reconciliation ---------------------------------------------------------------------------

NOW = 1_700_000_000.0


def _info(
    mid: str,
    persisted: float,
    attachments: tuple[Attachment, ...],
    sender: str = STATION,
    receiver: str = PARTNER,
) -> MessageInfo:
    return MessageInfo(mid, int(persisted * 1000), sender, receiver, attachments)


def _decide(
    listed: list[Listed],
    *,
    started: float = NOW,
    now: float = NOW + 1,
    grace: float = 60,
    attributed: set[str] | None = None,
) -> decide.ReconcileDecision:
    return decide.reconcile_decision(
        station=STATION,
        partner=PARTNER,
        expected=[Attachment("a.edi", 10)],
        started_at=started,
        now=now,
        grace=grace,
        listed=listed,
        attributed=attributed or set(),
    )


def test_a_matching_sent_message_is_found() -> None:
    listed = [Listed(Folder.SENT, _info("<m1@gw>", NOW + 0.5, (Attachment("a.edi", 10),)))]
    decision = _decide(listed)
    assert decision.kind == ReconcileKind.FOUND
    assert decision.message_id == "<m1@gw>"


def test_a_message_attributed_to_another_row_is_never_taken() -> None:
    listed = [Listed(Folder.SENT, _info("<m1@gw>", NOW + 0.5, (Attachment("a.edi", 10),)))]
    decision = _decide(listed, attributed={"m1@gw"}, now=NOW + 1000)
    assert decision.kind == ReconcileKind.RESUBMIT


def test_older_messages_and_other_partners_do_not_match() -> None:
    att = (Attachment("a.edi", 10),)
    listed = [
        Listed(Folder.SENT, _info("<old@gw>", NOW - decide.CLOCK_SKEW_SECONDS - 1, att)),
        Listed(Folder.SENT, _info("<other@gw>", NOW + 1, att, receiver="OTHER")),
        Listed(Folder.SENT, _info("<size@gw>", NOW + 1, (Attachment("a.edi", 11),))),
    ]
    assert _decide(listed).kind == ReconcileKind.WAIT


def test_a_queued_entry_without_attachments_blocks_resubmission() -> None:
    listed = [Listed(Folder.QUEUED, _info("<q@gw>", NOW + 0.1, ()))]
    decision = _decide(listed, now=NOW + 10_000, grace=1)
    assert decision.kind == ReconcileKind.WAIT


def test_the_match_closest_to_the_submit_is_taken() -> None:
    att = (Attachment("a.edi", 10),)
    listed = [
        Listed(Folder.SENT, _info("<late@gw>", NOW + 5, att)),
        Listed(Folder.SENT, _info("<before@gw>", NOW - 30, att)),
        Listed(Folder.FAILED, _info("<close@gw>", NOW + 1, att)),
    ]
    assert _decide(listed).message_id == "<close@gw>"


record = st.tuples(
    st.sampled_from(list(Folder)),
    st.sampled_from(["<m1@gw>", "<m2@gw>", "<m3@gw>"]),
    st.floats(min_value=-300, max_value=300, allow_nan=False),  # persisted, relative to start
    st.sampled_from([(), (Attachment("a.edi", 10),), (Attachment("a.edi", 9),)]),
    st.sampled_from([PARTNER, "OTHER"]),
)


@settings(max_examples=400)
@given(
    records=st.lists(record, max_size=8),
    elapsed=st.floats(min_value=0, max_value=600, allow_nan=False),
    grace=st.floats(min_value=0, max_value=300, allow_nan=False),
    attributed=st.sets(st.sampled_from(["m1@gw", "m2@gw", "m3@gw"])),
)
def test_reconciliation_never_resends_what_may_be_on_the_gateway(
    records: list[tuple[Folder, str, float, tuple[Attachment, ...], str]],
    elapsed: float,
    grace: float,
    attributed: set[str],
) -> None:
    listed = [
        Listed(folder, _info(mid, NOW + rel, atts, receiver=partner))
        for folder, mid, rel, atts, partner in records
    ]
    decision = _decide(listed, now=NOW + elapsed, grace=grace, attributed=attributed)
    elapsed = (NOW + elapsed) - NOW  # what the function saw, after float rounding

    def candidate(item: Listed, *, attachments: bool) -> bool:
        info = item.info
        return (
            info.receiver_id == PARTNER
            and info.persisted_ms >= (NOW - decide.CLOCK_SKEW_SECONDS) * 1000
            and info.message_id.strip("<>") not in attributed
            and (
                Counter(info.attachments) == Counter([Attachment("a.edi", 10)])
                if attachments
                else not info.attachments and item.folder == Folder.QUEUED
            )
        )

    matches = [i for i in listed if candidate(i, attachments=True)]
    maybes = [i for i in listed if candidate(i, attachments=False)]
    if decision.kind == ReconcileKind.FOUND:
        assert decision.message_id in {i.info.message_id for i in matches}
    elif decision.kind == ReconcileKind.RESUBMIT:
        assert not matches and not maybes
        assert elapsed >= grace
    else:
        assert not matches
        assert maybes or elapsed < grace
    if matches:
        assert decision.kind == ReconcileKind.FOUND


def test_reconcile_interval_is_bounded() -> None:
    assert decide.reconcile_interval(0) == 0.5
    assert decide.reconcile_interval(120) == 15
    assert decide.reconcile_interval(10_000) == 30


# -- tracking ---------------------------------------------------------------------------------


def _sent(status: str | None, mdn: str | None = "Received", content: str = "") -> MessageInfo:
    info = _info("<m@gw>", NOW, (Attachment("a.edi", 10),))
    return MessageInfo(
        info.message_id,
        info.persisted_ms,
        info.sender_id,
        info.receiver_id,
        info.attachments,
        delivery_status=status,
        mdn_status=mdn,
        mdn=Mdn(None, True, content) if content else None,
    )


def test_delivered_is_final() -> None:
    action = decide.track_decision(failed_seen=0, sent=_sent("Delivered"), failed=[], queued=False)
    assert action.kind == TrackKind.DELIVERED
    assert action.mdn_status == "Received"


def test_not_delivered_with_an_error_mdn_is_a_failure_with_its_text() -> None:
    sent = _sent("Not Delivered", "Received", "decryption failed")
    action = decide.track_decision(failed_seen=0, sent=sent, failed=[], queued=False)
    assert action.kind == TrackKind.FAILED
    assert "decryption failed" in (action.reason or "")


def test_a_failed_attempt_while_still_queued_is_not_final() -> None:
    failed = [_info("<m@gw>", NOW, ())]
    action = decide.track_decision(failed_seen=1, sent=None, failed=failed, queued=True)
    assert action.kind == TrackKind.UPDATE
    assert action.failed_seen == 0


def test_failed_and_not_queued_must_be_seen_twice_before_it_counts() -> None:
    failed = [_info("<m@gw>", NOW, ())]
    first = decide.track_decision(failed_seen=0, sent=None, failed=failed, queued=False)
    assert first.kind == TrackKind.UPDATE and first.failed_seen == 1
    second = decide.track_decision(failed_seen=1, sent=None, failed=failed, queued=False)
    assert second.kind == TrackKind.FAILED
    assert "1 failed attempt" in (second.reason or "")


@given(
    failed_seen=st.integers(min_value=0, max_value=5),
    status=st.sampled_from([None, "Delivered", "Not Delivered", "No Status"]),
    in_sent=st.booleans(),
    failures=st.integers(min_value=0, max_value=3),
    queued=st.booleans(),
)
def test_tracking_only_fails_what_the_gateway_gave_up_on(
    failed_seen: int, status: str | None, in_sent: bool, failures: int, queued: bool
) -> None:
    failed = [_info("<m@gw>", NOW + i, ()) for i in range(failures)]
    action = decide.track_decision(
        failed_seen=failed_seen,
        sent=_sent(status) if in_sent else None,
        failed=failed,
        queued=queued,
    )
    if action.kind == TrackKind.FAILED:
        assert (in_sent and status == "Not Delivered") or (
            not in_sent and failures and not queued and failed_seen + 1 >= 2
        )
        assert action.reason
    if action.kind == TrackKind.DELIVERED:
        assert in_sent and status == "Delivered"
