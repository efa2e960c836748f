"""Inbound ledger: which received messages are being fetched, which files were written where.

Two tables. ``inbound_messages`` has one row per *generation* of a received message (a
message stored again on purpose -- ``on_redelivery: store-again`` or ``as2sync retry`` -- gets a
new generation); ``inbound_files`` has one row per file written into an inbox (attachments and
metadata sidecars).

Message states (:class:`InboundState`)::

    FETCHING --all files WRITTEN--> STORED --marked read--> READ --deleted on gateway--> DELETED

File states (:class:`FileState`)::

    (temp written + fsynced) --> PLANNED --placed in the inbox--> WRITTEN

The order of commits against file operations is what makes inbound exactly-once:

* FETCHING is committed *before* the download request. The gateway may mark a message read as
  a side effect of the download; if the process dies afterwards the row still says FETCHING,
  and the message is fetched again by ID. The ledger, not the gateway's read flag, is the truth.
* PLANNED (temp path, final path, SHA-256, size) is committed *after* the temp file is durable
  and *before* it is moved into the inbox. After a crash, a PLANNED row whose temp file is gone
  was moved (a consumer may already have taken it; it is never written again); one whose temp
  file is still there is moved now. A temp file without a PLANNED row is an orphan and deleted.
* STORED is committed once every attachment has a WRITTEN row; READ once the gateway has
  marked the message read (in bulk by the batch request, or one by one).

Messages are keyed by the exact ID the gateway lists (``message_key``, equal to
``message_id``): IDs are the gateway's opaque strings, so ``<a@x>`` and ``a@x`` are two
messages, possibly from two partners. Schema version 1 keyed them by the ID without its angle
brackets, which merged such pairs; :func:`key_by_exact_id` migrates those ledgers.

Every state change is one small function below taking the caller's session; the caller owns
the transaction (``Ledger.transaction()``), so several changes can be committed atomically.
Rows returned by the queries belong to the caller's session; ``Ledger.read()`` rolls back on
exit, which expires them, so a caller that keeps rows beyond the block detaches them first
(``session.expunge_all()``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from as2sync.gateway.base import Attachment, MessageInfo, normalise_message_id
from as2sync.ledger.db import Base


class InboundState(enum.StrEnum):
    FETCHING = "fetching"
    STORED = "stored"
    READ = "read"
    DELETED = "deleted"


FINISHED_STATES = (InboundState.READ, InboundState.DELETED)
_CHUNK = 500  # stays below SQLite's bound-parameter limit


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    items = list(ids)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class FileState(enum.StrEnum):
    PLANNED = "planned"
    WRITTEN = "written"


class FileKind(enum.StrEnum):
    DATA = "data"
    METADATA = "metadata"


class InboundMessage(Base):
    """One generation of one received message, with the list metadata it was fetched against."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("message_key", "generation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(998))  # verbatim, as the gateway lists it
    # The ledger's identity of the message: the exact ID (schema 1: the ID without <>).
    message_key: Mapped[str] = mapped_column(String(998), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    station: Mapped[str] = mapped_column(String(256), index=True)
    partner: Mapped[str] = mapped_column(String(256), index=True)
    partner_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sender_id: Mapped[str] = mapped_column(String(256))
    receiver_id: Mapped[str] = mapped_column(String(256))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    persisted_ms: Mapped[int] = mapped_column(Integer)
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    compressed: Mapped[bool] = mapped_column(Boolean, default=False)
    mdn_status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # [[name, size], ...] in the gateway's order: what every download is verified against.
    attachments: Mapped[list[Any]] = mapped_column(JSON)
    total_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    redeliveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)
    stored_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    read_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    def attachment_list(self) -> tuple[Attachment, ...]:
        return tuple(Attachment(str(name), int(size)) for name, size in self.attachments)


class InboundFile(Base):
    """One file written (or about to be written) into an inbox."""

    __tablename__ = "inbound_files"
    __table_args__ = (UniqueConstraint("message_row", "index", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_row: Mapped[int] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int] = mapped_column(Integer)  # attachment index; -1 for a per-message sidecar
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)  # the name the partner gave, verbatim
    temp_path: Mapped[str] = mapped_column(Text)
    final_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    updated_at: Mapped[float] = mapped_column(Float)


