"""What to do with a message the backend lists as pending, given what the ledger knows (pure).

With a read flag on the server (:attr:`~as2sync.backends.base.Capabilities.read_flag`), a
finished message listed again was marked unread (or redelivered) on purpose: it is skipped or
stored again as ``inbound.on_redelivery`` says. Without one, the server lists every message it
still has, so a finished one listed again says nothing new: it is left alone. Storing it
again there would store it once per poll.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from as2sync.config.schema import OnRedelivery
from as2sync.ledger.inbound import InboundState

MAX_RETRY_DELAY = 3600.0


class Action(enum.Enum):
    FETCH_NEW = "fetch-new"  # unknown: record FETCHING and fetch
    FETCH = "fetch"  # FETCHING and due: fetch again
    WAIT = "wait"  # FETCHING, but its next attempt is not due (or already tried this poll)
    MARK_READ = "mark-read"  # STORED: the files are in; only the read flag is missing
    SKIP_REDELIVERY = "skip-redelivery"  # finished, unread again: mark read, do not store again
    STORE_AGAIN = "store-again"  # finished, unread again: a new generation of files
    DONE = "done"  # finished, listed by a server without a read flag: nothing to do


@dataclass(frozen=True)
class Known:
    """The ledger's newest generation of a message."""

    state: InboundState
    next_attempt_at: float
    tried_this_poll: bool = False


def decide(
    known: Known | None, *, now: float, on_redelivery: OnRedelivery, read_flag: bool = True
) -> Action:
    """The action for one listed (pending) message; ``read_flag``: whether the server keeps
    one (see the module docstring)."""
    if known is None:
        return Action.FETCH_NEW
    if known.state is InboundState.FETCHING:
        if known.tried_this_poll or known.next_attempt_at > now:
            return Action.WAIT
        return Action.FETCH
    if known.state is InboundState.STORED:
        return Action.MARK_READ
    if not read_flag:
        return Action.DONE
    # READ or DELETED and unread again: someone called markUnread (or the gateway redelivered).
    if on_redelivery is OnRedelivery.STORE_AGAIN:
        return Action.STORE_AGAIN
    return Action.SKIP_REDELIVERY


def retry_delay(attempts: int, poll_seconds: float) -> float:
    """Seconds before a message whose fetch failed ``attempts`` times is tried again: the next
    poll after the first failure, then doubling, at most an hour."""
    if attempts <= 1:
        return 0.0
    return float(min(MAX_RETRY_DELAY, poll_seconds * 2 ** (attempts - 1)))
