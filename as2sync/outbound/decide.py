"""Pure decisions of the outbound engine: observed state plus ledger rows in, plain actions out.

Nothing here does I/O or reads a clock; every function is a total function of its arguments, so
the rules can be tested exhaustively (``tests/unit/test_outbound_decide.py`` throws generated
inputs at them) and the modules that act (``claim``, ``submit``, ``archive``, ``reconcile``,
``tracking``) stay thin. These rules hold for every backend; how one API's lists are matched
against a send in doubt, or read for delivery, is that backend's (for AS2 Gateway v1:
:mod:`as2sync.backends.as2gateway.matching` and ``delivery``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    facts: Hashable
    """The claim facts (:func:`claim_facts`): files of one message agree on them."""
    subject: str | None
    names: tuple[str, ...]
    size: int

    @property
    def key(self) -> tuple[str, str, Hashable, str | None]:
        return (self.station, self.partner, self.facts, self.subject)


FactsKey = tuple[tuple[str, str], ...]


def claim_facts(remote: Mapping[str, Any], keys: Iterable[str]) -> FactsKey:
    """A row's claim facts as a comparable key: the values of ``keys`` (the keys the backend
    records at the claim, :meth:`~as2sync.backends.base.Sender.claim_remote`) in its remote
    facts. Rows are bundled, located and tracked together only when their keys are equal;
    facts learned later (a failure count) do not split them."""
    return tuple((k, json.dumps(remote.get(k), sort_keys=True)) for k in sorted(keys))


def plan_bundles(units: Sequence[Unit], max_files: int, max_bytes: int) -> list[tuple[Unit, ...]]:
    """Group ``units`` (oldest first) into messages.

    Single-file units of one partnership (same station, partner, claim facts and subject) are packed
    in order into groups of at most ``max_files`` files and ``max_bytes`` bytes with unique
    names (multipart requires them); a unit that already holds several files (a bundle being
    retried) stays as it is. Groups come out ordered by their oldest unit.
    """
    groups: list[list[Unit]] = []
    open_group: dict[tuple[str, str, Hashable, str | None], int] = {}
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


# -- after an unknown outcome ------------------------------------------------------------------


def ambiguous_reason(why: str) -> str:
    """The failed/ reason of an AMBIGUOUS row."""
    return (
        f"the outcome of the submission is unknown: {why}. It was not sent again; check the "
        "gateway, and `as2sync retry` it only if the partner did not get it"
    )


FIRST_LOOK_SECONDS = 5.0
"""The first look for a send in doubt comes this long after it began: the AS2 Gateway spec
says a message is listed 5 to 10 s after the send (4.5.1), so one that did arrive is settled
in seconds."""
LOOK_INTERVAL_MAX_SECONDS = 60.0


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
    runs out, when it may be resent (the configured grace, or the longer one the backend
    said, :attr:`~as2sync.backends.base.Located.grace_ends`)."""
    interval = min(LOOK_INTERVAL_MAX_SECONDS, max(_first_interval(grace), now - started_at))
    at = now + interval
    end = started_at + grace
    return end if now < end < at else at