# -- state changes ------------------------------------------------------------------------------


def record_fetching(
    session: Session,
    info: MessageInfo,
    *,
    station: str,
    partner: str,
    now: float,
    generation: int = 1,
    flush: bool = True,
) -> InboundMessage:
    """A new message (or a new generation of one) is about to be downloaded. Commit before
    the request: a crash after the gateway marked it read must still leave a row to resume."""
    row = InboundMessage(
        message_id=info.message_id,
        message_key=info.message_id,
        generation=generation,
        station=station,
        partner=partner,
        partner_type=info.partner_type,
        sender_id=info.sender_id,
        receiver_id=info.receiver_id,
        subject=info.subject,
        persisted_ms=info.persisted_ms,
        signed=info.signed,
        encrypted=info.encrypted,
        compressed=info.compressed,
        mdn_status=info.mdn_status,
        attachments=[[a.name, a.size] for a in info.attachments],
        total_size=info.total_size,
        state=InboundState.FETCHING,
        attempts=0,
        next_attempt_at=0.0,
        redeliveries=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    if flush:  # assigns row.id now; many rows are cheaper flushed at once by the caller
        session.flush()
    return row


def fetch_failed(session: Session, row_id: int, error: str, *, now: float, retry_at: float) -> None:
    """A fetch attempt did not store the message; it stays FETCHING and is retried at
    ``retry_at``."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == row_id, InboundMessage.state == InboundState.FETCHING)
        .values(
            attempts=InboundMessage.attempts + 1,
            last_error=error[:2000],
            next_attempt_at=retry_at,
            updated_at=now,
        )
    )


def retry_requested(session: Session, row_id: int, *, now: float) -> None:
    """An operator asked for a FETCHING message to be tried again at once."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == row_id, InboundMessage.state == InboundState.FETCHING)
        .values(next_attempt_at=0.0, updated_at=now)
    )


def plan_file(
    session: Session,
    *,
    message_row: int,
    index: int,
    kind: FileKind,
    name: str,
    temp_path: str,
    final_path: str,
    sha256: str,
    size: int,
    now: float,
    flush: bool = True,
) -> InboundFile:
    """The temp file is durable; record where it is going before moving it there."""
    row = InboundFile(
        message_row=message_row,
        index=index,
        kind=kind,
        name=name,
        temp_path=temp_path,
        final_path=final_path,
        sha256=sha256,
        size=size,
        state=FileState.PLANNED,
        updated_at=now,
    )
    session.add(row)
    if flush:
        session.flush()
    return row


def replan_file(session: Session, file_id: int, final_path: str, *, now: float) -> None:
    """The planned name was taken by someone else: the file goes to ``final_path`` instead.
    Committed before the move, so the row always names the place the file may be in."""
    session.execute(
        update(InboundFile)
        .where(InboundFile.id == file_id, InboundFile.state == FileState.PLANNED)
        .values(final_path=final_path, updated_at=now)
    )


def file_written(session: Session, file_ids: Iterable[int], *, now: float) -> None:
    """The files are in their inbox (the move is durable)."""
    for chunk in _chunks(file_ids):
        session.execute(
            update(InboundFile)
            .where(InboundFile.id.in_(chunk))
            .values(state=FileState.WRITTEN, updated_at=now)
        )


def message_stored(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """Every file of these messages is in its inbox."""
    for chunk in _chunks(row_ids):
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(chunk), InboundMessage.state == InboundState.FETCHING)
            .values(state=InboundState.STORED, stored_at=now, updated_at=now, last_error=None)
        )


def message_read(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """The gateway has marked these (stored) messages read."""
    for chunk in _chunks(row_ids):
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(chunk), InboundMessage.state == InboundState.STORED)
            .values(state=InboundState.READ, read_at=now, updated_at=now)
        )


