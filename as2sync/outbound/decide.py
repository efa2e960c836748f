"""Pure decisions of the outbound side: observed state plus ledger rows in, plain actions out.

Nothing here does I/O or reads a clock; every function is a total function of its arguments, so
the rules can be tested exhaustively (``tests/unit/test_outbound_decide.py`` throws generated
inputs at them) and the modules that act (``claim``, ``submit``, ``archive``, ``reconcile``,
``tracking``) stay thin.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.model import Attachment, Folder, MessageInfo, normalise_message_id
from as2sync.errors import (
    AuthError,
    ContentChanged,
    InvalidRequest,
    PermanentError,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.ledger.outbound import Duplicate, SubmissionState

# -- claim ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimVerdict:
    """``reason`` is None when the claimed file may be sent, else why it goes to failed/."""

    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.reason is None


def claim_verdict(size: int, max_bytes: int, duplicate: Duplicate | None) -> ClaimVerdict:
    """Too big first (the gateway would refuse it anyway), then the duplicate window."""
    if size > max_bytes:
        return ClaimVerdict(
            f"file is {size} bytes, larger than the {max_bytes} bytes allowed per message"
        )
    if duplicate is not None:
        original = duplicate.message_id or f"{duplicate.name!r}, which is still being sent"
        return ClaimVerdict(f"duplicate of {original}")
    return ClaimVerdict(None)


class ClaimStep(enum.Enum):
    """What recovery does with a CLAIMING file."""

    HASH = "hash"  # the processing copy exists: the rename happened; finish the claim
    RENAME = "rename"  # only the outbox file exists: the rename did not happen; do it now
    ABANDON = "abandon"  # neither exists: the user removed the file before it was claimed


def claim_step(*, source_exists: bool, processing_exists: bool) -> ClaimStep:
    # Both existing means the user dropped a new file under the same name after the rename;
    # the processing copy is the one this row claimed, the new one is a new drop.
    if processing_exists:
        return ClaimStep.HASH
    if source_exists:
        return ClaimStep.RENAME
    return ClaimStep.ABANDON


# -- recovery after a crash -------------------------------------------------------------------


class Recovery(enum.Enum):
    CLAIM = "claim"  # finish the claim (claim_step decides how)
    IN_DOUBT = "in_doubt"  # the POST may have happened: reconcile
    ARCHIVE = "archive"  # accepted: move the files to sent/
    MOVE_TO_FAILED = "move_to_failed"  # decided to fail: finish moving the files to failed/
    RETURN = "return"  # changed after the claim: finish giving the files back to the outbox
    NOTHING = "nothing"  # the row is at rest (waiting, tracked or final)


def recovery_for(state: SubmissionState) -> Recovery:
    """The action a row found in ``state`` at start-up needs before normal work resumes."""
    match state:
        case SubmissionState.CLAIMING:
            return Recovery.CLAIM
        case SubmissionState.SUBMITTING:
            # The crash may have hit before, during or after the POST: never resend blindly.
            return Recovery.IN_DOUBT
        case SubmissionState.SUBMITTED:
            return Recovery.ARCHIVE
        case SubmissionState.REJECTING | SubmissionState.DELIVERY_FAILING:
            return Recovery.MOVE_TO_FAILED
        case SubmissionState.RETURNING:
            return Recovery.RETURN
        case _:
            return Recovery.NOTHING


# -- submit -----------------------------------------------------------------------------------


class SubmitOutcome(enum.Enum):
    RETRY = "retry"  # provably not taken: back to CLAIMED with back-off
    REJECT = "reject"  # refused: to failed/
    IN_DOUBT = "in_doubt"  # may have been taken: reconcile
    RETURN = "return"  # a file changed after the claim and nothing was sent: back to the outbox


def classify_submit_error(exc: BaseException) -> SubmitOutcome:
    """Map what ``Gateway.submit`` raised to what the ledger does.

    Anything not known to be harmless is IN_DOUBT: a ``ProtocolError`` (e.g. a 202 without a
    usable ``Link``) or a bug after the request was written may hide an accepted message.
    """
    if isinstance(exc, ContentChanged):
        # Cut off mid-upload, the gateway got an incomplete request: in doubt like any other.
        return SubmitOutcome.IN_DOUBT if exc.partial else SubmitOutcome.RETURN
    if isinstance(exc, StorageError):
        # The client could not open a processing file: nothing was sent.
        return SubmitOutcome.RETRY
    if isinstance(exc, InvalidRequest):
        # The client refused the request before sending it (e.g. too many files). Nothing else
        # is taken for a refusal: a ValueError from a bug may come after bytes went out.
        return SubmitOutcome.REJECT
    if isinstance(exc, AuthError):
        # The credentials were refused; the message was not. Fixing the config lets it go.
        return SubmitOutcome.RETRY
    if isinstance(exc, PermanentError):
        return SubmitOutcome.REJECT
    if isinstance(exc, TransientError):
        return SubmitOutcome.RETRY
    if isinstance(exc, UnknownOutcome):
        return SubmitOutcome.IN_DOUBT
    return SubmitOutcome.IN_DOUBT


RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0


def retry_delay(
    attempts: int,
    retry_after: float | None = None,
    *,
    base: float = RETRY_BASE_SECONDS,
    cap: float = RETRY_MAX_SECONDS,
) -> float:
    """Exponential back-off after ``attempts`` failed attempts (>= 1), capped; a server's
    ``Retry-After`` is honoured when it asks for longer."""
    exponent = min(max(attempts, 1) - 1, 30)
    delay: float = min(cap, base * 2.0**exponent)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def rejection_reason(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    prefix = f"the gateway refused the message (HTTP {status})" if status else "refused"
    return f"{prefix}: {exc}"


HOLD_REASON = (
    "the outcome of the submission is unknown and outbound.in_doubt is 'hold': the gateway may "
    "have accepted it; check the gateway's sent, queued and failed lists before sending it again"
)


# -- bundling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A CLAIMED submission due to be submitted, as bundling sees it."""

    id: int
    station: str
    partner: str
    partner_type: str
    subject: str | None
    names: tuple[str, ...]
    size: int

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return (self.station, self.partner, self.partner_type, self.subject)


