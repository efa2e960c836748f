"""The outbound decisions, tested as properties over generated inputs where they have them."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from as2sync.backends.as2gateway.model import Attachment, Folder, Mdn, MessageInfo
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
    Content,
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


# -- reconciliation ---------------------------------------------------------------------------

NOW = 1_700_000_000.0
SKEW = decide.CLOCK_SKEW_SECONDS


def _info(
    mid: str,
    persisted: float,
    attachments: tuple[Attachment, ...],
    sender: str = STATION,
    receiver: str = PARTNER,
) -> MessageInfo:
    return MessageInfo(mid, int(persisted * 1000), sender, receiver, attachments)


def _file(tag: str, name: str = "inv.edi", size: int = 100) -> Content:
    """A file whose bytes are named by ``tag`` (its SHA-256 stands in for the bytes)."""
    return Content(name, size, f"sha-{tag}")


def _row(rid: int, *files: Content, started: float = NOW, settle: bool = True) -> decide.Doubt:
    return decide.Doubt(rid, started, files or (_file("A"),), settle)


def _listed(folder: Folder, mid: str, persisted: float, *files: Content) -> Listed:
    return Listed(folder, _info(mid, persisted, tuple(Attachment(f.name, f.size) for f in files)))


def _plan(
    rows: list[decide.Doubt],
    listed: list[Listed],
    *,
    contents: dict[str, tuple[Content, ...] | None] | None = None,
    now: float = NOW + 1,
    grace: float = 60,
    attributed: set[str] | None = None,
) -> dict[int, decide.ReconcileDecision]:
    found = decide.candidates(
        station=STATION,
        partner=PARTNER,
        listed=listed,
        attributed=attributed or set(),
        since=min(r.started_at for r in rows) - SKEW,
    )
    keyed = {m: None if c is None else decide.content_key(c) for m, c in (contents or {}).items()}
    return decide.reconcile_plan(rows=rows, found=found, contents=keyed, now=now, grace=grace)


def test_a_message_with_another_rows_bytes_is_never_taken_by_the_older_row() -> None:
    """Issue 11 item 3: A (in doubt, never arrived) and B (accepted, ID lost) share name and
    size; the gateway has only B's message. Oldest-first matching gave it to A."""
    a, b = _row(1, _file("A")), _row(2, _file("B"), started=NOW + 5)
    listed = [_listed(Folder.SENT, "<b@gw>", NOW + 6, _file("B"))]
    contents = {"<b@gw>": (_file("B"),)}
    plan = _plan([a, b], listed, contents=contents, now=NOW + 10)
    assert (plan[2].kind, plan[2].message_id) == (ReconcileKind.FOUND, "<b@gw>")
    assert plan[1].kind == ReconcileKind.WAIT
    later = _plan([a, b], listed, contents=contents, now=NOW + 61)
    assert later[1].kind == ReconcileKind.RESUBMIT  # A never arrived: it is sent again
    assert later[2].message_id == "<b@gw>"


def test_only_sent_messages_whose_names_and_sizes_fit_are_downloaded() -> None:
    rows = [_row(1, _file("A"))]
    listed = [
        _listed(Folder.SENT, "<fits@gw>", NOW + 1, _file("X")),
        _listed(Folder.SENT, "<other-size@gw>", NOW + 1, _file("X", size=99)),
        _listed(Folder.SENT, "<other-name@gw>", NOW + 1, _file("X", name="b.edi")),
        _listed(Folder.SENT, "<too-old@gw>", NOW - SKEW - 1, _file("X")),
        _listed(Folder.FAILED, "<failed@gw>", NOW + 1, _file("X")),
        _listed(Folder.QUEUED, "<queued@gw>", NOW + 1, _file("X")),
        _listed(Folder.SENT, "<mine@gw>", NOW + 1, _file("X")),
    ]
    found = decide.candidates(
        station=STATION, partner=PARTNER, listed=listed, attributed={"mine@gw"}, since=NOW - SKEW
    )
    assert [c.info.message_id for c in decide.to_verify(rows, found)] == ["<fits@gw>"]