def message_deleted(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """``delete_after_store``: these messages are gone from the gateway."""
    for chunk in _chunks(row_ids):
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_(chunk), InboundMessage.state == InboundState.READ)
            .values(state=InboundState.DELETED, updated_at=now)
        )


def redelivered(session: Session, row_id: int, *, now: float) -> None:
    """A finished message showed up unread again and was skipped (marked read again)."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == row_id)
        .values(redeliveries=InboundMessage.redeliveries + 1, updated_at=now)
    )


# -- lookups the engine uses --------------------------------------------------------------------


def latest(session: Session, message_id: str) -> InboundMessage | None:
    """The newest generation of the message with exactly this ID, if any."""
    return session.scalar(
        select(InboundMessage)
        .where(InboundMessage.message_key == message_id)
        .order_by(InboundMessage.generation.desc())
        .limit(1)
    )


def latest_many(session: Session, message_ids: Sequence[str]) -> dict[str, InboundMessage]:
    """:func:`latest` for many IDs at once, keyed by the exact ID."""
    keys = list(set(message_ids))
    found: dict[str, InboundMessage] = {}
    for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
        rows = session.scalars(
            select(InboundMessage).where(InboundMessage.message_key.in_(keys[start : start + 500]))
        )
        for row in rows:
            current = found.get(row.message_key)
            if current is None or row.generation > current.generation:
                found[row.message_key] = row
    return found


def ids_like(session: Session, typed: str) -> list[str]:
    """The recorded IDs an operator may mean by ``typed``: exactly it if recorded, else every
    recorded ID that equals it once angle brackets are ignored (more than one: ambiguous)."""
    bare = normalise_message_id(typed)
    candidates = {typed, bare, f"<{bare}>"}
    found = set(
        session.scalars(
            select(InboundMessage.message_key).where(InboundMessage.message_key.in_(candidates))
        )
    )
    return [typed] if typed in found else sorted(found)


def get_message(session: Session, row_id: int) -> InboundMessage | None:
    return session.get(InboundMessage, row_id)


def due_fetching(session: Session, now: float) -> list[InboundMessage]:
    """FETCHING messages whose next attempt is due, oldest first."""
    return list(
        session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.state == InboundState.FETCHING,
                InboundMessage.next_attempt_at <= now,
            )
            .order_by(InboundMessage.id)
        )
    )


def in_state(session: Session, state: InboundState) -> list[InboundMessage]:
    return list(
        session.scalars(
            select(InboundMessage).where(InboundMessage.state == state).order_by(InboundMessage.id)
        )
    )


def files_of(session: Session, row_id: int) -> list[InboundFile]:
    return list(
        session.scalars(
            select(InboundFile)
            .where(InboundFile.message_row == row_id)
            .order_by(InboundFile.index, InboundFile.kind)
        )
    )


def planned_files(session: Session) -> list[InboundFile]:
    """Files whose move into the inbox may not have happened (crash recovery)."""
    return list(
        session.scalars(
            select(InboundFile)
            .where(InboundFile.state == FileState.PLANNED)
            .order_by(InboundFile.id)
        )
    )


def pending_count(session: Session) -> int:
    """Messages not yet finished (fetching, or stored but not marked read)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.state.in_([InboundState.FETCHING, InboundState.STORED]))
        )
        or 0
    )


# -- queries for `as2sync status` and `as2sync messages` ----------------------------------------


@dataclass(frozen=True)
class StateCount:
    station: str
    partner: str
    state: str
    count: int


def counts_by_state(session: Session) -> list[StateCount]:
    """How many messages are in each state, per station/partner."""
    rows = session.execute(
        select(
            InboundMessage.station,
            InboundMessage.partner,
            InboundMessage.state,
            func.count(),
        )
        .group_by(InboundMessage.station, InboundMessage.partner, InboundMessage.state)
        .order_by(InboundMessage.station, InboundMessage.partner, InboundMessage.state)
    )
    return [StateCount(s, p, st, int(n)) for s, p, st, n in rows]