def plan_bundles(units: Sequence[Unit], max_files: int, max_bytes: int) -> list[tuple[Unit, ...]]:
    """Group ``units`` (oldest first) into messages.

    Single-file units of one partnership (same station, partner, type and subject) are packed
    in order into groups of at most ``max_files`` files and ``max_bytes`` bytes with unique
    names (multipart requires them); a unit that already holds several files (a bundle being
    retried) stays as it is. Groups come out ordered by their oldest unit.
    """
    groups: list[list[Unit]] = []
    open_group: dict[tuple[str, str, str, str | None], int] = {}
    for unit in units:
        if max_files <= 1 or len(unit.names) != 1:
            groups.append([unit])
            continue
        index = open_group.get(unit.key)
        if index is not None:
            group = groups[index]
            names = {n for u in group for n in u.names}
            fits = (
                sum(len(u.names) for u in group) + 1 <= max_files
                and sum(u.size for u in group) + unit.size <= max_bytes
                and unit.names[0] not in names
            )
            if fits:
                group.append(unit)
                continue
        open_group[unit.key] = len(groups)
        groups.append([unit])
    return [tuple(g) for g in groups]


# -- reconciliation ---------------------------------------------------------------------------

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
    taken = {normalise_message_id(m) for m in attributed}
    best: dict[str, Listed] = {}
    folders: dict[str, set[Folder]] = {}
    for item in listed:
        info = item.info
        key = normalise_message_id(info.message_id)
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


def ambiguous_reason(why: str) -> str:
    """The failed/ reason of an AMBIGUOUS row."""
    return (
        f"the outcome of the submission is unknown: {why}. It was not sent again; check the "
        "gateway, and `as2sync retry` it only if the partner did not get it"
    )


FIRST_LOOK_SECONDS = 5.0
"""The first look for a send in doubt comes this long after it began: the spec says a message
is listed 5 to 10 s after the send (4.5.1), so one that did arrive is settled in seconds."""
LOOK_INTERVAL_MAX_SECONDS = 60.0
ASSUMED_SEND_TIMEOUT_SECONDS = 300.0
"""A partner's sendTimeout when the gateway does not say (the long end of what is usual)."""
SEND_TIMEOUT_MARGIN = 0.5
"""The resend grace is the partner's sendTimeout plus this fraction of it again: the gateway's
own work around the wait for the partner (picking the message, signing, connecting,
recording the outcome)."""