def test_a_message_recorded_on_another_row_is_never_a_candidate() -> None:
    listed = [_listed(Folder.SENT, "<m1@gw>", NOW + 0.5, _file("A"))]
    plan = _plan(
        [_row(1)],
        listed,
        contents={"<m1@gw>": (_file("A"),)},
        attributed={"m1@gw"},
        now=NOW + 1000,
    )
    assert plan[1].kind == ReconcileKind.RESUBMIT


def test_identical_bytes_in_doubt_twice_with_one_message_settle_exactly_one_row() -> None:
    rows = [_row(1, started=NOW), _row(2, started=NOW + 1)]
    listed = [_listed(Folder.SENT, "<m@gw>", NOW + 2, _file("A"))]
    contents = {"<m@gw>": (_file("A"),)}
    plan = _plan(rows, listed, contents=contents, now=NOW + 100)
    assert (plan[1].kind, plan[1].message_id) == (ReconcileKind.FOUND, "<m@gw>")
    assert plan[2].kind == ReconcileKind.RESUBMIT  # the same bytes went out once, not twice


def test_identical_bytes_in_doubt_twice_with_two_messages_take_one_each() -> None:
    rows = [_row(1, started=NOW), _row(2, started=NOW + 1)]
    listed = [
        _listed(Folder.SENT, "<m2@gw>", NOW + 3, _file("A")),
        _listed(Folder.SENT, "<m1@gw>", NOW + 0.5, _file("A")),
    ]
    contents = {"<m1@gw>": (_file("A"),), "<m2@gw>": (_file("A"),)}
    plan = _plan(rows, listed, contents=contents)
    assert [plan[1].message_id, plan[2].message_id] == ["<m1@gw>", "<m2@gw>"]


def test_a_row_is_not_given_a_message_persisted_before_its_submit() -> None:
    rows = [_row(1, started=NOW), _row(2, started=NOW + 2 * SKEW)]
    listed = [_listed(Folder.SENT, "<m@gw>", NOW + 1, _file("A"))]
    plan = _plan(rows, listed, contents={"<m@gw>": (_file("A"),)}, now=NOW + 2 * SKEW + 1)
    assert plan[1].message_id == "<m@gw>"
    assert plan[2].kind == ReconcileKind.WAIT


def test_a_send_in_flight_with_the_same_bytes_keeps_the_message_from_the_others() -> None:
    rows = [_row(1), _row(2, started=NOW + 1, settle=False)]
    listed = [_listed(Folder.SENT, "<m@gw>", NOW + 2, _file("A"))]
    plan = _plan(rows, listed, contents={"<m@gw>": (_file("A"),)}, now=NOW + 1000)
    assert set(plan) == {1}  # a row in flight is never decided here
    assert plan[1].kind == ReconcileKind.WAIT


def test_a_queued_or_failed_message_settles_the_only_row_it_fits() -> None:
    for folder in (Folder.QUEUED, Folder.FAILED):
        listed = [
            _listed(folder, "<m@gw>", NOW + 1, _file("A")),
            _listed(folder, "<other@gw>", NOW + 1, _file("X", name="other.edi")),
        ]
        plan = _plan([_row(1)], listed)
        assert (plan[1].kind, plan[1].message_id, plan[1].folder) == (
            ReconcileKind.FOUND,
            "<m@gw>",
            folder,
        )


def test_a_queued_message_two_rows_with_other_bytes_fit_settles_neither() -> None:
    rows = [_row(1, _file("A")), _row(2, _file("B"), started=NOW + 1)]
    listed = [_listed(Folder.QUEUED, "<q@gw>", NOW + 2, _file("?"))]
    plan = _plan(rows, listed, now=NOW + 1000)
    assert {d.kind for d in plan.values()} == {ReconcileKind.WAIT}  # it will move to sent


def test_a_failed_message_two_rows_with_other_bytes_fit_is_ambiguous_after_the_grace() -> None:
    rows = [_row(1, _file("A")), _row(2, _file("B"), started=NOW + 1)]
    listed = [_listed(Folder.FAILED, "<f@gw>", NOW + 2, _file("?"))]
    assert {d.kind for d in _plan(rows, listed).values()} == {ReconcileKind.WAIT}
    late = _plan(rows, listed, now=NOW + 1000)
    assert {d.kind for d in late.values()} == {ReconcileKind.AMBIGUOUS}
    assert "<f@gw>" in late[1].why
    # Still being retried (queued as well): it may yet reach the sent list and be proven.
    retried = [*listed, _listed(Folder.QUEUED, "<f@gw>", NOW + 2, _file("?"))]
    assert {d.kind for d in _plan(rows, retried, now=NOW + 1000).values()} == {ReconcileKind.WAIT}