@dataclass(frozen=True)
class MessageSummary:
    """One received message as ``as2sync messages`` shows it."""

    message_id: str
    generation: int
    station: str
    partner: str
    subject: str | None
    state: str
    files: tuple[str, ...]  # final paths of the data files written (or planned)
    attempts: int
    last_error: str | None
    received_at: float  # the gateway's persistedTimestamp, in seconds
    created_at: float
    updated_at: float
    stored_at: float | None
    read_at: float | None


def _summaries(session: Session, rows: Sequence[InboundMessage]) -> list[MessageSummary]:
    ids = [r.id for r in rows]
    files: dict[int, list[str]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        for f in session.scalars(
            select(InboundFile)
            .where(
                InboundFile.message_row.in_(ids[start : start + 500]),
                InboundFile.kind == FileKind.DATA,
            )
            .order_by(InboundFile.index)
        ):
            files[f.message_row].append(f.final_path)
    return [
        MessageSummary(
            message_id=r.message_id,
            generation=r.generation,
            station=r.station,
            partner=r.partner,
            subject=r.subject,
            state=r.state,
            files=tuple(files[r.id]),
            attempts=r.attempts,
            last_error=r.last_error,
            received_at=r.persisted_ms / 1000.0,
            created_at=r.created_at,
            updated_at=r.updated_at,
            stored_at=r.stored_at,
            read_at=r.read_at,
        )
        for r in rows
    ]


def recent(
    session: Session,
    *,
    limit: int = 100,
    since: float | None = None,
    partner: str | None = None,
) -> list[MessageSummary]:
    """The most recently changed messages, newest first."""
    query = select(InboundMessage).order_by(InboundMessage.updated_at.desc()).limit(limit)
    if since is not None:
        query = query.where(InboundMessage.updated_at >= since)
    if partner is not None:
        query = query.where(InboundMessage.partner == partner)
    return _summaries(session, list(session.scalars(query)))


def recent_failures(session: Session, *, limit: int = 20) -> list[MessageSummary]:
    """Messages still being fetched after at least one failed attempt, newest failure first."""
    query = (
        select(InboundMessage)
        .where(
            InboundMessage.state == InboundState.FETCHING,
            InboundMessage.last_error.is_not(None),
        )
        .order_by(InboundMessage.updated_at.desc())
        .limit(limit)
    )
    return _summaries(session, list(session.scalars(query)))


def prune(session: Session, older_than: float) -> int:
    """Delete finished messages (and their file rows) last changed before ``older_than``.

    Unfinished rows are never pruned whatever their age: they are work still to do.
    """
    old = select(InboundMessage.id).where(
        InboundMessage.state.in_(FINISHED_STATES), InboundMessage.updated_at < older_than
    )
    ids = list(session.scalars(old))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(InboundFile).where(InboundFile.message_row.in_(chunk)))
        session.execute(delete(InboundMessage).where(InboundMessage.id.in_(chunk)))
    return len(ids)


# -- schema migrations --------------------------------------------------------------------------


def key_by_exact_id(session: Session) -> None:
    """Schema 1 -> 2: key every message by its exact ID instead of the ID without ``<>``.

    ``message_id`` has always held the ID exactly as the gateway listed it (or returned it to
    ``as2sync retry``), so it is the key the current code looks up: a message already stored
    is found by its exact ID and never stored again. No lookup by the old bracket-less key is
    kept on purpose: under schema 1 its only effect beyond the exact ID was to take a
    *different* message, whose ID differs only by its brackets, for a redelivery of a stored
    one and skip it; after this migration such a message (still unread on the gateway, since
    the skip marked the other ID read) is fetched and stored at last.

    Two steps, because SQLite checks the unique key row by row within one UPDATE: a row whose
    exact ID equals another row's old key (``<a@x>`` next to ``<<a@x>>``) would collide before
    that other row was rewritten. The interim keys start with a space, which no old key does
    (the old normal form was stripped). The final keys are unique: two rows with the same
    exact ID and generation would have had the same old key too.
    """
    session.execute(
        update(InboundMessage).values(
            message_key=literal(" schema 1 row ") + cast(InboundMessage.id, String)
        )
    )
    session.execute(update(InboundMessage).values(message_key=InboundMessage.message_id))
