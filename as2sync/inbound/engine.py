"""The inbound engine: every received attachment lands in its inbox exactly once.

One poll (:meth:`InboundEngine.poll`):

1. finish file moves an earlier storage error interrupted (:mod:`.recovery`);
2. mark read the messages that are STORED but not yet READ;
3. fetch the FETCHING messages whose next attempt is due -- by ID, from the ledger, whatever
   the gateway's read flag says (the ledger, not the gateway, is the truth);
4. drain the unread list (:mod:`.poller`) for each configured partner type: decide per message
   (:mod:`.decide`), commit FETCHING rows *before* any download, then download and store
   (:mod:`.fetch`, :mod:`.store`);
5. with ``delete_after_store``, delete READ messages on the gateway in bulk.

Which side of a received message is the station is decided by the account's station list
(GET /station, cached, refreshed once per poll when a message names no known station), never
by trusting ``senderId``/``receiverId``. A message that resolves to no station is left unread.

Crash safety is described where each step happens: ``ledger/inbound.py`` (the states),
``store.py`` (the commit/move order) and ``recovery.py`` (what a restart finishes).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.model import (
    Folder,
    Gateway,
    MessageInfo,
    PartnerType,
    normalise_message_id,
    resolve_sides,
)
from as2sync.config.schema import Config, InboundPartnerType
from as2sync.errors import NotFound, PermanentError
from as2sync.failpoints import failpoint
from as2sync.inbound import fetch, recovery, store
from as2sync.inbound.context import Context, attachment_names, log
from as2sync.inbound.poller import drain_unread
from as2sync.inbound.record import Listed, record
from as2sync.inbound.summary import PollSummary
from as2sync.inbound.unrecorded import Unrecorded, UnrecordedMessage
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.db import Ledger
from as2sync.ledger.inbound import InboundMessage, InboundState

DELETE_CHUNK = 100  # the API's bulk-delete limit


@dataclass(frozen=True)
class InboundStats:
    last_poll_at: float | None
    last_stored_at: float | None
    stored_total: int  # messages stored by this process
    pending: int  # messages in the ledger not yet finished (fetching, or stored but unread)


def _partner_types(setting: InboundPartnerType) -> list[PartnerType]:
    if setting is InboundPartnerType.BOTH:
        return [PartnerType.PRODUCTION, PartnerType.TEST]
    return [PartnerType(setting.value)]


class InboundEngine:
    """Polls the gateway and stores received messages; see the module docstring.

    Not thread-safe for concurrent polls: the daemon runs one inbound loop. :meth:`stats` may
    be called from any thread.
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        gateway: Gateway,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ctx = Context(config, ledger, gateway, clock)
        self._stations: set[str] | None = None
        self._stations_refreshed = False
        self._unresolved_logged: set[str] = set()
        self._last_poll_at: float | None = None
        self._summary = PollSummary(clock)
        self._unrecorded = Unrecorded(clock)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Recover local work left by a crash; no gateway request is made here.

        Finishes interrupted moves, promotes fully written messages to STORED, deletes orphan
        temp files and batch zips, and makes every FETCHING message due at once, so the first
        poll fetches them again by ID and marks the STORED ones read.
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
        """One poll until the unread list is drained; returns how many messages were stored.

        Raises GatewayError subclasses when the gateway fails (everything unfinished stays in
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
        self._stations_refreshed = False
        self._last_poll_at = ctx.clock()
        recovery.finish_planned(ctx)
        with ctx.ledger.read() as session:
            stored_unread = ledger_in.in_state(session, InboundState.STORED)
            due = ledger_in.due_fetching(session, ctx.clock())
        store.mark_read(ctx, stored_unread)
        fetch.fetch(ctx, due, stop)
        seen: set[str] = set()
        self._unrecorded.begin_poll()
        for partner_type in _partner_types(ctx.config.inbound.partner_type):
            drain_unread(
                ctx.gateway, partner_type, lambda recs: self._handle(recs, stop), stop, seen
            )
        if not stop.is_set():  # every unread message was listed: the rest are over
            self._unrecorded.end_poll()
        if ctx.config.inbound.delete_after_store and not stop.is_set():
            self._delete_read()
        if ctx.storage_errors:
            raise ctx.storage_errors[0]
        return ctx.stored

    def _resolve(self, info: MessageInfo) -> tuple[str, str] | None:
        if self._stations is None:
            self._stations = {s.as2_id for s in self._ctx.gateway.stations()}
            self._stations_refreshed = True
        sides = resolve_sides(info, self._stations)
        if sides is None and not self._stations_refreshed:
            # A station added since we last asked: refresh once per poll, not per message.
            self._stations = {s.as2_id for s in self._ctx.gateway.stations()}
            self._stations_refreshed = True
            sides = resolve_sides(info, self._stations)
        return sides

    def _handle(self, records: Sequence[MessageInfo], stop: threading.Event) -> None:
        """Decide and act on one page of unread messages."""
        ctx = self._ctx
        resolved: list[Listed] = []
        for info in records:
            sides = self._resolve(info)
            if sides is None:
                if info.message_id not in self._unresolved_logged:
                    self._unresolved_logged.add(info.message_id)
                    log.warning(
                        "inbound.no_station",
                        station=None,
                        partner=None,
                        message_id=info.message_id,
                        file=", ".join(a.name for a in info.attachments),
                        sender_id=info.sender_id,
                        receiver_id=info.receiver_id,
                    )
                continue
            resolved.append(Listed(info, *sides))
        if not resolved:
            return
        recorded = record(ctx, resolved)
        for item, conflict in recorded.conflicts:
            self._unrecorded.met(item.station, item.partner, item.info, conflict)
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
        """``on_redelivery: skip``: a finished message unread again is only marked read."""
        for row in rows:
            with contextlib.suppress(NotFound):  # gone from the gateway: nothing to mark
                self._ctx.gateway.mark_read(row.message_id)
            log.info(
                "inbound.redelivered",
                station=row.station,
                partner=row.partner,
                message_id=row.message_id,
                file=attachment_names(row),
                action="skip",
            )

    def _delete_read(self) -> None:
        """``delete_after_store``: delete READ messages on the gateway, 100 per request."""
        ctx = self._ctx
        with ctx.ledger.read() as session:
            rows = ledger_in.in_state(session, InboundState.READ)
        for start in range(0, len(rows), DELETE_CHUNK):
            chunk = rows[start : start + DELETE_CHUNK]
            ctx.gateway.delete(Folder.RECEIVED, [r.message_id for r in chunk])
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
        message is looked up on the gateway first, so an unknown ID raises NotFound; one whose
        sides name none of the account's stations raises PermanentError, and so does an ID
        typed without its angle brackets that fits two recorded messages (``<a@x>``, ``a@x``).
        """
        ctx = self._ctx
        info = self._lookup(message_id)
        self._stations = None  # ask afresh: an operator is waiting on this answer
        sides = self._resolve(info)
        if sides is None:
            raise PermanentError(
                f"message {message_id}: neither {info.sender_id} nor {info.receiver_id} "
                "is a station of this account"
            )
        station, partner = sides
        now = ctx.clock()
        with ctx.ledger.transaction() as session:
            row = ledger_in.latest(session, info.message_id)
            if row is not None and row.state == InboundState.FETCHING:
                ledger_in.retry_requested(session, row.id, now=now)
                generation = row.generation
            else:
                generation = 1 if row is None else row.generation + 1
                ledger_in.record_fetching(
                    session, info, station=station, partner=partner, now=now,
                    generation=generation,
                )  # fmt: skip
        log.info(
            "inbound.retry_requested",
            station=station,
            partner=partner,
            message_id=info.message_id,
            file=", ".join(a.name for a in info.attachments),
            generation=generation,
        )

    def _lookup(self, message_id: str) -> MessageInfo:
        """The gateway's entity for ``message_id`` as an operator typed it: the recorded ID it
        means first (exactly it, or the one recorded ID that differs only by angle brackets),
        then as given, then with angle brackets added."""
        with self._ctx.ledger.read() as session:
            recorded = ledger_in.ids_like(session, message_id)
        if len(recorded) > 1:
            raise PermanentError(
                f"message ID {message_id!r} is ambiguous: {' and '.join(recorded)} are different "
                "messages; give the exact ID"
            )
        known = recorded[0] if recorded else None
        bare = normalise_message_id(message_id)
        candidates = dict.fromkeys(c for c in (known, message_id, f"<{bare}>") if c)
        error: NotFound | None = None
        for candidate in candidates:
            try:
                return self._ctx.gateway.get_received(candidate)
            except NotFound as exc:
                error = error or exc
        assert error is not None
        raise error

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
