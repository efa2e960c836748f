"""Which message on the AS2 Gateway is which send in doubt: the pure matching rules.

Given what the sent, failed and queued lists show for one partnership, and the bytes of the
sent messages whose names and sizes fit (downloaded and hashed by
:mod:`as2sync.backends.as2gateway.locating`), :func:`reconcile_plan` decides for each send of
unknown outcome: FOUND (this message is it), WAIT, RESUBMIT (provably not there: the
engine's ABSENT) or AMBIGUOUS. Nothing here does I/O or reads a clock; the rules are tested
exhaustively with generated inputs (``tests/unit/test_as2gateway_matching.py``).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.model import Attachment, Folder, MessageInfo
from as2sync.backends.base import bare_message_id

CLOCK_SKEW_SECONDS = 60.0
"""How far the gateway's clock may be behind ours when comparing persisted timestamps."""


class ReconcileKind(enum.Enum):
    FOUND = "found"  # the gateway has it: record the ID
    WAIT = "wait"  # not (yet) visible, or not yet told apart; look again later
    RESUBMIT = "resubmit"  # not in any list after the grace period: send again
    AMBIGUOUS = "ambiguous"  # a message that may be it can never be told apart: to failed/


@dataclass(frozen=True)
class ReconcileDecision:
    kind: ReconcileKind
    message_id: str | None = None
    folder: Folder | None = None
    why: str = ""


@dataclass(frozen=True)
class Listed:
    folder: Folder
    info: MessageInfo


@dataclass(frozen=True, order=True)
class Content:
    """One file of a message as reconciliation compares it."""

    name: str
    size: int
    sha256: str


ContentKey = tuple[Content, ...]
"""The files of a message, sorted: two messages with equal keys carry the same bytes."""


def content_key(files: Iterable[Content]) -> ContentKey:
    return tuple(sorted(files))


def _shape(attachments: Iterable[Attachment | Content]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((a.name, a.size) for a in attachments))


@dataclass(frozen=True)
class Doubt:
    """A submission whose message ID is unknown, as reconciliation sees it.

    ``files`` are the name, size and SHA-256 recorded at the claim. ``settle`` is False for a
    row that may still learn its ID by itself (SUBMITTING: a send in flight, perhaps in another
    process): it is never settled here, but a message it could own is kept from the others.
    """

    id: int
    started_at: float
    files: tuple[Content, ...]
    settle: bool = True

    @property
    def key(self) -> ContentKey:
        return content_key(self.files)


@dataclass(frozen=True)
class Candidate:
    """A message on the gateway that may be one of the sends in doubt.

    ``info`` is its best record: the sent one if it is in the sent list (only a sent message's
    attachments can be downloaded, spec 7.2), else the failed one, else the queued one.
    """

    info: MessageInfo
    folders: frozenset[Folder]

    @property
    def folder(self) -> Folder:
        for folder in (Folder.SENT, Folder.FAILED, Folder.QUEUED):
            if folder in self.folders:
                return folder
        return next(iter(self.folders))

    @property
    def provable(self) -> bool:
        """Its bytes can be downloaded (now or, while it is queued, later)."""
        return bool(self.folders & {Folder.SENT, Folder.QUEUED})


def _same_pair(info: MessageInfo, station: str, partner: str) -> bool:
    # Sent messages have senderId = station, receiverId = partner; accept the swapped reading
    # too, since the spec's wording of the two fields is ambiguous (see resolve_sides).
    return {info.sender_id, info.receiver_id} == {station, partner} or (
        station == partner and info.sender_id == station
    )


_PREFERENCE = {Folder.SENT: 0, Folder.FAILED: 1, Folder.QUEUED: 2}


def candidates(
    *,
    station: str,
    partner: str,
    listed: Sequence[Listed],
    attributed: Iterable[str],
    since: float,
) -> list[Candidate]:
    """The listed messages that may be sends in doubt, one per message ID, oldest first.

    Kept: this station and partner, persisted at or after ``since`` (epoch seconds; the
    earliest submit minus the clock-skew allowance), and not ``attributed`` (an ID recorded on
    any ledger row is that row's and never a candidate for another).
    """
    taken = {bare_message_id(m) for m in attributed}
    best: dict[str, Listed] = {}
    folders: dict[str, set[Folder]] = {}
    for item in listed:
        info = item.info
        key = bare_message_id(info.message_id)
        if key in taken or not _same_pair(info, station, partner):
            continue
        if info.persisted_ms < since * 1000:
            continue
        folders.setdefault(key, set()).add(item.folder)
        known = best.get(key)
        if known is None or _PREFERENCE.get(item.folder, 3) < _PREFERENCE.get(known.folder, 3):
            best[key] = item
    found = [Candidate(best[k].info, frozenset(folders[k])) for k in best]
    return sorted(found, key=lambda c: (c.info.persisted_ms, c.info.message_id))


