"""Pure decisions of the outbound side: observed state plus ledger rows in, plain actions out.

Nothing here does I/O or reads a clock; every function is a total function of its arguments, so
the rules can be tested exhaustively (``tests/unit/test_outbound_decide.py`` throws generated
inputs at them) and the modules that act (``claim``, ``submit``, ``archive``, ``reconcile``,
``tracking``) stay thin.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from as2sync.errors import (
    AuthError,
    PermanentError,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.gateway.base import Attachment, Folder, MessageInfo, normalise_message_id
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
        case _:
            return Recovery.NOTHING


# -- submit -----------------------------------------------------------------------------------


class SubmitOutcome(enum.Enum):
    RETRY = "retry"  # provably not taken: back to CLAIMED with back-off
    REJECT = "reject"  # refused: to failed/
    IN_DOUBT = "in_doubt"  # may have been taken: reconcile


def classify_submit_error(exc: BaseException) -> SubmitOutcome:
    """Map what ``Gateway.submit`` raised to what the ledger does.

    Anything not known to be harmless is IN_DOUBT: a ``ProtocolError`` (e.g. a 202 without a
    usable ``Link``) or a bug after the request was written may hide an accepted message.
    """
    if isinstance(exc, StorageError):
        # The client could not open a processing file: nothing was sent.
        return SubmitOutcome.RETRY
    if isinstance(exc, ValueError):
        # The client refused the request before sending it (e.g. too many files).
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
    WAIT = "wait"  # not (yet) visible; look again later
    RESUBMIT = "resubmit"  # not in any list after the grace period: send again


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


def _same_pair(info: MessageInfo, station: str, partner: str) -> bool:
    # Sent messages have senderId = station, receiverId = partner; accept the swapped reading
    # too, since the spec's wording of the two fields is ambiguous (see resolve_sides).
    return {info.sender_id, info.receiver_id} == {station, partner} or (
        station == partner and info.sender_id == station
    )


def reconcile_decision(
    *,
    station: str,
    partner: str,
    expected: Sequence[Attachment],
    started_at: float,
    now: float,
    grace: float,
    listed: Sequence[Listed],
    attributed: set[str],
    skew: float = CLOCK_SKEW_SECONDS,
) -> ReconcileDecision:
    """Is the in-doubt message ``expected`` (names and sizes) on the gateway?

    A listed message matches when it is for this station/partner, was persisted no earlier
    than ``started_at - skew``, is not already attributed to another ledger row, and has the
    same attachments (as a multiset). Among matches the one persisted closest to the submit
    wins (several identical in-doubt rows, reconciled oldest first, each take their own).

    Names and sizes are all the API shows of a message's content: a message with the same
    names and sizes sent by someone else (the web UI, another system on the account) within
    the skew allowance before our submit could be taken for ours. The allowance is therefore
    kept small; the clocks of the gateway and this host are assumed NTP-synchronised.

    Queued entries may lack attachments (spec 6.4; the emulator omits them by default): such
    an entry could be ours, so we wait for it to move to sent or failed instead of resending.
    Otherwise, not found anywhere: resubmit only once ``grace`` has passed since the submit
    began, because the queued list hides messages that are "processing" and a message whose
    send failed leaves the sent list (spec 4.7, 5.4).
    """
    cutoff_ms = (started_at - skew) * 1000
    want = Counter((a.name, a.size) for a in expected)
    taken = {normalise_message_id(m) for m in attributed}
    found: list[Listed] = []
    maybe = False
    for item in listed:
        info = item.info
        if not _same_pair(info, station, partner) or info.persisted_ms < cutoff_ms:
            continue
        if normalise_message_id(info.message_id) in taken:
            continue
        if not info.attachments:
            maybe = maybe or item.folder == Folder.QUEUED
            continue
        if Counter((a.name, a.size) for a in info.attachments) == want:
            found.append(item)
    if found:
        best = min(found, key=lambda i: abs(i.info.persisted_ms - started_at * 1000))
        return ReconcileDecision(
            ReconcileKind.FOUND, best.info.message_id, best.folder, f"found in {best.folder}"
        )
    if maybe:
        return ReconcileDecision(
            ReconcileKind.WAIT, why="a queued entry without attachment details may be it"
        )
    if now - started_at >= grace:
        return ReconcileDecision(
            ReconcileKind.RESUBMIT, why=f"not on the gateway {now - started_at:.0f}s after submit"
        )
    return ReconcileDecision(ReconcileKind.WAIT, why="not visible yet; within the grace period")


def reconcile_interval(grace: float) -> float:
    """How long to wait between two looks at the gateway for one in-doubt message."""
    return min(30.0, max(0.5, grace / 8))


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