def test_identical_bytes_make_a_failed_message_unambiguous() -> None:
    rows = [_row(1), _row(2, started=NOW + 1)]
    listed = [_listed(Folder.FAILED, "<f@gw>", NOW + 2, _file("A"))]
    plan = _plan(rows, listed, now=NOW + 1000)
    assert (plan[1].kind, plan[1].message_id) == (ReconcileKind.FOUND, "<f@gw>")
    assert plan[2].kind == ReconcileKind.RESUBMIT


def test_a_sent_message_whose_download_failed_is_waited_for_not_guessed() -> None:
    listed = [_listed(Folder.SENT, "<m@gw>", NOW + 1, _file("A"))]
    plan = _plan([_row(1)], listed, contents={"<m@gw>": None}, now=NOW + 1000)
    assert plan[1].kind == ReconcileKind.WAIT


def test_a_queued_entry_without_attachments_blocks_resubmission() -> None:
    listed = [Listed(Folder.QUEUED, _info("<q@gw>", NOW + 0.1, ()))]
    plan = _plan([_row(1)], listed, now=NOW + 10_000, grace=1)
    assert plan[1].kind == ReconcileKind.WAIT


def test_older_messages_and_other_partners_are_not_candidates() -> None:
    att = (Attachment("inv.edi", 100),)
    listed = [
        Listed(Folder.SENT, _info("<old@gw>", NOW - SKEW - 1, att)),
        Listed(Folder.SENT, _info("<other@gw>", NOW + 1, att, receiver="OTHER")),
    ]
    found = decide.candidates(
        station=STATION, partner=PARTNER, listed=listed, attributed=set(), since=NOW - SKEW
    )
    assert found == []


def test_the_sent_record_of_a_message_is_preferred_over_its_queued_and_failed_ones() -> None:
    listed = [
        Listed(Folder.QUEUED, _info("<m@gw>", NOW + 1, ())),
        _listed(Folder.FAILED, "<m@gw>", NOW + 2, _file("A")),
        _listed(Folder.SENT, "m@gw", NOW + 3, _file("A")),
    ]
    [cand] = decide.candidates(
        station=STATION, partner=PARTNER, listed=listed, attributed=set(), since=NOW - SKEW
    )
    assert (cand.folder, cand.info.message_id) == (Folder.SENT, "m@gw")
    assert cand.folders == {Folder.QUEUED, Folder.FAILED, Folder.SENT}


# A world in which some sends in doubt arrived and some did not, plus messages of others.
BYTES = ["A", "B", "C"]  # same name and size: only the bytes tell them apart
SHAPES = [("inv.edi", 100), ("inv.edi", 100), ("other.edi", 7)]
FOLDERS = [
    frozenset({Folder.SENT}),
    frozenset({Folder.QUEUED}),
    frozenset({Folder.FAILED}),
    frozenset({Folder.FAILED, Folder.QUEUED}),
]

sends = st.lists(
    st.tuples(
        st.sampled_from(BYTES),
        st.floats(0, 100, allow_nan=False),  # submit started, after NOW
        st.booleans(),  # arrived on the gateway
        st.sampled_from(FOLDERS),
        st.floats(0.1, 30, allow_nan=False),  # persisted after its submit
        st.booleans(),  # its download failed
        st.integers(0, 9),  # 0: still in flight (SUBMITTING)
    ),
    min_size=1,
    max_size=6,
)
foreign = st.lists(
    st.tuples(
        st.sampled_from([0, 2]),  # a shape shared with our files, or not
        st.floats(-100, 200, allow_nan=False),
        st.booleans(),  # its download failed
    ),
    max_size=3,
)