def _eligible(row: Doubt, cand: Candidate, skew: float) -> bool:
    """The message was persisted no earlier than the row's submit (minus the clock skew)."""
    return cand.info.persisted_ms >= (row.started_at - skew) * 1000


def _could_be(row: Doubt, cand: Candidate, skew: float) -> bool:
    """Names and sizes allow ``cand`` to be ``row``'s message (a queued entry without its
    attachments could be anyone's)."""
    if not _eligible(row, cand, skew):
        return False
    if not cand.info.attachments:
        return cand.folder == Folder.QUEUED
    return _shape(cand.info.attachments) == _shape(row.files)


def to_verify(
    rows: Sequence[Doubt], found: Sequence[Candidate], skew: float = CLOCK_SKEW_SECONDS
) -> list[Candidate]:
    """The sent candidates whose bytes must be downloaded: those whose names and sizes match
    a row's (nothing else can be a row's message, so nothing else costs a request)."""
    return [
        c
        for c in found
        if c.folder == Folder.SENT
        and c.info.attachments
        and any(_could_be(r, c, skew) for r in rows)
    ]


def _allocate(
    rows: Sequence[Doubt], cands: Sequence[Candidate], skew: float
) -> list[tuple[Doubt, Candidate]]:
    """Pair rows holding the same bytes with messages holding those bytes, one each.

    Oldest row first takes the oldest message persisted after its submit. Which of two rows
    with identical bytes gets which message does not matter (the same bytes went out); how
    many get one does: with fewer messages than rows, only that many rows are settled and the
    others stay in doubt. Taking the earliest eligible message for the earliest row settles as
    many rows as any assignment could (a later row can use only messages an earlier one could).
    """
    pairs: list[tuple[Doubt, Candidate]] = []
    free = sorted(cands, key=lambda c: (c.info.persisted_ms, c.info.message_id))
    for row in sorted(rows, key=lambda r: (r.started_at, r.id)):
        for cand in free:
            if _eligible(row, cand, skew):
                pairs.append((row, cand))
                free.remove(cand)
                break
    return pairs


