"""The AS2 Gateway v1 matching rules (which listed message is which send in doubt), tested
as properties over generated inputs where they have them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from as2sync.backends.as2gateway import matching
from as2sync.backends.as2gateway.matching import Content, Listed, ReconcileKind
from as2sync.backends.as2gateway.model import Attachment, Folder, MessageInfo

STATION, PARTNER = "MYSTATION", "ACME"

# -- reconciliation ---------------------------------------------------------------------------

NOW = 1_700_000_000.0
SKEW = matching.CLOCK_SKEW_SECONDS


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


def _row(rid: int, *files: Content, started: float = NOW, settle: bool = True) -> matching.Doubt:
    return matching.Doubt(rid, started, files or (_file("A"),), settle)


def _listed(folder: Folder, mid: str, persisted: float, *files: Content) -> Listed:
    return Listed(folder, _info(mid, persisted, tuple(Attachment(f.name, f.size) for f in files)))


def _plan(
    rows: list[matching.Doubt],
    listed: list[Listed],
    *,
    contents: dict[str, tuple[Content, ...] | None] | None = None,
    now: float = NOW + 1,
    grace: float = 60,
    attributed: set[str] | None = None,
) -> dict[int, matching.ReconcileDecision]:
    found = matching.candidates(
        station=STATION,
        partner=PARTNER,
        listed=listed,
        attributed=attributed or set(),
        since=min(r.started_at for r in rows) - SKEW,
    )
    keyed = {m: None if c is None else matching.content_key(c) for m, c in (contents or {}).items()}
    return matching.reconcile_plan(rows=rows, found=found, contents=keyed, now=now, grace=grace)


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
    found = matching.candidates(
        station=STATION, partner=PARTNER, listed=listed, attributed={"mine@gw"}, since=NOW - SKEW
    )
    assert [c.info.message_id for c in matching.to_verify(rows, found)] == ["<fits@gw>"]


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
    found = matching.candidates(
        station=STATION, partner=PARTNER, listed=listed, attributed=set(), since=NOW - SKEW
    )
    assert found == []


def test_the_sent_record_of_a_message_is_preferred_over_its_queued_and_failed_ones() -> None:
    listed = [
        Listed(Folder.QUEUED, _info("<m@gw>", NOW + 1, ())),
        _listed(Folder.FAILED, "<m@gw>", NOW + 2, _file("A")),
        _listed(Folder.SENT, "m@gw", NOW + 3, _file("A")),
    ]
    [cand] = matching.candidates(
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
    rows: list[matching.Doubt] = []
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


_WAIT = matching.ReconcileDecision(ReconcileKind.WAIT)


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


def now_minus(row: matching.Doubt, elapsed: float) -> float:
    return (NOW + elapsed) - row.started_at
