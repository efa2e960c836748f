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
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from as2sync.errors import StorageError

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
    WAIT = "wait"  # not (yet) visible, or not yet told apart: look again later
    ABSENT = "absent"  # it provably did not arrive (and cannot arrive late): submit again
    AMBIGUOUS = "ambiguous"  # it may be there but can never be told apart: for a person


@dataclass(frozen=True)
class Located:
    """What :meth:`Sender.locate` concluded for one row. ``why`` is for logs and failed/;
    ``where`` says where a FOUND message was (for logs; v1: the list it was in);
    ``remote`` facts are merged into the row's.

    After WAIT the engine looks again on its own schedule (soon at first, then less often)
    and once more exactly at ``grace_ends`` (epoch seconds): the moment from which the row
    may be ABSENT, when the backend waits longer than the configured grace (v1: while the
    partner's ``sendTimeout`` says the message may still be on its way; None: the
    configured grace after the submit began).
    """

    found: Found
    remote_id: str | None = None
    why: str = ""
    grace_ends: float | None = None
    remote: Remote = field(default_factory=dict)
    where: str = ""


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


UPLOAD_NAME = "upload_name"
"""The :data:`Remote` key under which a :class:`Naming` backend records the name it uploads a
message under (the engine reads it back to tell the backend which names are in use)."""


@dataclass(frozen=True)
class Hold:
    """A message that may not be submitted before ``until`` (epoch seconds): it stays claimed
    (``why`` shown in ``status``) and is asked about again then."""

    until: float
    why: str


@runtime_checkable
class Naming(Protocol):
    """Optional, for a backend whose server knows a message by a name the client chooses and
    has rules about reusing it (MFT Gateway S3: the object key, and the gateway's six-hour
    same-name rule). Other backends leave it out and nothing changes for them.

    The engine calls :meth:`name_message` in the same commit that marks the row SUBMITTING
    (before any byte is sent), so a lookup after an unknown outcome knows the name; the
    facts returned are merged into the row's remote (and reach :meth:`Sender.submit` and
    :meth:`Sender.locate` through it)."""

    naming_window: float
    """How far back (seconds) the names in use matter."""

    def name_message(
        self, message: OutboundMessage, used: Mapping[str, float], now: float
    ) -> Remote | Hold:
        """Facts to record before submitting ``message`` (they must include
        :data:`UPLOAD_NAME`), or a :class:`Hold`. ``used``: the :data:`UPLOAD_NAME` of every
        other submission of this partnership whose submit began within
        :attr:`naming_window`, with when the latest of them began. ``message.remote`` holds
        the name of an earlier attempt of this row, if any. Pure: no request."""
        ...


class Sender(Protocol):
    """Sending, as the outbound engine drives it.

    The engine claims a file, records the backend's claim facts with it, and submits it; a
    submit whose outcome is unknown is located before anything is sent again, and a sent
    message is tracked until its delivery is final. The engine passes rows of one
    partnership whose claim facts agree (a partner type, for v1) to one :meth:`locate` or
    :meth:`track` call, and acts on what comes back; a backend never touches the ledger or
    the files.
    """

    def claim_remote(self, station: str, partner: str) -> Remote:
        """Facts to record with a file claimed for this partnership, before it is submitted
        (v1: the partnership's partner type). Files are bundled, located and tracked only
        with files of equal claim facts (the keys returned here). Pure: no request."""
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
        stop: threading.Event | None = None,
    ) -> dict[int, Located]:
        """Find the sends of one partnership whose outcome is unknown; one :class:`Located`
        per settleable row. ``attributed`` are the remote IDs any ledger row already holds:
        never another row's match. A match is certain or it is not made: one message settles
        one row. ``grace`` is ``outbound.reconcile_grace_seconds``, the least time after a
        row's submit began before it may be ABSENT (a backend may wait longer, e.g. while
        the partner may still be receiving it). Idempotent.

        Raises ``GatewayError`` when the server could not be asked (the engine looks again
        later). A set ``stop`` ends the call before its next request; it then returns
        nothing (no row is decided).
        """
        ...

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        """Delivery of sent messages of one partnership (rows left out: nothing learned).
        Raises ``GatewayError`` when the server could not be asked. Idempotent."""
        ...


class Sending(Sender, Protocol):
    """What the outbound engine is given: a :class:`Sender` and what its API can do."""

    capabilities: Capabilities


# -- receiving --------------------------------------------------------------------------------


