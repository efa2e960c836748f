"""The inbound engine: every received attachment lands in its inbox exactly once.

One poll (:meth:`InboundEngine.poll`):

1. finish file moves an earlier storage error interrupted (:mod:`.recovery`);
2. acknowledge the messages that are STORED but not yet READ;
3. fetch the FETCHING messages whose next attempt is due -- by ID, from the ledger, whatever
   the server's read flag says (the ledger, not the server, is the truth);
4. take what the backend lists as pending, a page at a time: decide per message
   (:mod:`.decide`), commit FETCHING rows *before* any download, then have the backend
   download and store what it hands back (:mod:`.fetch`, :mod:`.store`);
5. with ``delete_after_store`` (and a backend that deletes), have the server forget READ
   messages.

The engine drives the gateway only through :class:`~as2sync.backends.base.Receiver` and
branches on its :class:`~as2sync.backends.base.Capabilities` (``read_flag``, ``deletes``),
never on which backend it is. How the pending list is walked, which side of a message is the
station, how downloads are batched: the backend's business (AS2 Gateway v1:
:mod:`as2sync.backends.as2gateway.receiving`).

Crash safety is described where each step happens: ``ledger/inbound.py`` (the states),
``store.py`` (the commit/move order) and ``recovery.py`` (what a restart finishes).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from as2sync.backends.base import Pending, Receiver
from as2sync.config.schema import Config
from as2sync.errors import PermanentError
from as2sync.failpoints import failpoint
from as2sync.inbound import fetch, recovery, store
from as2sync.inbound.context import Context, attachment_names, log
from as2sync.inbound.record import record
from as2sync.inbound.relisting import Relister
from as2sync.inbound.summary import PollSummary
from as2sync.inbound.unrecorded import Unrecorded, UnrecordedMessage
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.db import Ledger
from as2sync.ledger.inbound import InboundMessage, InboundState


@dataclass(frozen=True)
class InboundStats:
    last_poll_at: float | None
    last_stored_at: float | None
    stored_total: int  # messages stored by this process
    pending: int  # messages in the ledger not yet finished (fetching, or stored but unread)


class InboundEngine:
    """Polls a backend and stores received messages; see the module docstring.

    Not thread-safe for concurrent polls: the daemon runs one inbound loop. :meth:`stats` may
    be called from any thread.
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        backend: Receiver,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ctx = Context(config, ledger, backend, clock)
        self._last_poll_at: float | None = None
        self._summary = PollSummary(clock)
        self._unrecorded = Unrecorded(clock)
        self._relister = Relister(self._ctx)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover local work left by a crash; no request is made here.

        Finishes interrupted moves, promotes fully written messages to STORED, deletes orphan
        temp files and the backend's leftover temporary files (batch zips), and makes every
        FETCHING message due at once, so the first poll fetches them again by ID and
        acknowledges the STORED ones.
        """
        ctx = self._ctx
        ctx.tmp.mkdir(parents=True, exist_ok=True)
        finished = recovery.finish_planned(ctx)
        orphans = recovery.remove_orphans(ctx)
        with ctx.ledger.transaction() as session:
            ledger_in.make_fetching_due(session)
            pending = ledger_in.pending_count(session)
        ctx.storage_errors.clear()  # reported again by the first poll if they persist
        log.info("inbound.started", finished_files=finished, orphans=orphans, pending=pending)

    # -- polling ----------------------------------------------------------------------------

    def poll(self, stop: threading.Event) -> int:
        """One poll until nothing new is pending; returns how many messages were stored.

        Raises GatewayError subclasses when the server fails (everything unfinished stays in
        the ledger and is resumed by the next poll), and StorageError at the end of a poll in
        which the local filesystem refused to store something (those messages are retried).
        A listed message the ledger refuses to record does not fail the poll: it stays unread,
        is tried again by the next one and is reported (:mod:`.unrecorded`). Every poll counts
        towards the periodic ``inbound.summary``.
        """
        failed = True
        try:
            stored = self._poll(stop)
            failed = False
            return stored
        finally:
            self._summary.polled(stored=self._ctx.stored, failed=failed)

    def _poll(self, stop: threading.Event) -> int:
        ctx = self._ctx
        ctx.begin_poll()
        self._last_poll_at = ctx.clock()
        recovery.finish_planned(ctx)
        with ctx.ledger.read() as session:
            stored_unread = ledger_in.in_state(session, InboundState.STORED)
            due = ledger_in.due_fetching(session, ctx.clock())
        store.mark_read(ctx, stored_unread)
        fetch.fetch(ctx, due, stop)
        self._unrecorded.begin_poll()
        self._relist(stop)
        try:
            for page in ctx.backend.pending(stop):
                self._handle(page, stop)
        except BaseException:
            # A list call whose answer was lost may still have hidden what it listed.
            self._relister.walk_next()
            raise
        if not stop.is_set():  # every pending message was listed: the rest are over
            self._unrecorded.end_poll()
        if ctx.config.inbound.delete_after_store and ctx.capabilities.deletes and not stop.is_set():
            self._delete_read()
        if ctx.storage_errors:
            raise ctx.storage_errors[0]
        return ctx.stored

    def _relist(self, stop: threading.Event) -> None:
        """What a backend's list calls may have hidden from us (see :mod:`.relisting`); a
        gateway failure fails the poll before anything new is listed."""
        backend = self._relister.backend
        if backend is None:
            return
        walk = self._relister.due()
        started = self._ctx.clock()
        since = self._relister.since() if walk else None
        for page in backend.relist(self._relister.known, since, stop):
            self._handle(page, stop, relisted=True)
        if walk and not stop.is_set():
            self._relister.completed(started)

    def _handle(
        self, page: Sequence[Pending], stop: threading.Event, *, relisted: bool = False
    ) -> None:
        """Decide and act on one page of pending (or relisted) messages."""
        ctx = self._ctx
        if not page:
            return
        recorded = record(ctx, page, relisted=relisted)
        for item, conflict in recorded.conflicts:
            self._unrecorded.met(item, conflict)
        if recorded.created:
            failpoint("inbound.after_fetching_commit")
        for new in recorded.created:
            if new.generation > 1:  # a new generation is only ever made by store-again here
                log.info(
                    "inbound.redelivered",
                    station=new.station,
                    partner=new.partner,
                    message_id=new.message_id,
                    file=attachment_names(new),
                    action="store-again",
                    generation=new.generation,
                )
        store.mark_read(ctx, recorded.mark_read)
        self._skip_redelivered(recorded.skip)
        fetch.fetch(ctx, recorded.fetch, stop)

    def _skip_redelivered(self, rows: Sequence[InboundMessage]) -> None:
        """``on_redelivery: skip``: a finished message pending again is only acknowledged."""
        for row in rows:
            if self._ctx.capabilities.read_flag:  # gone from the server: nothing to mark
                self._ctx.backend.acknowledge([row.message_id])
            log.info(
                "inbound.redelivered",
                station=row.station,
                partner=row.partner,
                message_id=row.message_id,
                file=attachment_names(row),
                action="skip",
            )

    def _delete_read(self) -> None:
        """``delete_after_store``: the server forgets READ messages; each request's are
        committed DELETED before the next is made."""
        ctx = self._ctx
        with ctx.ledger.read() as session:
            rows = ledger_in.in_state(session, InboundState.READ)
        if not rows:
            return
        # Two generations of one message may both be READ: each ID forgotten settles the
        # next row that has it, in the order given.
        waiting: dict[str, deque[InboundMessage]] = defaultdict(deque)
        for row in rows:
            waiting[row.message_id].append(row)

        def forgotten(remote_ids: Sequence[str]) -> None:
            chunk = [waiting[remote_id].popleft() for remote_id in remote_ids]
            self._deleted(chunk)

        ctx.backend.forget([r.message_id for r in rows], forgotten)

    def _deleted(self, chunk: Sequence[InboundMessage]) -> None:
        ctx = self._ctx
        if chunk:
            now = ctx.clock()
            with ctx.ledger.transaction() as session:
                ledger_in.message_deleted(session, [row.id for row in chunk], now=now)
            for row in chunk:
                log.info(
                    "inbound.deleted",
                    station=row.station,
                    partner=row.partner,
                    message_id=row.message_id,
                    file=attachment_names(row),
                )

    # -- operator actions -------------------------------------------------------------------

    def retry_message(self, message_id: str) -> None:
        """Have ``message_id`` fetched again by the next poll (of this process or of the
        running daemon, which shares the ledger).

        A message still being fetched is made due at once. A stored one gets a new generation:
        its files are written again under free names (the earlier files are not touched). The
        message is looked up on the server first, so an unknown ID raises NotFound; one whose
        sides name none of the account's stations raises PermanentError, and so does an ID
        typed without its angle brackets that fits two recorded messages (``<a@x>``, ``a@x``).
        """
        ctx = self._ctx
        pending = ctx.backend.lookup(self._candidates(message_id))
        now = ctx.clock()
        with ctx.ledger.transaction() as session:
            row = ledger_in.latest(session, pending.remote_id)
            if row is not None and row.state == InboundState.FETCHING:
                ledger_in.retry_requested(session, row.id, now=now)
                generation = row.generation
            else:
                generation = 1 if row is None else row.generation + 1
                ledger_in.record_fetching(session, pending, now=now, generation=generation)
        log.info(
            "inbound.retry_requested",
            station=pending.station,
            partner=pending.partner,
            message_id=pending.remote_id,
            file=", ".join(a.name for a in pending.attachments),
            generation=generation,
        )

    def _candidates(self, message_id: str) -> list[str]:
        """The IDs ``message_id`` as an operator typed it may mean, best first: the recorded ID
        it means (exactly it, or the one recorded ID that differs only by angle brackets),
        then as given (the backend may add variants of its own)."""
        with self._ctx.ledger.read() as session:
            recorded = ledger_in.ids_like(session, message_id)
        if len(recorded) > 1:
            raise PermanentError(
                f"message ID {message_id!r} is ambiguous: {' and '.join(recorded)} are different "
                "messages; give the exact ID"
            )
        return list(dict.fromkeys([*recorded, message_id]))

    def unrecorded(self) -> list[UnrecordedMessage]:
        """Listed messages the ledger refused to record in the latest poll (from any thread)."""
        return self._unrecorded.current()

    def stats(self) -> InboundStats:
        with self._ctx.ledger.read() as session:
            pending = ledger_in.pending_count(session)
        return InboundStats(
            last_poll_at=self._last_poll_at,
            last_stored_at=self._ctx.last_stored_at,
            stored_total=self._ctx.stored_total,
            pending=pending,
        )
