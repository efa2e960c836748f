"""The in-memory reference backend: a small gateway held in memory, and the backend driving it.

It is the fake that tests the seam itself (the emulator stays the real-protocol fake of the
AS2 Gateway v1 API): every contract point of :mod:`as2sync.backends.base` holds for it, and
its knobs produce every answer an engine must survive. It needs no network.

:class:`MemoryServer` is the gateway: stations and partners, the messages it was sent (with
the bytes it got, so a test can prove byte-identity and count duplicates) and their delivery,
the messages it received for the account (with a read flag, unless the server has none, like
S3), and fault knobs:

* :meth:`MemoryServer.inject` makes the next calls of one kind fail: ``Fault.BEFORE`` raises
  ``TransientError`` and provably nothing happened; ``Fault.AFTER`` lets the call take effect
  and then fails it (a submit raises ``UnknownOutcome`` and the message IS kept);
  ``Fault.REFUSE`` raises ``PermanentError`` and nothing happened;
* :meth:`MemoryServer.withhold` and :meth:`MemoryServer.cut_short`: partial downloads (a
  message not served, an attachment cut short on the way);
* ``latency``: every call takes this long, waited through the injected ``sleep`` (tests pass
  one that moves their clock, never waiting for real);
* ``visible_after``: a sent message can be looked up only this long after it was accepted
  (the v1 queued list omits messages being processed), so locate must wait for it.

:class:`MemoryBackend` locates a send of unknown outcome by content (names, sizes, SHA-256),
as v1 does, but more cautiously: rows with the same bytes are matched only when there are as
many such messages as rows; otherwise they wait and, after the grace, go to a person.

A :class:`MemoryServer` outlives the :class:`MemoryBackend` objects built on it, as a gateway
outlives the processes that talk to it: a test "restarts" by building a new backend on the
same server. Both are thread-safe (one lock over the server's state; the backend keeps none).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import itertools
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import structlog

from as2sync.backends.base import (
    Attachment,
    Capabilities,
    Content,
    ContentRefused,
    Delivery,
    Doubt,
    Found,
    Located,
    Lookup,
    OutboundFile,
    OutboundMessage,
    Pending,
    Receipt,
    Remote,
    SentRef,
    Sink,
    Tracked,
    Wanted,
)
from as2sync.errors import (
    ContentChanged,
    InvalidRequest,
    NotFound,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from as2sync.failpoints import failpoint
from as2sync.folders.fsutil import storage_error

log = structlog.get_logger("as2sync.backends.memory")

MEMORY_CAPABILITIES = Capabilities(
    name="memory",
    max_files_per_message=10,
    max_bytes_per_message=None,
    idempotent_submit=False,
    read_flag=True,
    tracks_delivery=True,
    lookup=Lookup.BY_CONTENT,
    deletes=True,
)
"""What the memory gateway offers unless told otherwise (see :class:`MemoryServer`)."""


class Op(enum.StrEnum):
    """The kinds of call a fault can be injected into."""

    SUBMIT = "submit"
    LOCATE = "locate"
    TRACK = "track"
    PENDING = "pending"  # one page request
    DOWNLOAD = "download"
    LOOKUP = "lookup"
    ACKNOWLEDGE = "acknowledge"
    FORGET = "forget"


class Fault(enum.Enum):
    BEFORE = "before"
    """``TransientError`` before anything happened (the request provably did not take effect)."""
    AFTER = "after"
    """The call takes effect, then fails: a submit raises ``UnknownOutcome`` (the message is
    kept); a download hands out its first message and then raises ``TransientError``; any
    other (idempotent) call raises ``TransientError`` after doing its work."""
    REFUSE = "refuse"
    """``PermanentError``: the server refused; nothing happened."""


class Behaviour(enum.Enum):
    """What a partner does with messages sent to it (their delivery, as :meth:`track` sees)."""

    DELIVER = "deliver"  # delivered ``delivery_delay`` seconds after it was accepted
    FAIL = "fail"  # the gateway gives up at once
    HOLD = "hold"  # pending until a test calls :meth:`MemoryServer.set_delivery`


@dataclass
class SentMessage:
    """A message the server accepted: exactly the bytes it got."""

    remote_id: str
    station: str
    partner: str
    files: tuple[tuple[str, bytes], ...]
    content_types: tuple[str, ...]
    subject: str | None
    accepted_at: float
    delivery: Delivery = Delivery.PENDING
    reason: str | None = None

    @property
    def contents(self) -> tuple[Content, ...]:
        return tuple(
            sorted(Content(n, len(d), hashlib.sha256(d).hexdigest()) for n, d in self.files)
        )


@dataclass
class ReceivedMessage:
    """A message the server received for the account."""

    remote_id: str
    station: str
    partner: str
    persisted_ms: int
    files: tuple[tuple[str, bytes], ...]
    subject: str | None = None
    read: bool = False

    def as_pending(self) -> Pending:
        attachments = tuple(Attachment(n, len(d)) for n, d in self.files)
        return Pending(
            self.remote_id, self.station, self.partner, self.persisted_ms, attachments, self.subject
        )


@dataclass
class _Injected:
    fault: Fault
    times: int


class MemoryServer:
    """The gateway itself; see the module docstring. Its methods are the test's hands on the
    world (seed, inspect, inject faults) and, below them, the requests the backend makes.

    ``clock`` is epoch seconds, and should be the engine's clock (a test rig shares one), since
    ``locate`` compares the server's acceptance times with the engine's ``started_at``.
    """

    def __init__(
        self,
        *,
        capabilities: Capabilities = MEMORY_CAPABILITIES,
        stations: Iterable[str] = ("MYSTATION",),
        partners: Iterable[str] = ("ACME",),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        latency: float = 0.0,
        visible_after: float = 0.0,
        delivery_delay: float = 0.0,
        page_length: int = 100,
        mark_read_on_download: bool = False,
    ) -> None:
        self.capabilities = capabilities
        self.clock = clock
        self.sleep = sleep
        self.latency = latency
        self.visible_after = visible_after
        self.delivery_delay = delivery_delay
        self.page_length = page_length
        self.mark_read_on_download = mark_read_on_download
        """Whether a download marks what it serves read (as v1's batch request does); the
        backend then hands those messages to ``sink.store`` as acknowledged."""
        self._lock = threading.Lock()
        self._stations = set(stations)
        self._partners: dict[tuple[str, str], Behaviour] = {
            (s, p): Behaviour.DELIVER for s in self._stations for p in partners
        }
        self._sent: dict[str, SentMessage] = {}
        self._received: dict[str, ReceivedMessage] = {}
        self._faults: dict[Op, deque[_Injected]] = {}
        self._withheld: Counter[str] = Counter()
        self._cut: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._last_persisted_ms = 0
        self.calls: Counter[Op] = Counter()
        """Requests made, by kind (a test counts what a pass cost)."""

    # -- the test's hands -------------------------------------------------------------------

    def add_partner(
        self, station: str, partner: str, behaviour: Behaviour = Behaviour.DELIVER
    ) -> None:
        with self._lock:
            self._stations.add(station)
            self._partners[(station, partner)] = behaviour

    def receive(
        self,
        station: str,
        partner: str,
        files: Sequence[tuple[str, bytes]],
        *,
        subject: str | None = None,
        remote_id: str | None = None,
    ) -> str:
        """A message arrives for the account from ``partner``; returns its ID."""
        with self._lock:
            rid = (
                remote_id if remote_id is not None else f"<in-{next(self._ids):06}@memory.as2sync>"
            )
            if rid in self._received:
                raise ValueError(f"already received: {rid}")
            # Strictly increasing, so the listing order is the order of arrival.
            persisted_ms = max(int(self.clock() * 1000), self._last_persisted_ms + 1)
            self._last_persisted_ms = persisted_ms
            self._received[rid] = ReceivedMessage(
                rid, station, partner, persisted_ms, tuple(files), subject
            )
            return rid

    def sent(self) -> list[SentMessage]:
        """Every message the server accepted, oldest first (copies)."""
        with self._lock:
            return [replace(m) for m in self._sent.values()]

    def sent_message(self, remote_id: str) -> SentMessage | None:
        with self._lock:
            m = self._sent.get(remote_id)
            return None if m is None else replace(m)

    def received(self, remote_id: str) -> ReceivedMessage | None:
        with self._lock:
            m = self._received.get(remote_id)
            return None if m is None else replace(m)

    def is_read(self, remote_id: str) -> bool:
        with self._lock:
            m = self._received.get(remote_id)
            return m is not None and m.read

    def set_read(self, remote_id: str, read: bool) -> None:
        """Mark a received message read or unread (a redelivery, or a person in the web UI)."""
        with self._lock:
            self._received[remote_id].read = read

    def set_delivery(self, remote_id: str, delivery: Delivery, reason: str | None = None) -> None:
        with self._lock:
            self._sent[remote_id].delivery = delivery
            self._sent[remote_id].reason = reason

    def inject(self, op: Op, fault: Fault, *, times: int = 1) -> None:
        """The next ``times`` calls of kind ``op`` fail with ``fault`` (queued after any
        earlier injection for ``op``)."""
        with self._lock:
            self._faults.setdefault(op, deque()).append(_Injected(fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._withheld.clear()
            self._cut.clear()

    def withhold(self, remote_id: str, *, times: int = 1) -> None:
        """The next ``times`` downloads do not serve this message (as a batch's error entry)."""
        with self._lock:
            self._withheld[remote_id] += times

    def cut_short(self, remote_id: str, *, times: int = 1) -> None:
        """The next ``times`` downloads of this message break off halfway through its first
        attachment still wanted (a connection lost mid-body)."""
        with self._lock:
            self._cut[remote_id] += times

    # -- requests: what the backend asks of the server (tests use the methods above) -----

    def request(self, op: Op) -> Fault | None:
        """Every request starts here: it takes ``latency``, is counted, and raises an injected
        ``BEFORE``/``REFUSE``; an injected ``AFTER`` is returned for the caller to apply once
        the request has taken effect."""
        if self.latency:
            self.sleep(self.latency)  # outside the lock: a slow call holds up no other
        with self._lock:
            self.calls[op] += 1
            queue = self._faults.get(op)
            fault = None
            if queue:
                fault = queue[0].fault
                queue[0].times -= 1
                if queue[0].times <= 0:
                    queue.popleft()
        if fault is Fault.BEFORE:
            raise TransientError(f"memory gateway: {op} failed before it took effect", status=503)
        if fault is Fault.REFUSE:
            raise PermanentError(f"memory gateway: {op} refused", status=400)
        return fault

    def accept(self, message: OutboundMessage, files: list[tuple[str, bytes]]) -> SentMessage:
        with self._lock:
            if (message.station, message.partner) not in self._partners:
                raise PermanentError(
                    f"memory gateway: no partnership {message.station} -> {message.partner}",
                    status=400,
                )
            remote_id = f"<out-{next(self._ids):06}@memory.as2sync>"
            sent = SentMessage(
                remote_id,
                message.station,
                message.partner,
                tuple(files),
                tuple(f.content_type for f in message.files),
                message.subject,
                accepted_at=self.clock(),
            )
            self._sent[remote_id] = sent
            return replace(sent)

    def has_station(self, station: str) -> bool:
        with self._lock:
            return station in self._stations

    def visible_sent(self, station: str, partner: str, now: float) -> list[SentMessage]:
        with self._lock:
            return [
                replace(m)
                for m in self._sent.values()
                if m.station == station
                and m.partner == partner
                and m.accepted_at + self.visible_after <= now
            ]

    def delivery_of(self, remote_id: str) -> SentMessage | None:
        """The message with its delivery brought up to date with the partner's behaviour."""
        with self._lock:
            m = self._sent.get(remote_id)
            if m is None:
                return None
            if m.delivery is Delivery.PENDING:
                behaviour = self._partners.get((m.station, m.partner), Behaviour.DELIVER)
                if behaviour is Behaviour.FAIL:
                    m.delivery, m.reason = Delivery.FAILED, "the partner refused the message"
                elif (
                    behaviour is Behaviour.DELIVER
                    and self.clock() >= m.accepted_at + self.delivery_delay
                ):
                    m.delivery = Delivery.DELIVERED
            return replace(m)

    def listing(self, exclude: set[str]) -> list[Pending]:
        """One page of what the server lists as pending: unread messages (every message it
        still has, without a read flag), oldest first, leaving out ``exclude``."""
        with self._lock:
            listed = sorted(
                (
                    m
                    for m in self._received.values()
                    if m.remote_id not in exclude and not (self.capabilities.read_flag and m.read)
                ),
                key=lambda m: m.persisted_ms,
            )
            return [m.as_pending() for m in listed[: self.page_length]]

    def serve(self, remote_id: str) -> tuple[ReceivedMessage | None, bool]:
        """A received message as a download serves it (None: not served now), and whether it
        is to be cut short; marks it read when downloads do."""
        with self._lock:
            m = self._received.get(remote_id)
            if m is None:
                return None, False
            if self._withheld[remote_id] > 0:
                self._withheld[remote_id] -= 1
                return None, False
            cut = self._cut[remote_id] > 0
            if cut:
                self._cut[remote_id] -= 1
            elif self.mark_read_on_download and self.capabilities.read_flag:
                m.read = True
            return replace(m), cut

    def lookup_received(self, remote_ids: Sequence[str]) -> Pending:
        with self._lock:
            for rid in remote_ids:
                m = self._received.get(rid)
                if m is None:
                    continue
                if m.station not in self._stations:
                    raise PermanentError(
                        f"memory gateway: {rid} is for {m.station}, not a station of this account",
                        status=400,
                    )
                return m.as_pending()
            raise NotFound(f"memory gateway: no received message {remote_ids}", status=404)

    def mark_read(self, remote_ids: Sequence[str]) -> set[str]:
        """Marks these read; returns those the server does not have."""
        with self._lock:
            gone = set()
            for rid in remote_ids:
                m = self._received.get(rid)
                if m is None:
                    gone.add(rid)
                elif self.capabilities.read_flag:
                    m.read = True
            return gone

    def delete(self, remote_ids: Sequence[str]) -> None:
        with self._lock:
            for rid in remote_ids:
                self._received.pop(rid, None)


# -- the backend ---------------------------------------------------------------------------


def _read_claimed(item: OutboundFile) -> bytes:
    """The recorded bytes of ``item``, read whole before anything is sent: StorageError if it
    cannot be read, ContentChanged (nothing sent) if it is not what the claim recorded."""
    try:
        with contextlib.ExitStack() as stack:
            if item.opener is not None:
                fh = stack.enter_context(item.opener())
            else:  # the path as given, refusing only a link as its last component
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                fh = stack.enter_context(open(os.open(item.path, flags), "rb"))
            data = fh.read(item.size + 1)
    except OSError as exc:
        raise storage_error("read", item.path, exc) from exc
    if len(data) != item.size:
        raise ContentChanged(
            f"{item.name} changed after it was claimed: it has other than the "
            f"{item.size} bytes recorded"
        )
    if item.sha256 is not None and hashlib.sha256(data).hexdigest() != item.sha256:
        raise ContentChanged(
            f"{item.name} changed after it was claimed: its bytes are not the ones recorded "
            "(SHA-256 differs)"
        )
    return data


def _content_key(contents: Iterable[Content]) -> tuple[Content, ...]:
    return tuple(sorted(contents))


class MemoryBackend:
    """The :class:`~as2sync.backends.base.Backend` over a :class:`MemoryServer`."""

    def __init__(self, server: MemoryServer) -> None:
        self.server = server
        self.capabilities: Capabilities = server.capabilities

    def close(self) -> None:
        """Nothing to release: the server is the test's."""

    # -- sending ----------------------------------------------------------------------------

    def claim_remote(self, station: str, partner: str) -> Remote:
        return {}

    def submit(self, message: OutboundMessage) -> Receipt:
        self._check(message)
        files = [(f.name, _read_claimed(f)) for f in message.files]
        fault = self.server.request(Op.SUBMIT)
        sent = self.server.accept(message, files)
        if fault is Fault.AFTER:
            raise UnknownOutcome("memory gateway: the answer to a submit was lost")
        return Receipt(sent.remote_id)

    def _check(self, message: OutboundMessage) -> None:
        """InvalidRequest for what the server could never accept (before any byte is sent)."""
        caps = self.capabilities
        if not message.files:
            raise InvalidRequest("a message needs at least one file")
        if len(message.files) > caps.max_files_per_message:
            raise InvalidRequest(
                f"{len(message.files)} files; a message carries at most "
                f"{caps.max_files_per_message}"
            )
        names = [f.name for f in message.files]
        if len(set(names)) != len(names):
            raise InvalidRequest("two files of one message have the same name")
        total = sum(f.size for f in message.files)
        if caps.max_bytes_per_message is not None and total > caps.max_bytes_per_message:
            raise InvalidRequest(
                f"{total} bytes; a message carries at most {caps.max_bytes_per_message}"
            )

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
        """By content: a row's message carries exactly the row's files (names, sizes, SHA-256)
        and was accepted after the row's submit began. Several rows with the same bytes share
        their candidates: they are matched in order only when there are exactly as many
        messages as rows and every row may be settled (each then gets a message of its own
        bytes); otherwise they wait, and after the grace go to a person."""
        if stop is not None and stop.is_set():
            return {}
        fault = self.server.request(Op.LOCATE)
        settle = [r for r in rows if r.settle]
        if self.capabilities.lookup is Lookup.NONE:
            result = {
                r.id: Located(Found.AMBIGUOUS, why="this gateway cannot look up a send")
                for r in settle
            }
        else:
            taken = set(attributed)
            visible = [
                m
                for m in self.server.visible_sent(station, partner, now)
                if m.remote_id not in taken
            ]
            result = {}
            groups: dict[tuple[Content, ...], list[Doubt]] = {}
            for r in rows:
                groups.setdefault(_content_key(r.files), []).append(r)
            for key, claimants in groups.items():
                earliest = min(r.started_at for r in claimants)
                found = sorted(
                    (m for m in visible if m.contents == key and m.accepted_at >= earliest),
                    key=lambda m: (m.accepted_at, m.remote_id),
                )
                claimants.sort(key=lambda r: (r.started_at, r.id))
                for r in claimants:
                    if r.settle:
                        result[r.id] = self._decide(r, claimants, found, now, grace)
        if fault is Fault.AFTER:
            raise TransientError("memory gateway: the answer to a lookup was lost", status=503)
        return result

    def _decide(
        self, row: Doubt, claimants: list[Doubt], found: list[SentMessage], now: float, grace: float
    ) -> Located:
        # A message may be invisible for visible_after: ABSENT only once that has passed too.
        absent_after = max(grace, self.server.visible_after)
        grace_ends = row.started_at + absent_after if absent_after > grace else None
        overdue = now - row.started_at >= absent_after
        if not found:
            if overdue:
                return Located(Found.ABSENT, why="no message with these bytes arrived")
            return Located(
                Found.WAIT,
                why="not visible yet; within the grace period",
                grace_ends=grace_ends,
            )
        in_order = all(
            m.accepted_at >= r.started_at for m, r in zip(found, claimants, strict=False)
        )
        if len(found) == len(claimants) and in_order and all(r.settle for r in claimants):
            # Several rows with the same bytes: any pairing gives each row a message carrying
            # exactly its bytes, and each message to one row.
            match = found[claimants.index(row)]
            return Located(Found.FOUND, match.remote_id, why="same bytes", where="sent")
        why = f"{len(found)} messages with these bytes for {len(claimants)} rows"
        if overdue:
            return Located(Found.AMBIGUOUS, why=f"{why}: cannot be told apart")
        return Located(Found.WAIT, why=why, grace_ends=grace_ends)

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        fault = self.server.request(Op.TRACK)
        result: dict[int, Tracked] = {}
        if self.capabilities.tracks_delivery:
            for ref in sent:
                m = self.server.delivery_of(ref.remote_id)
                if m is None or (m.station, m.partner) != (station, partner):
                    continue  # nothing learned
                status = {
                    Delivery.PENDING: "Pending",
                    Delivery.DELIVERED: "Delivered",
                    Delivery.FAILED: "Failed",
                    Delivery.UNCERTAIN: "Uncertain",
                }[m.delivery]
                mdn = "Received" if m.delivery is Delivery.DELIVERED else "Pending"
                result[ref.id] = Tracked(m.delivery, status, mdn, m.reason)
        if fault is Fault.AFTER:
            raise TransientError("memory gateway: the answer to a status request was lost")
        return result

    # -- receiving --------------------------------------------------------------------------

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        handed: set[str] = set()
        while not stop.is_set():
            fault = self.server.request(Op.PENDING)
            page = self.server.listing(handed)
            if fault is Fault.AFTER:
                raise TransientError("memory gateway: the answer to a list request was lost")
            if not page:
                return
            handed.update(p.remote_id for p in page)
            placed = [p for p in page if self.server.has_station(p.station)]
            for p in page:
                if p not in placed:
                    log.warning("memory.no_station", message_id=p.remote_id, station=p.station)
            if placed:
                yield placed

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        fault = self.server.request(Op.DOWNLOAD)
        for n, w in enumerate(wanted):
            if stop.is_set():
                return
            if n == 1 and fault is Fault.AFTER:
                raise TransientError("memory gateway: a download broke off", status=503)
            self._download_one(w, sink)

    def _download_one(self, w: Wanted, sink: Sink) -> None:
        message, cut = self.server.serve(w.remote_id)
        failpoint("inbound.after_download")  # served (and perhaps marked read), not yet staged
        if message is None:
            sink.not_served([w.key], "the gateway did not serve it")
            return
        served = tuple(Attachment(name, len(data)) for name, data in message.files)
        if served != w.attachments:
            sink.refused([w.key], f"the gateway serves {served}, the listing said {w.attachments}")
            return
        try:
            staged = sink.stage(w.key)
            for index, (_name, data) in enumerate(message.files):
                if index in w.done:
                    continue  # stored already: never written again
                body = data[: len(data) // 2] if cut else data
                cut = False  # only the first attachment written breaks off
                staged.add_stream(index, io.BytesIO(body), w.attachments[index].size)
        except ContentRefused as exc:
            sink.refused([w.key], f"attachment cut short: {exc}")
            return
        except OSError as exc:
            sink.storage_failed([w.key], exc)
            return
        acknowledged = self.server.mark_read_on_download and self.capabilities.read_flag
        sink.store([staged], acknowledged=[acknowledged])

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        fault = self.server.request(Op.LOOKUP)
        found = self.server.lookup_received(remote_ids)
        if fault is Fault.AFTER:
            raise TransientError("memory gateway: the answer to a lookup was lost")
        return found

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        if not self.capabilities.read_flag or not remote_ids:
            return set()  # no read flag: the ledger is the only memory of what was fetched
        fault = self.server.request(Op.ACKNOWLEDGE)
        gone = self.server.mark_read(remote_ids)
        if fault is Fault.AFTER:
            raise TransientError("memory gateway: the answer to mark-read was lost")
        return gone

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        if not self.capabilities.deletes:
            raise InvalidRequest("this gateway does not delete received messages")
        for start in range(0, len(remote_ids), self.server.page_length):
            chunk = remote_ids[start : start + self.server.page_length]
            fault = self.server.request(Op.FORGET)
            self.server.delete(chunk)
            if fault is Fault.AFTER:
                raise TransientError("memory gateway: the answer to a delete was lost")
            forgotten(chunk)