def bare_message_id(message_id: str) -> str:
    """An AS2 Message-ID without its surrounding angle brackets (servers and operators write
    it either way; ``<a@x>`` and ``a@x`` are still two messages to the ledger)."""
    stripped = message_id.strip()
    if stripped.startswith("<") and stripped.endswith(">"):
        return stripped[1:-1]
    return stripped


@dataclass(frozen=True)
class Attachment:
    name: str
    size: int


@dataclass(frozen=True)
class Pending:
    """A received message not yet acknowledged, as the server lists it.

    ``remote_id`` is the server's key, exactly as given (the ledger keys on it). ``station``
    and ``partner`` are resolved by the backend (a message it cannot place is not handed
    out). ``attachments`` are the names and sizes every download is verified against, in the
    server's order: a backend that learns them only by downloading must look them up before
    it hands the message out. ``remote`` are the backend's own facts, kept by the ledger and
    written (as far as they are AS2 facts) into the metadata sidecar.
    """

    remote_id: str
    station: str
    partner: str
    persisted_ms: int
    attachments: tuple[Attachment, ...]
    subject: str | None = None
    remote: Remote = field(default_factory=dict, hash=False)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.attachments)


TMP_PREFIX = "inbound-"
"""Names a backend gives its files in :attr:`Sink.tmp`: the engine deletes every file whose
name starts with it at start (nothing there outlives a process)."""


class Readable(Protocol):
    """Anything bytes can be read from (an open file, a zip entry)."""

    def read(self, size: int = -1, /) -> bytes: ...


class ContentRefused(Exception):
    """The bytes handed over for an attachment are not what the listing promised (size), or
    could not be read; the message is not stored and is tried again later."""


class Staged(Protocol):
    """One message's slot in the engine's staging area (see
    :class:`as2sync.inbound.writer.Stager`). The backend fills each attachment it is asked
    for, in either of two ways; the engine verifies, seals and stores. Every method raises
    OSError when the local filesystem refuses."""

    key: int
    """The ledger row (:attr:`Wanted.key`) this slot is for."""

    def temp_for(self, index: int) -> Path:
        """A new empty file for attachment ``index``, for a backend whose client streams a
        download to a path; then call :meth:`add_download`."""
        ...

    def add_download(self, index: int) -> int:
        """Attachment ``index`` has been written to :meth:`temp_for`: make it durable and
        record it. Returns its size; the caller compares it with the listing."""
        ...

    def add_stream(self, index: int, readable: Readable, expected_size: int) -> None:
        """Copy attachment ``index`` from ``readable`` (reading at most ``expected_size + 1``
        bytes, whatever it claims) and make it durable. Raises :class:`ContentRefused` unless
        it holds exactly ``expected_size`` bytes; exceptions of ``readable`` pass through."""
        ...


class Sink(Protocol):
    """Where a download's results go: the engine's side of :meth:`Receiver.download`.

    Each wanted message ends in exactly one of :meth:`store`, :meth:`not_served`,
    :meth:`refused` or :meth:`storage_failed`, or in none (left FETCHING in the ledger, tried
    by the next poll). A slot whose message ends anywhere but :meth:`store` is discarded by
    the engine; so is every slot left over when :meth:`Receiver.download` returns or raises.
    """

    @property
    def tmp(self) -> Path:
        """A folder for the backend's own temporary files (e.g. a batch archive), named with
        :data:`TMP_PREFIX`; the backend removes them, and the engine removes any left over by
        a crash at the next start."""
        ...

    def stage(self, key: int) -> Staged:
        """A fresh staging slot for the wanted message ``key``."""
        ...

    def store(self, staged: Sequence[Staged], *, acknowledged: Sequence[bool]) -> None:
        """Seal and store these filled slots now; ``acknowledged`` says per message whether
        the download already acknowledged it on the server (else the engine does, after
        storing)."""
        ...

    def not_served(self, keys: Sequence[int], reason: str) -> None:
        """The server could not serve these now: try again later."""
        ...

    def refused(self, keys: Sequence[int], reason: str) -> None:
        """What was served does not match the listing, or the server refused the request:
        try again later."""
        ...

    def storage_failed(self, keys: Sequence[int], exc: OSError | StorageError) -> None:
        """The local filesystem refused while filling these slots: try again at once; the
        poll reports the error at its end."""
        ...


