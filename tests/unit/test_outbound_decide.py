"""The outbound decisions, tested as properties over generated inputs where they have them."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from as2sync.errors import (
    AuthError,
    ContentChanged,
    InvalidRequest,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.ledger.outbound import Duplicate, SubmissionState
from as2sync.outbound import decide
from as2sync.outbound.decide import (
    ClaimStep,
    Recovery,
    SubmitOutcome,
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
    assert decide.recovery_for(SubmissionState.RETURNING) == Recovery.RETURN
    for state in (
        SubmissionState.CLAIMED,
        SubmissionState.IN_DOUBT,
        SubmissionState.ARCHIVED,
        SubmissionState.FAILED,
        SubmissionState.DELIVERED,
        SubmissionState.RETURNED,
    ):
        assert decide.recovery_for(state) == Recovery.NOTHING


# -- submit errors ----------------------------------------------------------------------------


def test_submit_errors_are_classified_by_what_may_have_happened() -> None:
    cases = {
        TransientError("connect refused"): SubmitOutcome.RETRY,
        RateLimited("429", retry_after=3): SubmitOutcome.RETRY,
        StorageError("cannot read"): SubmitOutcome.RETRY,
        ContentChanged("grew before the POST"): SubmitOutcome.RETURN,
        ContentChanged("changed mid-upload", partial=True): SubmitOutcome.IN_DOUBT,
        AuthError("bad password", status=401): SubmitOutcome.RETRY,
        PermanentError("413", status=413): SubmitOutcome.REJECT,
        NotFound("unknown partner", status=404): SubmitOutcome.REJECT,
        InvalidRequest("too many files"): SubmitOutcome.REJECT,
        ValueError("a bug after the request may have left"): SubmitOutcome.IN_DOUBT,
        io.UnsupportedOperation("httpx sought the body mid-upload"): SubmitOutcome.IN_DOUBT,
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


def test_claim_facts_are_the_keys_the_backend_records_at_the_claim_only() -> None:
    keys = {"partner_type": "production"}.keys()
    claimed = decide.claim_facts({"partner_type": "test"}, keys)
    assert claimed == decide.claim_facts({"partner_type": "test", "gateway_failed_seen": 1}, keys)
    assert claimed != decide.claim_facts({"partner_type": "production"}, keys)
    assert decide.claim_facts({}, keys) != claimed  # a missing fact is a fact too


def test_files_claimed_with_other_facts_never_share_a_message() -> None:
    def unit(i: int, partner_type: str) -> Unit:
        facts = decide.claim_facts({"partner_type": partner_type}, ["partner_type"])
        return Unit(i, STATION, PARTNER, facts, None, (f"{i}.edi",), 10)

    units = [unit(1, "production"), unit(2, "test"), unit(3, "production")]
    groups = decide.plan_bundles(units, 10, MB)
    assert [tuple(u.id for u in g) for g in groups] == [(1, 3), (2,)]


# -- looking again after an unknown outcome ---------------------------------------------------

NOW = 1_700_000_000.0


def _looks(grace: float, until: float) -> list[float]:
    """Seconds after the submit at which a send in doubt from the start is looked up."""
    at = decide.first_look(NOW, NOW, grace)
    looks = []
    while at - NOW <= until:
        looks.append(round(at - NOW, 3))
        at = decide.next_look(NOW, at, grace)
    return looks


def test_a_send_in_doubt_is_looked_up_after_5_s_then_at_growing_intervals() -> None:
    assert _looks(120, 300) == [5, 10, 20, 40, 80, 120, 180, 240, 300]
    assert _looks(450, 500) == [5, 10, 20, 40, 80, 140, 200, 260, 320, 380, 440, 450]


def test_a_send_found_in_doubt_after_a_restart_is_looked_up_at_once() -> None:
    assert decide.first_look(NOW - 3600, NOW, 120) == NOW


def test_short_graces_scale_the_first_look_down_but_not_below_half_a_second() -> None:
    assert _looks(2, 5) == [0.5, 1, 2, 4]
    assert decide.first_look(NOW, NOW, 0) == NOW + 0.5


@settings(max_examples=300)
@given(
    elapsed=st.floats(0, 10_000, allow_nan=False),
    grace=st.floats(0, 1000, allow_nan=False),
)
def test_the_next_look_is_later_bounded_and_never_skips_the_end_of_the_grace(
    elapsed: float, grace: float
) -> None:
    now = NOW + elapsed
    at = decide.next_look(NOW, now, grace)
    assert now < at <= now + decide.LOOK_INTERVAL_MAX_SECONDS
    if now < NOW + grace:
        assert at <= NOW + grace
