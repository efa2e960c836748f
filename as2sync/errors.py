"""The as2sync error tree.

Every exception that as2sync raises on purpose is one of these; foreign exceptions (httpx,
OSError from the filesystem, SQLAlchemy) are translated at exactly one boundary each, with
``raise ... from exc`` so the cause stays in the traceback for debugging::

    As2SyncError
    ├── ConfigError              bad configuration; carries every problem with its key path
    ├── LockError                another as2sync owns this state_dir
    ├── StorageError             local filesystem refused (permission, disk full, ...)
    │   ├── UnsafeFolder         a folder as2sync works in is a symbolic link (refused)
    │   └── ContentChanged       a claimed file is no longer the bytes recorded at its claim
    ├── LedgerError              the ledger database is unusable (corrupt, newer schema, ...)
    │   ├── LedgerUnavailable    the filesystem under the ledger failed (disk full, ...)
    │   └── LedgerConflict       a row conflicts with one already recorded (unique key)
    └── GatewayError             anything the gateway said or failed to say
        ├── TransientError       the request did not take effect; safe to repeat later
        │   ├── RateLimited      429 / 503 with an optional Retry-After
        │   └── ShuttingDown     not sent: the process is stopping (SIGTERM)
        ├── PermanentError       the gateway refused the request (4xx); repeating will not help
        │   ├── NotFound         404: no such message / attachment
        │   └── AuthError        credentials rejected (a renewed token did not help)
        ├── UnknownOutcome       a non-idempotent request may or may not have taken effect
        ├── ProtocolError        the gateway answered something that does not follow the API
        └── InvalidRequest       refused by the client itself, before any byte was sent

The split between ``TransientError`` and ``UnknownOutcome`` is the heart of exactly-once
sending: a transient error is raised only when the request provably did not reach the
gateway (connection refused, DNS failure, 429) or when the request is idempotent. Anything
else that goes wrong after a submission may have been received becomes ``UnknownOutcome``,
and the caller reconciles instead of retrying. Likewise ``InvalidRequest`` is the only way a
send is refused without the gateway saying so: the client raises it before it sends anything,
so any other exception from a send (a ``ValueError`` from a bug mid-upload included) leaves
the outcome unknown.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass


class As2SyncError(Exception):
    """Base of every error as2sync raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in the configuration: where it is and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(As2SyncError):
    """The configuration is unusable. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class LockError(As2SyncError):
    """Another as2sync process holds the lock on this state directory."""


class StorageError(As2SyncError):
    """The local filesystem refused an operation (permissions, disk full, missing folder)."""


class ContentChanged(StorageError):
    """A claimed file's bytes are no longer those recorded at the claim (SHA-256 and size):
    a writer that still had it open changed it. Never sent as it is.

    ``partial`` is True when it was found during an upload: the request had begun and was
    cut off before its last byte (so the gateway got no complete message, but the outcome is
    treated as unknown); False when nothing was sent."""

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


class UnsafeFolder(StorageError, OSError):
    """A folder below folders.root or a route (station, partner, outbox, inbox, sent, failed,
    .as2sync, ...) is a symbolic link or not a folder at all: following it would let whoever
    can write the partnership folder aim as2sync's privileges at any directory.

    Also an ``OSError`` (ELOOP), because it is the filesystem boundary refusing, like
    permission denied: every caller that keeps a file where it is and retries later on an
    OSError does exactly the right thing with it."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, errno.ELOOP, message)

    def __str__(self) -> str:
        return str(self.strerror)


class LedgerError(As2SyncError):
    """The ledger database cannot be used as it is."""


class LedgerUnavailable(LedgerError):
    """A ledger read or write failed in the filesystem (disk full, permissions, I/O error):
    an operator's problem that fixes itself once solved, not a bug. Nothing half-done stays
    behind: the transaction was rolled back."""


class LedgerConflict(LedgerError):
    """A write broke one of the ledger's unique keys: the row conflicts with one already
    recorded. Nothing of that transaction was written (it was rolled back)."""


class GatewayError(As2SyncError):
    """Base of all errors talking to the gateway.

    ``status`` is the HTTP status when there was a response, else None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(GatewayError):
    """The request did not take effect, or is safe to repeat; try again later."""


class ShuttingDown(TransientError):
    """The request was not made because the process is stopping: nothing reached the gateway,
    so for a send this is the same as a refused connection (retried after the restart)."""


class RateLimited(TransientError):
    """The gateway asked us to slow down. ``retry_after`` is seconds, when the gateway said."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentError(GatewayError):
    """The gateway refused the request; repeating the same request will not help."""


class NotFound(PermanentError):
    """The gateway does not know the message or attachment asked for."""


class AuthError(PermanentError):
    """The gateway rejected the credentials."""


class UnknownOutcome(GatewayError):
    """A request that is not safe to repeat may or may not have taken effect."""


class ProtocolError(GatewayError):
    """The gateway answered in a way the API does not allow (bad JSON, missing header, ...).

    Treated like a transient error by callers that retry, because a proxy or an overloaded
    gateway is the usual cause, but logged distinctly so that a persistent one is noticed.
    """


class InvalidRequest(GatewayError):
    """The client refused to make the request (e.g. no files, more than a message can carry,
    duplicate names): raised before any byte was sent, so for a send this is a refusal that is
    certain, and repeating the same request will not help."""
