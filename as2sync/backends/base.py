"""The seam between the engines and a gateway: what the daemon needs, in its own words.

A backend is one package under :mod:`as2sync.backends` (registered in :mod:`.registry`) that
turns these calls into one API's requests. The engines own everything that makes the bridge
exactly-once — the ledger states and their crash ordering, claiming and archiving files, the
staging area, the inbox writer and its recovery — and drive the backend only through
:class:`Backend`. They branch on :class:`Capabilities`, never on which backend it is.

Every call may raise the errors of :mod:`as2sync.errors`; what each one means for a call is
stated on the call. Backends must be safe to call from several threads (the outbound engine
submits from a small pool while its step thread locates and tracks).

Backend-specific facts about one message that the ledger must keep (the v1 partner type, how
many tracking passes saw a failure, AS2 flags of a received message, an S3 object key) travel
as :data:`Remote`: a small JSON object the ledger stores verbatim and hands back, which only
the backend that wrote it reads.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

Remote = Mapping[str, Any]
"""Backend-only facts about one message, kept in the ledger as JSON (plain JSON values)."""


# -- what a backend can do --------------------------------------------------------------------


class Lookup(enum.StrEnum):
    """How a send whose outcome is unknown can be found on the server afterwards."""

    BY_CONTENT = "by-content"  # list what was sent and compare the bytes (AS2 Gateway v1)
    BY_ID = "by-id"  # messages are looked up one by one by ID (MFT Gateway REST)
    BY_KEY = "by-key"  # the upload's own key says where it went (MFT Gateway S3)
    NONE = "none"  # it cannot be looked up: an unknown outcome goes to failed/ for a person


@dataclass(frozen=True)
class Capabilities:
    """What a backend's API offers; plain data the engines and the config check read."""

    name: str
    """The ``gateway.api`` value that selects it."""
    max_files_per_message: int
    """The most files one message may carry (``outbound.bundle_max_files`` is checked
    against it)."""
    max_bytes_per_message: int | None
    """The largest message the API accepts, if it says (None: no stated limit)."""
    idempotent_submit: bool
    """Submitting the same message twice creates one message (never true so far)."""
    read_flag: bool
    """The server keeps a read flag: :meth:`Receiver.acknowledge` marks a message read, and
    what is listed as pending is what is not yet marked. Without it, the ledger is the only
    memory of what was fetched."""
    tracks_delivery: bool
    """:meth:`Sender.track` reports delivery (MDN) of sent messages."""
    lookup: Lookup
    """How :meth:`Sender.locate` finds a send after an unknown outcome."""
    deletes: bool
    """:meth:`Receiver.forget` deletes received messages on the server
    (``inbound.delete_after_store``)."""
    partner_types: bool = False
    """Partners are production or test ones and lists are per type (``inbound.partner_type``,
    the ``production``/``test`` choice of ``as2sync send``)."""


# -- sending ----------------------------------------------------------------------------------

Opener = Callable[[], IO[bytes]]
"""Opens a file to send for reading; raises OSError as the filesystem does."""


@dataclass(frozen=True)
class OutboundFile:
    """One file to submit: the bytes are read from ``path`` at send time, streamed.

    ``size`` (and ``sha256`` when given) are what the caller recorded of the file: exactly
    ``size`` bytes are sent, and they must be those bytes, or the upload is cut off before its
    last byte (``ContentChanged``).

    ``opener`` opens it (once per attempt): the daemon's opens ``path`` through verified folder
    descriptors, following no symbolic link on the way (see
    :meth:`as2sync.folders.layout.PartnerDirs.open`), so a folder swapped for a link after the
    claim cannot make an upload read another file. Without one, ``path`` is opened as given,
    refusing only a link as its last component.
    """

    path: Path
    name: str
    content_type: str
    size: int
    sha256: str | None = None
    opener: Opener | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OutboundMessage:
    """One message to submit: ``files`` from ``station`` to ``partner``. ``remote`` is what the
    backend recorded for it at the claim (see :meth:`Sender.claim_remote`)."""

    station: str
    partner: str
    files: Sequence[OutboundFile]
    subject: str | None = None
    remote: Remote = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """What a submit returned: the server's ID for the message (None when the API gives none
    at once, e.g. an upload whose message exists only once the gateway picks it up) and facts
    to keep (merged into the row's :data:`Remote`)."""

    remote_id: str | None
    remote: Remote = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class Content:
    """One file of a message as a lookup compares it: what the claim recorded."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Doubt:
    """A submission whose outcome is unknown, as :meth:`Sender.locate` sees it.

    ``settle`` is False for a row that may still learn its ID by itself (a send in flight,
    perhaps in another process): it is never settled, but nothing it could own is given to
    another row.
    """

    id: int
    started_at: float
    files: tuple[Content, ...]
    remote: Remote = field(default_factory=dict)
    settle: bool = True


class Found(enum.Enum):
    FOUND = "found"  # the server has it: record ``remote_id``
    WAIT = "wait"  # not (yet) visible, or not yet told apart: look again at ``look_at``
    ABSENT = "absent"  # it provably did not arrive (and cannot arrive late): submit again
    AMBIGUOUS = "ambiguous"  # it may be there but can never be told apart: for a person


@dataclass(frozen=True)
class Located:
    """What :meth:`Sender.locate` concluded for one row. ``why`` is for logs and failed/;
    ``look_at`` (epoch seconds) is when to look again after WAIT (None: the engine's
    default); ``remote`` facts are merged into the row's."""

    found: Found
    remote_id: str | None = None
    why: str = ""
    look_at: float | None = None
    remote: Remote = field(default_factory=dict)


