"""Commit what to do with a page of listed messages, before anything is downloaded.

Per message: decide (:mod:`.decide`) from the ledger's newest generation of its exact ID, and
record the decision -- a FETCHING row for a new message or a new generation, a redelivery
count for a skipped one. The caller acts only on what was committed.

A page is recorded in one transaction (one fsync for up to a page of messages). The decisions
never write a row that is already there, so a conflict means something outside this loop: an
``as2sync retry`` in another process recording the same message a moment earlier, or a damaged
ledger. Then the page is recorded again message by message, so the conflict stays with its
message: that one is left unread on the gateway (nothing was downloaded; the next poll decides
again) and returned to the caller, which reports it (:mod:`.unrecorded`); every other
message goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from as2sync.backends.base import Pending
from as2sync.errors import LedgerConflict
from as2sync.inbound.context import Context
from as2sync.inbound.decide import Action, Known, decide
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.inbound import InboundMessage, NewMessage


@dataclass
class Recorded:
    """What was committed for a page, for the caller to act on."""

    fetch: list[InboundMessage] = field(default_factory=list)  # FETCHING rows to download
    created: list[InboundMessage] = field(default_factory=list)  # new rows among ``fetch``
    mark_read: list[InboundMessage] = field(default_factory=list)  # STORED: only unread
    skip: list[InboundMessage] = field(default_factory=list)  # finished, redelivered: skip
    conflicts: list[tuple[Pending, LedgerConflict]] = field(default_factory=list)  # not recorded

    def add(self, other: Recorded) -> None:
        self.fetch += other.fetch
        self.created += other.created
        self.mark_read += other.mark_read
        self.skip += other.skip


def record(ctx: Context, listed: Sequence[Pending], *, relisted: bool = False) -> Recorded:
    """Decide and commit for every message of ``listed``; see the module docstring.
    ``relisted``: found by :meth:`~as2sync.backends.base.Relisting.relist`, which lists read
    messages too, so a finished one there is no redelivery (decided as without a read flag)."""
    now = ctx.clock()
    read_flag = ctx.capabilities.read_flag and not relisted
    try:
        with ctx.ledger.transaction() as session:
            return _decide_and_record(ctx, session, listed, now, read_flag)
    except LedgerConflict:
        pass  # rolled back as a whole: record one by one to find the message it belongs to
    result = Recorded()
    for item in listed:
        try:
            with ctx.ledger.transaction() as session:
                one = _decide_and_record(ctx, session, [item], now, read_flag)
        except LedgerConflict as exc:
            result.conflicts.append((item, exc))
        else:
            result.add(one)  # only once committed
    return result


def _decide_and_record(
    ctx: Context, session: Session, listed: Sequence[Pending], now: float, read_flag: bool
) -> Recorded:
    known = ledger_in.latest_many(session, [item.remote_id for item in listed])
    decided: list[tuple[Action, InboundMessage | None]] = []
    new: list[NewMessage] = []
    for item in listed:
        row = known.get(item.remote_id)
        action = decide(
            None if row is None else Known(row.state, row.next_attempt_at, row.id in ctx.tried),
            now=now,
            on_redelivery=ctx.config.inbound.on_redelivery,
            read_flag=read_flag,
        )
        decided.append((action, row))
        if action is Action.FETCH_NEW or action is Action.STORE_AGAIN:
            generation = 1 if row is None else row.generation + 1
            new.append(NewMessage(item, generation))
    created = iter(ledger_in.record_fetching_many(session, new, now=now))
    result = Recorded()
    for action, row in decided:
        if action is Action.FETCH_NEW or action is Action.STORE_AGAIN:
            fresh = next(created)
            result.fetch.append(fresh)
            result.created.append(fresh)
        elif action is Action.FETCH and row is not None:
            result.fetch.append(row)
        elif action is Action.MARK_READ and row is not None:
            result.mark_read.append(row)
        elif action is Action.SKIP_REDELIVERY and row is not None:
            ledger_in.redelivered(session, row.id, now=now)
            result.skip.append(row)
    return result