@settings(max_examples=500)
@given(
    sends=sends,
    others=foreign,
    elapsed=st.floats(0, 400, allow_nan=False),
    grace=st.floats(0, 300, allow_nan=False),
)
def test_reconciliation_never_misattributes_and_never_sends_twice(
    sends: list[tuple[str, float, bool, frozenset[Folder], float, bool, int]],
    others: list[tuple[int, float, bool]],
    elapsed: float,
    grace: float,
) -> None:
    """Whatever arrived and wherever it is listed: a row is only given a message holding its
    bytes, no message is given twice, and a row is resubmitted only where its bytes are on the
    gateway fewer times than rows hold them (so resending never makes a copy too many)."""
    rows: list[decide.Doubt] = []
    listed: list[Listed] = []
    contents: dict[str, tuple[Content, ...] | None] = {}
    truth: dict[str, str] = {}  # message id -> the bytes it carries
    for i, (tag, start, arrived, folders, delay, broken, flight) in enumerate(sends):
        name, size = SHAPES[BYTES.index(tag)]
        file = _file(tag, name, size)
        rows.append(_row(i, file, started=NOW + start, settle=flight != 0))
        if arrived:
            mid = f"<m{i}@gw>"
            truth[mid] = tag
            for folder in folders:
                listed.append(_listed(folder, mid, NOW + start + delay, file))
            if Folder.SENT in folders:
                contents[mid] = None if broken else (file,)
    for j, (shape, at, broken) in enumerate(others):
        name, size = SHAPES[shape]
        mid = f"<x{j}@gw>"
        truth[mid] = f"foreign-{j}"
        listed.append(_listed(Folder.SENT, mid, NOW + at, _file(truth[mid], name, size)))
        contents[mid] = None if broken else (_file(truth[mid], name, size),)
    plan = _plan(rows, listed, contents=contents, now=NOW + elapsed, grace=grace)

    assert set(plan) == {r.id for r in rows if r.settle}
    given_ids = [d.message_id for d in plan.values() if d.kind == ReconcileKind.FOUND]
    assert len(given_ids) == len(set(given_ids)), "a message settled two rows"
    for row in rows:
        decision = plan.get(row.id)
        if decision is None:
            continue
        tag = row.files[0].sha256.removeprefix("sha-")
        if decision.kind == ReconcileKind.FOUND:
            assert truth[decision.message_id or ""] == tag, "settled by another file's message"
        if decision.kind in (ReconcileKind.RESUBMIT, ReconcileKind.AMBIGUOUS):
            assert now_minus(row, elapsed) >= grace
    for tag in BYTES:
        holders = [r for r in rows if r.files[0].sha256 == f"sha-{tag}"]
        on_gateway = sum(1 for t in truth.values() if t == tag)
        resent = sum(1 for r in holders if plan.get(r.id, _WAIT).kind == ReconcileKind.RESUBMIT)
        assert on_gateway + resent <= len(holders), f"{tag} would be on the gateway too often"


_WAIT = decide.ReconcileDecision(ReconcileKind.WAIT)


@settings(max_examples=200)
@given(
    sends=st.lists(
        st.tuples(st.sampled_from(BYTES), st.floats(0, 100, allow_nan=False)), max_size=6
    ),
)
def test_every_send_whose_message_was_downloaded_is_settled(
    sends: list[tuple[str, float]],
) -> None:
    """Not merely safe but live: with every message in the sent list and its bytes known,
    every row is settled at once (identical bytes included)."""
    rows, listed, contents = [], [], {}
    for i, (tag, start) in enumerate(sends):
        name, size = SHAPES[BYTES.index(tag)]
        file = _file(tag, name, size)
        rows.append(_row(i, file, started=NOW + start))
        listed.append(_listed(Folder.SENT, f"<m{i}@gw>", NOW + start + 1, file))
        contents[f"<m{i}@gw>"] = (file,)
    if not rows:
        return
    plan = _plan(rows, listed, contents=contents, now=NOW + 200)
    assert {d.kind for d in plan.values()} == {ReconcileKind.FOUND}


def now_minus(row: decide.Doubt, elapsed: float) -> float:
    return (NOW + elapsed) - row.started_at


def test_the_grace_is_the_partners_send_timeout_and_a_half_at_least_the_floor() -> None:
    assert decide.resend_grace(120, 60) == 120
    assert decide.resend_grace(120, 300) == 450
    assert decide.resend_grace(1, 0) == 1
    assert decide.resend_grace(120, None) == 450  # unknown: the long end of what is usual


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