@dataclass(frozen=True)
class SentRef:
    """A sent message whose delivery is tracked."""

    id: int
    remote_id: str
    started_at: float
    delivery_status: str | None
    mdn_status: str | None
    remote: Remote = field(default_factory=dict)


class Delivery(enum.Enum):
    PENDING = "pending"  # keep tracking (statuses may have changed)
    DELIVERED = "delivered"  # final
    FAILED = "failed"  # final: the gateway gave up; to failed/ (safe to retry)
    UNCERTAIN = "uncertain"  # final: may have reached the partner; to failed/, never resent


@dataclass(frozen=True)
class Tracked:
    """What one tracking pass learned about one sent message."""

    delivery: Delivery
    delivery_status: str | None = None
    mdn_status: str | None = None
    reason: str | None = None
    remote: Remote = field(default_factory=dict)


class Sender(Protocol):
    def claim_remote(self, station: str, partner: str) -> Remote:
        """Facts to record with a file claimed for this partnership, before it is submitted
        (v1: the partnership's partner type). Files are bundled only with files of equal
        facts. Pure: no request."""
        ...

    def submit(self, message: OutboundMessage) -> Receipt:
        """Submit one message. Never repeated internally once a byte may have reached the server.

        Raises ``TransientError`` when it provably did not take effect, ``PermanentError``
        when the server refused it, ``InvalidRequest`` when the backend refused it before
        sending any byte, ``ContentChanged`` when a file is not the bytes its
        :class:`OutboundFile` records, and ``UnknownOutcome`` when it may have been accepted.
        The engine takes any other exception for an unknown outcome.
        """
        ...

    def locate(
        self,
        station: str,
        partner: str,
        rows: Sequence[Doubt],
        *,
        attributed: Iterable[str],
        now: float,
        grace: float,
    ) -> dict[int, Located]:
        """Find the sends of one partnership whose outcome is unknown; one :class:`Located`
        per settleable row. ``attributed`` are the remote IDs any ledger row already holds:
        never another row's match. A match is certain or it is not made: one message settles
        one row. ``grace`` is the configured floor before a row may be ABSENT. Idempotent."""
        ...

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        """Delivery of sent messages of one partnership (rows left out: nothing learned).
        Idempotent."""
        ...


# -- receiving --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int


@dataclass(frozen=True)
class Pending:
    """A received message not yet acknowledged, as the server lists it.

    ``remote_id`` is the server's key, exactly as given (the ledger keys on it).
    ``attachments`` are as far as known at listing time (None: only the download tells).
    """

    remote_id: str
    station: str
    partner: str
    persisted_ms: int
    attachments: tuple[Attachment, ...] | None
    subject: str | None = None
    remote: Remote = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.attachments or ())


class Staged(Protocol):
    """One message's slot in the engine's staging area (see
    :class:`as2sync.inbound.writer.Stager`): the backend writes attachments into it; the
    engine verifies and stores."""

    def temp_for(self, index: int) -> Path:
        """Where attachment ``index`` is to be written (the backend streams into it)."""
        ...


class Sink(Protocol):
    """Where a download's results go: the engine's side of :meth:`Receiver.download`."""

    tmp: Path
    """A private folder for the backend's own temporary files (e.g. a batch archive)."""

    def stage(self, key: int) -> Any:
        """The staging slot for ledger row ``key`` (a :class:`as2sync.inbound.writer.Stager`)."""
        ...

    def store(self, staged: Sequence[Any], *, acknowledged: Sequence[bool]) -> None:
        """Store sealed messages now; ``acknowledged`` says per message whether the download
        already marked it read on the server."""
        ...

    def not_served(self, keys: Sequence[int], reason: str, *, event: str) -> None:
        """The server did not serve these now or they failed verification: retry later."""
        ...

    def storage_failed(self, keys: Sequence[int], action: str, path: Path, exc: OSError) -> None:
        """The local filesystem refused: retry at once, report at the poll's end."""
        ...


@dataclass(frozen=True)
class Wanted:
    """A message the engine wants downloaded: ledger row ``key``, recorded from a
    :class:`Pending` (``attachments`` as recorded; ``done``: attachment indices already
    stored, never to be written again)."""

    key: int
    remote_id: str
    persisted_ms: int
    attachments: tuple[Attachment, ...]
    done: frozenset[int] = frozenset()
    remote: Remote = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.attachments)


class Receiver(Protocol):
    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        """Pages of pending messages, until none is left that was not yet handed out in this
        pass. The engine records each page before the next is asked for (a server whose list
        shrinks as messages are acknowledged is re-read from its start). Idempotent."""
        ...

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        """Download ``wanted`` into ``sink``'s staging slots and hand each message to exactly
        one of ``sink.store`` (complete and verified), ``sink.not_served`` or
        ``sink.storage_failed``; a message left out (``stop`` set, or an exception) stays
        pending in the ledger. Checks ``stop`` between requests. Never acknowledges a message
        it does not hand to ``sink.store`` as acknowledged. Raises ``GatewayError`` when the
        server fails (what is not handed out is retried by the next poll)."""
        ...

    def lookup(self, remote_id: str) -> Pending:
        """One received message by ID (NotFound if the server has none). Idempotent; never
        acknowledges it."""
        ...

    def acknowledge(self, remote_ids: Sequence[str]) -> None:
        """Mark these read (nothing where the server keeps no read flag). Idempotent; a
        message the server no longer has is not an error."""
        ...

    def forget(self, remote_ids: Sequence[str]) -> None:
        """Delete these on the server. Idempotent."""
        ...


class Backend(Sender, Receiver, Protocol):
    """One gateway API, as the daemon drives it."""

    capabilities: Capabilities

    def close(self) -> None: ...