def resend_grace(floor: float, send_timeout: float | None) -> float:
    """How long after a submit began a send in doubt that is in no list may be resent.

    The queued list hides a message while it is being sent (spec 5.4), and that lasts up to
    the partner's ``sendTimeout``: resending earlier could deliver it twice to a slow partner.
    ``floor`` (``outbound.reconcile_grace_seconds``) is the least; an unknown sendTimeout
    counts as :data:`ASSUMED_SEND_TIMEOUT_SECONDS`.
    """
    timeout = ASSUMED_SEND_TIMEOUT_SECONDS if send_timeout is None else send_timeout
    return max(floor, timeout * (1 + SEND_TIMEOUT_MARGIN))


def _first_interval(grace: float) -> float:
    # Scaled down for very short graces (tests, the emulator), never below half a second.
    return min(FIRST_LOOK_SECONDS, max(0.5, grace / 8))


def first_look(started_at: float, now: float, grace: float) -> float:
    """When to look first for a send that began at ``started_at`` and is in doubt ``now``."""
    return max(now, started_at + _first_interval(grace))


def next_look(started_at: float, now: float, grace: float) -> float:
    """When to look again for a send still in doubt: after as long as it has been in doubt
    (5, 10, 20, 40 s ..., at most :data:`LOOK_INTERVAL_MAX_SECONDS`), so one that arrived
    late is found soon while a long wait costs few requests; and exactly when ``grace``
    runs out, when it may be resent."""
    interval = min(LOOK_INTERVAL_MAX_SECONDS, max(_first_interval(grace), now - started_at))
    at = now + interval
    end = started_at + grace
    return end if now < end < at else at


# -- delivery tracking ------------------------------------------------------------------------

DELIVERED = "Delivered"
NOT_DELIVERED = "Not Delivered"
FAILED_CONFIRMATIONS = 2
"""A message in the failed list must be absent from the queue this many passes in a row
before it counts as stopped: the queued list hides entries that are being retried right now."""


class TrackKind(enum.Enum):
    UPDATE = "update"  # record statuses, keep tracking
    DELIVERED = "delivered"  # final
    FAILED = "failed"  # final: move the archived copy to failed/


@dataclass(frozen=True)
class TrackAction:
    kind: TrackKind
    delivery_status: str | None = None
    mdn_status: str | None = None
    failed_seen: int = 0
    reason: str | None = None


def failure_reason(failed: Sequence[MessageInfo]) -> str:
    """The gateway's reason for a failed message, from its failed-list entries."""
    parts = [f"the gateway could not deliver the message ({len(failed)} failed attempt(s)"]
    last = max(failed, key=lambda i: i.persisted_ms)
    if last.transport_status is not None:
        parts.append(f"; last HTTP status from the partner {last.transport_status}")
    parts.append(")")
    if last.mdn is not None and last.mdn.content:
        parts.append(f": {last.mdn.content.strip()}")
    return "".join(parts)


def track_decision(
    *,
    failed_seen: int,
    sent: MessageInfo | None,
    failed: Sequence[MessageInfo],
    queued: bool,
) -> TrackAction:
    """What one tracking pass concludes for one archived message.

    * In the sent list as Delivered: final. As Not Delivered: the partner refused it (an
      error MDN); that is a failure the user must see in failed/.
    * Not in sent but in failed, and not queued for ``FAILED_CONFIRMATIONS`` passes: the
      gateway stopped retrying; failure. Still queued: it is being retried; keep watching.
    * Nowhere yet: keep watching (the Link may take seconds to become valid, spec 4.5.1).
    """
    if sent is not None:
        status = sent.delivery_status
        if status == DELIVERED:
            return TrackAction(TrackKind.DELIVERED, status, sent.mdn_status)
        if status == NOT_DELIVERED:
            reason = "the partner did not accept the message (Not Delivered"
            if sent.mdn is not None and sent.mdn.content:
                reason += f"; MDN: {sent.mdn.content.strip()}"
            return TrackAction(TrackKind.FAILED, status, sent.mdn_status, reason=reason + ")")
        return TrackAction(TrackKind.UPDATE, status, sent.mdn_status)
    if failed:
        if queued:
            return TrackAction(TrackKind.UPDATE, "Retrying", None, failed_seen=0)
        seen = failed_seen + 1
        if seen >= FAILED_CONFIRMATIONS:
            return TrackAction(
                TrackKind.FAILED, "Failed", None, failed_seen=seen, reason=failure_reason(failed)
            )
        return TrackAction(TrackKind.UPDATE, None, None, failed_seen=seen)
    return TrackAction(TrackKind.UPDATE, None, None, failed_seen=0)