def reconcile_plan(
    *,
    rows: Sequence[Doubt],
    found: Sequence[Candidate],
    contents: Mapping[str, ContentKey | None],
    now: float,
    grace: float,
    skew: float = CLOCK_SKEW_SECONDS,
) -> dict[int, ReconcileDecision]:
    """What to do with each settleable row of one partnership (``row.settle``), given the
    ``found`` candidates and the ``contents`` downloaded for some of them (message ID -> the
    files' names, sizes and SHA-256; None: the download failed).

    1. A message whose downloaded bytes equal a row's claimed bytes carries that row's bytes:
       rows and messages with the same bytes are paired by :func:`_allocate`. If a send still
       in flight (``settle`` False) holds the same bytes, those rows wait: it may be its.
    2. A message whose bytes cannot be downloaded (queued, failed, or a failed download) is a
       row's only when every row its names and sizes fit holds the same bytes (so which of
       them it is does not matter) and none of them is in flight; such rows and messages are
       paired as in 1 (settling from the queued or failed list: tracking takes it from
       there). A sent message whose download failed waits for the next pass instead. Rows
       already paired count as owners too when another row holds the same bytes: which of
       the two owns which message is not known.
    3. A row that such a message might be, or whose bytes another row holds that such a
       message might be (its own message may then be the one given to that row), waits; once
       the grace period has passed and every such message is only in the failed list (it can
       never be downloaded, and is not being retried) and no send in flight may own it, the
       row is AMBIGUOUS: a person decides.
    4. A row nothing on the gateway could be: resubmitted once ``grace`` has passed since its
       submit began (the queued list hides messages that are being sent at that moment, and a
       failed send leaves the sent list, spec 4.7, 5.4), else it waits.

    So a message never settles two rows, a row is never settled by a message another row
    with other bytes could own, and a row is resent only where its bytes are on the gateway
    fewer times than rows hold them.
    """
    decisions: dict[int, ReconcileDecision] = {}
    open_rows = sorted(rows, key=lambda r: (r.started_at, r.id))

    shared = Counter(r.key for r in open_rows)

    def unsettled() -> list[Doubt]:
        """Rows that may still own any message: every row not FOUND, and a FOUND row whose
        bytes another row holds too (which of them owns which message is not known)."""
        return [
            r
            for r in open_rows
            if r.id not in decisions
            or decisions[r.id].kind != ReconcileKind.FOUND
            or shared[r.key] > 1
        ]

    def found_in(row: Doubt, cand: Candidate, why: str) -> None:
        decisions[row.id] = ReconcileDecision(
            ReconcileKind.FOUND, cand.info.message_id, cand.folder, why
        )

    waiting: dict[int, list[Candidate]] = {}
    contested: set[str] = set()  # candidates a send in flight may own: that settles soon

    # 1. Proven by content.
    proven: dict[ContentKey, list[Candidate]] = {}
    unproven: list[Candidate] = []
    for cand in found:
        key = contents.get(cand.info.message_id)
        if key is None:
            unproven.append(cand)
        else:
            proven.setdefault(content_key(key), []).append(cand)
    for key, cands in sorted(proven.items()):
        same = [
            r
            for r in open_rows
            if r.key == key and r.id not in decisions and any(_eligible(r, c, skew) for c in cands)
        ]
        if any(not r.settle for r in same):
            for row in same:
                if row.settle:
                    decisions[row.id] = ReconcileDecision(
                        ReconcileKind.WAIT, why="a send of the same bytes is still in flight"
                    )
            continue
        for row, cand in _allocate(same, cands, skew):
            found_in(row, cand, f"found in {cand.folder}, same bytes (SHA-256)")

    # 2. Not provable now: only where no other row's bytes could be in it.
    settleable: dict[ContentKey, list[Candidate]] = {}
    for cand in unproven:
        claimants = [r for r in unsettled() if _could_be(r, cand, skew)]
        if not claimants:
            continue
        keys = {r.key for r in claimants}
        alone = (
            len(keys) == 1
            and all(r.settle for r in claimants)
            and bool(cand.info.attachments)
            and cand.folder != Folder.SENT  # downloadable: prove it on the next pass
        )
        if alone:
            settleable.setdefault(keys.pop(), []).append(cand)
        else:
            if not all(r.settle for r in claimants):
                contested.add(cand.info.message_id)
            for row in claimants:
                waiting.setdefault(row.id, []).append(cand)
    for key, cands in sorted(settleable.items()):
        same = [r for r in open_rows if r.id not in decisions and r.settle and r.key == key]
        for row, cand in _allocate(same, cands, skew):
            found_in(row, cand, f"found in {cand.folder}; no other send in doubt fits it")

    # A row left without a message while another with the same bytes got one may own that
    # message: the other's own may be one still unproven (or unlisted by time for this row).
    # Whatever could be any of them keeps it waiting too.
    given = {d.message_id for d in decisions.values() if d.kind == ReconcileKind.FOUND}
    for cand in unproven:
        if cand.info.message_id in given:
            continue
        owners = [r for r in open_rows if _could_be(r, cand, skew)]
        if not all(r.settle for r in owners):
            contested.add(cand.info.message_id)
        for key in {r.key for r in owners}:
            for row in open_rows:
                if row.key == key and row.id not in decisions:
                    waiting.setdefault(row.id, []).append(cand)

    # 3 and 4.
    for row in open_rows:
        if not row.settle or row.id in decisions:
            continue
        elapsed = now - row.started_at
        maybes = list({c.info.message_id: c for c in waiting.get(row.id, [])}.values())
        if maybes:
            names = ", ".join(f"{c.info.message_id} ({c.folder})" for c in maybes)
            undecidable = not any(c.provable or c.info.message_id in contested for c in maybes)
            if elapsed >= grace and undecidable:
                decisions[row.id] = ReconcileDecision(
                    ReconcileKind.AMBIGUOUS,
                    why=f"the gateway's failed list holds {names}, which may be this file or "
                    "another one sent at that time; it cannot be told which",
                )
            else:
                decisions[row.id] = ReconcileDecision(
                    ReconcileKind.WAIT, why=f"may be {names}; not yet told apart"
                )
        elif elapsed >= grace:
            decisions[row.id] = ReconcileDecision(
                ReconcileKind.RESUBMIT, why=f"not on the gateway {elapsed:.0f}s after submit"
            )
        else:
            decisions[row.id] = ReconcileDecision(
                ReconcileKind.WAIT, why="not visible yet; within the grace period"
            )
    return decisions