@dataclass(frozen=True)
class Wanted:
    """A message the engine wants downloaded: ledger row ``key``, recorded from a
    :class:`Pending` (``attachments`` as recorded; ``done``: attachment indices already
    stored, never to be written again; ``remote`` as recorded)."""

    key: int
    remote_id: str
    station: str
    partner: str
    persisted_ms: int
    attachments: tuple[Attachment, ...]
    done: frozenset[int] = frozenset()
    remote: Remote = field(default_factory=dict, hash=False)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.attachments)


class Receiver(Protocol):
    capabilities: Capabilities

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        """Pages of pending messages, until none is left that was not yet handed out in this
        pass (one pass per poll). The engine records and acts on each page before the next is
        asked for (a server whose list shrinks as messages are acknowledged is re-read from
        its start). A message whose station cannot be told is not handed out (the backend
        warns). Idempotent."""
        ...

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        """Download ``wanted`` into ``sink``'s staging slots and hand each message to one of
        the sink's outcomes (see :class:`Sink`); a message left out (``stop`` set, or an
        exception) stays pending in the ledger. Checks ``stop`` between requests. A download
        may acknowledge as a side effect (v1's batch zips mark read), so a message the server
        shows read can still fail locally: the ledger's FETCHING row, not the server's flag,
        is what keeps it; ``sink.store`` is told which messages the download acknowledged
        (the engine acknowledges the others itself once stored). Raises
        ``GatewayError`` when the server fails (what is not handed out is retried by the next
        poll)."""
        ...

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        """The first of ``remote_ids`` the server has, as a :class:`Pending` (an operator's
        ``retry``). The IDs are tried in the order given; a backend may try variants of the
        last one (v1: with angle brackets added). Raises NotFound if the server has none,
        PermanentError if it belongs to none of the account's stations. Idempotent; never
        acknowledges it."""
        ...

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        """Mark these read (nothing where the server keeps no read flag). Idempotent. Returns
        the IDs the server no longer has (not an error: nothing is left to mark)."""
        ...

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        """Delete these on the server, calling ``forgotten`` with the IDs of each request
        once it succeeded (the engine records them before the next). Idempotent."""
        ...


KnownIds = Callable[[Sequence[str]], set[str]]
"""Which of these remote IDs the ledger has recorded (any generation, any state)."""


@runtime_checkable
class Relisting(Protocol):
    """Optional, for a receiver whose pending list may itself hide what it returns (MFT Gateway
    under reading (b) of issue 13: the list call marks its answer fetched). A process killed
    after such a list answer and before the engine recorded it would never see those messages
    listed again; :meth:`relist` finds them by a listing that hides nothing.

    The engine calls it before :meth:`Receiver.pending` at every poll: with ``since`` (a
    walk of what the server has) at its first poll (until one such pass completes) and then
    periodically, and with ``since=None`` in between (only what this process's own list calls
    returned and did not hand out, e.g. after a failed lookup; no request if there is none).
    What it hands out is what the ledger did not know when asked; the engine still decides
    from the ledger and never treats a relisted message it knows as a redelivery (a relisted
    message says nothing about its read flag)."""

    def relist(
        self, known: KnownIds, since: float | None, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        """Pages of messages this process listed and did not hand out, then (``since`` given)
        those received at or after ``since`` (epoch seconds) that the server has, read or not,
        newest first; only those ``known`` does not name, each looked up as for
        :meth:`Receiver.pending`. Stops between requests once ``stop`` is set. The backend
        bounds the walk's cost and says how."""
        ...


# -- certificates (optional) ------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """One certificate of the account as the daemon reports it (status, metrics, health).
    ``type`` in the backend's own words; ``expires_at`` epoch seconds (None: the server gave
    no readable date); ``belongs_to``: the stations and partners that use it."""

    alias: str
    type: str
    subject: str | None
    expires_at: float | None
    belongs_to: tuple[str, ...] = ()

    def days_left(self, now: float) -> int | None:
        """Whole days until expiry (negative once expired); None without a date."""
        if self.expires_at is None:
            return None
        return math.floor((self.expires_at - now) / 86400)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@runtime_checkable
class Certificates(Protocol):
    """Optional: a backend whose API shows the account's certificates (an expired one stops
    its partnership: seed 002's CERT_HAS_EXPIRED). A backend without it has nothing to report
    (AS2 Gateway v1)."""

    def certificates(self) -> list[Certificate]:
        """The account's certificates, as last read (the backend bounds how often it asks and
        logs the expiry warnings). Raises GatewayError if they were never read."""
        ...


class Backend(Sender, Receiver, Protocol):
    """One gateway API, as the daemon drives it."""

    capabilities: Capabilities

    def close(self) -> None: ...
