"""Inbound ledger: which received messages are being fetched, which files were written where.

Two tables. ``inbound_messages`` has one row per *generation* of a received message (a
message stored again on purpose -- ``on_redelivery: store-again`` or ``as2sync retry`` -- gets a
new generation); ``inbound_files`` has one row per file written into an inbox (attachments and
metadata sidecars).

Message states (:class:`InboundState`)::

    FETCHING --all files WRITTEN--> STORED --marked read--> READ --deleted on gateway--> DELETED
       ^  |
       └──┘ an attempt failed, or an operator asked for one now (attempts, next attempt)

A new generation (a new FETCHING row) may follow a STORED, READ or DELETED one, never a
FETCHING one: one generation of a message is in flight at a time.

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

Messages are keyed by the exact ID the backend lists (``message_key``, equal to
``message_id``, the remote ID): IDs are the server's opaque strings, so ``<a@x>`` and
``a@x`` are two messages, possibly from two partners. Schema version 1 keyed them by the ID
without its angle brackets, which merged such pairs; :func:`key_by_exact_id` migrates those ledgers.

The columns are the daemon's, whatever the backend: the remote ID, station, partner, subject,
time, attachments and states. What only one backend knows about a message (AS2 Gateway v1:
partner type, sender and receiver AS2 IDs, the AS2 flags, the MDN status) is kept verbatim in
one JSON column, ``remote`` (:data:`~as2sync.backends.base.Remote`); schema 3 had them as
columns of their own, which :func:`backend_neutral` moves there.

Every state change is one small named function below taking the caller's session; the caller
owns the transaction (``Ledger.transaction()``), so several changes can be committed
atomically. Each checks the state it moves from and raises
:class:`~as2sync.errors.LedgerError` on any other (the caller's transaction is then rolled
back), so a logic error shows instead of leaving a silently wrong ledger. Rows are handed out
as frozen :class:`InboundMessage` / :class:`InboundFile` views, never as session-bound ORM
objects: they stay valid after the session ends and cannot be changed behind the ledger's back.
All SQL about received messages is in this module.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    cast,
    delete,
    func,
    literal,
    select,
    sql,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from as2sync.backends.base import Attachment, Pending, Remote, bare_message_id
from as2sync.errors import LedgerError
from as2sync.ledger.columns import enum_column
from as2sync.ledger.db import Base


class InboundState(enum.StrEnum):
    FETCHING = "fetching"
    """Committed before the download: the files are not (all) in the inbox yet."""
    STORED = "stored"
    """Every file is in its inbox; the gateway has not been told (read flag) yet."""
    READ = "read"
    """Final unless ``delete_after_store``: stored and marked read on the gateway."""
    DELETED = "deleted"
    """Final: stored, marked read and deleted on the gateway."""


FINISHED_STATES = (InboundState.READ, InboundState.DELETED)
_NEW_GENERATION_AFTER = (InboundState.STORED, *FINISHED_STATES)
_CHUNK = 500  # stays below SQLite's bound-parameter limit


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    items = list(ids)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class FileState(enum.StrEnum):
    PLANNED = "planned"
    """Durable at its temp path; may or may not have been moved to its final path."""
    WRITTEN = "written"
    """In its inbox at its final path (the move is durable)."""


class FileKind(enum.StrEnum):
    DATA = "data"
    METADATA = "metadata"


class InboundMessageRow(Base):
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
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    persisted_ms: Mapped[int] = mapped_column(Integer)
    # [[name, size], ...] in the server's order: what every download is verified against.
    attachments: Mapped[list[Any]] = mapped_column(JSON)
    total_size: Mapped[int] = mapped_column(Integer)
    # What only the backend that listed it needs, verbatim (see the module docstring).
    remote: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Enum columns of length 16: what they were created with while they held plain strings.
    state: Mapped[InboundState] = mapped_column(enum_column(InboundState, length=16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    redeliveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)
    stored_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    read_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class InboundFileRow(Base):
    """One file written (or about to be written) into an inbox."""

    __tablename__ = "inbound_files"
    __table_args__ = (UniqueConstraint("message_row", "index", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_row: Mapped[int] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="CASCADE"), index=True
    )
    index: Mapped[int] = mapped_column(Integer)  # attachment index; -1 for a per-message sidecar
    kind: Mapped[FileKind] = mapped_column(enum_column(FileKind, length=16))
    name: Mapped[str] = mapped_column(Text)  # the name the partner gave, verbatim
    temp_path: Mapped[str] = mapped_column(Text)
    final_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[FileState] = mapped_column(enum_column(FileState, length=16), index=True)
    updated_at: Mapped[float] = mapped_column(Float)


# -- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    """One generation of a received message as the ledger recorded it (a snapshot)."""

    id: int
    message_id: str
    generation: int
    station: str
    partner: str
    subject: str | None
    persisted_ms: int
    attachments: tuple[tuple[str, int], ...]  # (name, size) in the server's order
    total_size: int
    state: InboundState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    redeliveries: int
    created_at: float
    updated_at: float
    stored_at: float | None
    read_at: float | None
    remote: Remote = field(default_factory=dict, hash=False)  # the backend's own facts

    def attachment_list(self) -> tuple[Attachment, ...]:
        return tuple(Attachment(name, size) for name, size in self.attachments)


@dataclass(frozen=True)
class InboundFile:
    """One file of a received message as the ledger recorded it (a snapshot)."""

    id: int
    message_row: int
    index: int
    kind: FileKind
    name: str
    temp_path: str
    final_path: str
    sha256: str
    size: int
    state: FileState
    updated_at: float


def _view(row: InboundMessageRow) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        message_id=row.message_id,
        generation=row.generation,
        station=row.station,
        partner=row.partner,
        subject=row.subject,
        persisted_ms=row.persisted_ms,
        attachments=tuple((str(name), int(size)) for name, size in row.attachments),
        total_size=row.total_size,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        redeliveries=row.redeliveries,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stored_at=row.stored_at,
        read_at=row.read_at,
        remote=dict(row.remote or {}),
    )


def _file_view(row: InboundFileRow) -> InboundFile:
    return InboundFile(
        id=row.id,
        message_row=row.message_row,
        index=row.index,
        kind=row.kind,
        name=row.name,
        temp_path=row.temp_path,
        final_path=row.final_path,
        sha256=row.sha256,
        size=row.size,
        state=row.state,
        updated_at=row.updated_at,
    )


# -- checks -------------------------------------------------------------------------------------


def _message(session: Session, row_id: int, *expected: InboundState) -> InboundMessageRow:
    row = session.get(InboundMessageRow, row_id)
    if row is None:
        raise LedgerError(f"inbound message {row_id} does not exist")
    if row.state not in expected:
        wanted = ", ".join(s.value for s in expected)
        raise LedgerError(f"inbound message {row_id} is {row.state.value}, expected {wanted}")
    return row


def _require(
    session: Session,
    table: type[InboundMessageRow] | type[InboundFileRow],
    ids: Collection[int],
    expected: Collection[enum.StrEnum],
    *,
    missing_ok: bool = False,
) -> list[int]:
    """The ``ids`` of ``table`` that exist; LedgerError if one is in a state not ``expected``
    (or does not exist, unless ``missing_ok``). One query per chunk of ids."""
    what = "inbound message" if table is InboundMessageRow else "inbound file"
    found: dict[int, enum.StrEnum] = {}
    for chunk in _chunks(ids):
        query = select(table.id, table.state).where(table.id.in_(chunk))
        found.update((row_id, state) for row_id, state in session.execute(query))
    for row_id in ids:
        state = found.get(row_id)
        if state is None and not missing_ok:
            raise LedgerError(f"{what} {row_id} does not exist")
        if state is not None and state not in expected:
            wanted = ", ".join(s.value for s in expected)
            raise LedgerError(f"{what} {row_id} is {state.value}, expected {wanted}")
    return [row_id for row_id in ids if row_id in found]


# -- state changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewMessage:
    """A listed message about to be fetched (as the backend listed it, station and partner
    resolved), and which generation of it this is."""

    pending: Pending
    generation: int = 1


def record_fetching_many(
    session: Session, messages: Sequence[NewMessage], *, now: float
) -> list[InboundMessage]:
    """New messages (or new generations of them) are about to be downloaded: FETCHING rows, in
    the order given, written in one flush. Commit before the request: a crash after the
    gateway marked one read must still leave a row to resume.

    A new generation must follow a STORED, READ or DELETED one (LedgerError otherwise); a
    generation recorded twice breaks the unique key (LedgerConflict when committed).
    """
    if not messages:
        return []
    _require_previous_generations(session, [m for m in messages if m.generation > 1])
    rows = [
        InboundMessageRow(
            message_id=m.pending.remote_id,
            message_key=m.pending.remote_id,
            generation=m.generation,
            station=m.pending.station,
            partner=m.pending.partner,
            subject=m.pending.subject,
            persisted_ms=m.pending.persisted_ms,
            attachments=[[a.name, a.size] for a in m.pending.attachments or ()],
            total_size=m.pending.total_size,
            remote=dict(m.pending.remote),
            state=InboundState.FETCHING,
            attempts=0,
            next_attempt_at=0.0,
            redeliveries=0,
            created_at=now,
            updated_at=now,
        )
        for m in messages
    ]
    session.add_all(rows)
    session.flush()  # assigns the ids; many rows are cheaper flushed at once
    return [_view(row) for row in rows]


def _require_previous_generations(session: Session, messages: Sequence[NewMessage]) -> None:
    if not messages:
        return
    latest = latest_many(session, [m.pending.remote_id for m in messages])
    for m in messages:
        before = latest.get(m.pending.remote_id)
        if before is None or before.generation != m.generation - 1:
            raise LedgerError(
                f"inbound message {m.pending.remote_id}: generation {m.generation} does not "
                "follow the newest one recorded"
            )
        if before.state not in _NEW_GENERATION_AFTER:
            raise LedgerError(
                f"inbound message {before.id} is {before.state.value}: no new generation of "
                f"{m.pending.remote_id} while it is being fetched"
            )


def record_fetching(
    session: Session, pending: Pending, *, now: float, generation: int = 1
) -> InboundMessage:
    """:func:`record_fetching_many` for one message."""
    return record_fetching_many(session, [NewMessage(pending, generation)], now=now)[0]


def fetch_failed(session: Session, row_id: int, error: str, *, now: float, retry_at: float) -> None:
    """FETCHING stays FETCHING: an attempt did not store the message; it is counted and the
    next one is due at ``retry_at``."""
    row = _message(session, row_id, InboundState.FETCHING)
    row.attempts += 1
    row.last_error = error[:2000]
    row.next_attempt_at = retry_at
    row.updated_at = now


def retry_requested(session: Session, row_id: int, *, now: float) -> None:
    """FETCHING stays FETCHING: an operator asked for the message to be tried again at once."""
    row = _message(session, row_id, InboundState.FETCHING)
    row.next_attempt_at = 0.0
    row.updated_at = now


def make_fetching_due(session: Session) -> None:
    """Every FETCHING message is due at once (start-up: fetch again by ID whatever the
    gateway's read flag says). Not a state change."""
    session.execute(
        update(InboundMessageRow)
        .where(InboundMessageRow.state == InboundState.FETCHING)
        .values(next_attempt_at=0.0)
    )


@dataclass(frozen=True)
class FilePlan:
    """Where one durable temp file of a FETCHING message is going."""

    message_row: int
    index: int
    kind: FileKind
    name: str
    temp_path: str
    final_path: str
    sha256: str
    size: int


def plan_files(session: Session, plans: Sequence[FilePlan], *, now: float) -> list[InboundFile]:
    """(temp file durable) -> PLANNED, in the order given, written in one flush: record where
    each file is going before moving it there. Every message must be FETCHING."""
    _require(
        session, InboundMessageRow, sorted({p.message_row for p in plans}), [InboundState.FETCHING]
    )
    rows = [
        InboundFileRow(
            message_row=p.message_row,
            index=p.index,
            kind=p.kind,
            name=p.name,
            temp_path=p.temp_path,
            final_path=p.final_path,
            sha256=p.sha256,
            size=p.size,
            state=FileState.PLANNED,
            updated_at=now,
        )
        for p in plans
    ]
    session.add_all(rows)
    session.flush()
    return [_file_view(row) for row in rows]


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
) -> InboundFile:
    """:func:`plan_files` for one file."""
    plan = FilePlan(message_row, index, kind, name, temp_path, final_path, sha256, size)
    return plan_files(session, [plan], now=now)[0]


def replan_file(session: Session, file_id: int, final_path: str, *, now: float) -> None:
    """PLANNED stays PLANNED: the planned name was taken by someone else, the file goes to
    ``final_path`` instead. Committed before the move, so the row always names the place the
    file may be in."""
    row = session.get(InboundFileRow, file_id)
    if row is None:
        raise LedgerError(f"inbound file {file_id} does not exist")
    if row.state is not FileState.PLANNED:
        raise LedgerError(f"inbound file {file_id} is {row.state.value}, expected planned")
    row.final_path = final_path
    row.updated_at = now


def file_written(session: Session, file_ids: Iterable[int], *, now: float) -> None:
    """PLANNED -> WRITTEN: the files are in their inbox (the move is durable)."""
    ids = _require(session, InboundFileRow, sorted(set(file_ids)), [FileState.PLANNED])
    for chunk in _chunks(ids):
        session.execute(
            update(InboundFileRow)
            .where(InboundFileRow.id.in_(chunk))
            .values(state=FileState.WRITTEN, updated_at=now)
        )


def message_stored(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """FETCHING -> STORED: every file of these messages is in its inbox."""
    ids = _require(session, InboundMessageRow, sorted(set(row_ids)), [InboundState.FETCHING])
    for chunk in _chunks(ids):
        session.execute(
            update(InboundMessageRow)
            .where(InboundMessageRow.id.in_(chunk))
            .values(state=InboundState.STORED, stored_at=now, updated_at=now, last_error=None)
        )


def message_read(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """STORED -> READ: the gateway has marked these messages read."""
    ids = _require(session, InboundMessageRow, sorted(set(row_ids)), [InboundState.STORED])
    for chunk in _chunks(ids):
        session.execute(
            update(InboundMessageRow)
            .where(InboundMessageRow.id.in_(chunk))
            .values(state=InboundState.READ, read_at=now, updated_at=now)
        )


def message_deleted(session: Session, row_ids: Iterable[int], *, now: float) -> None:
    """READ -> DELETED (``delete_after_store``): these messages are gone from the gateway.

    A row that no longer exists is skipped: retention (its own thread) may have pruned it
    since the caller read it, and a pruned row has nothing left to record.
    """
    wanted = sorted(set(row_ids))
    ids = _require(session, InboundMessageRow, wanted, [InboundState.READ], missing_ok=True)
    for chunk in _chunks(ids):
        session.execute(
            update(InboundMessageRow)
            .where(InboundMessageRow.id.in_(chunk))
            .values(state=InboundState.DELETED, updated_at=now)
        )


def redelivered(session: Session, row_id: int, *, now: float) -> None:
    """READ/DELETED stays as it is: the finished message showed up unread again and was
    skipped (marked read again); counted."""
    row = _message(session, row_id, *FINISHED_STATES)
    row.redeliveries += 1
    row.updated_at = now


# -- lookups the engine uses --------------------------------------------------------------------


def latest(session: Session, message_id: str) -> InboundMessage | None:
    """The newest generation of the message with exactly this ID, if any."""
    row = session.scalar(
        select(InboundMessageRow)
        .where(InboundMessageRow.message_key == message_id)
        .order_by(InboundMessageRow.generation.desc())
        .limit(1)
    )
    return None if row is None else _view(row)


def latest_many(session: Session, message_ids: Sequence[str]) -> dict[str, InboundMessage]:
    """:func:`latest` for many IDs at once, keyed by the exact ID."""
    keys = list(set(message_ids))
    found: dict[str, InboundMessageRow] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = session.scalars(
            select(InboundMessageRow).where(
                InboundMessageRow.message_key.in_(keys[start : start + _CHUNK])
            )
        )
        for row in rows:
            current = found.get(row.message_key)
            if current is None or row.generation > current.generation:
                found[row.message_key] = row
    return {key: _view(row) for key, row in found.items()}


def ids_like(session: Session, typed: str) -> list[str]:
    """The recorded IDs an operator may mean by ``typed``: exactly it if recorded, else every
    recorded ID that equals it once angle brackets are ignored (more than one: ambiguous)."""
    bare = bare_message_id(typed)
    candidates = {typed, bare, f"<{bare}>"}
    found = set(
        session.scalars(
            select(InboundMessageRow.message_key).where(
                InboundMessageRow.message_key.in_(candidates)
            )
        )
    )
    return [typed] if typed in found else sorted(found)


def get_message(session: Session, row_id: int) -> InboundMessage | None:
    row = session.get(InboundMessageRow, row_id)
    return None if row is None else _view(row)


def messages_by_id(session: Session, row_ids: Iterable[int]) -> dict[int, InboundMessage]:
    """The messages with these row ids (those that exist)."""
    found: dict[int, InboundMessage] = {}
    for chunk in _chunks(set(row_ids)):
        query = select(InboundMessageRow).where(InboundMessageRow.id.in_(chunk))
        found.update((row.id, _view(row)) for row in session.scalars(query))
    return found


def due_fetching(session: Session, now: float) -> list[InboundMessage]:
    """FETCHING messages whose next attempt is due, oldest first."""
    query = (
        select(InboundMessageRow)
        .where(
            InboundMessageRow.state == InboundState.FETCHING,
            InboundMessageRow.next_attempt_at <= now,
        )
        .order_by(InboundMessageRow.id)
    )
    return [_view(row) for row in session.scalars(query)]


def in_state(session: Session, state: InboundState) -> list[InboundMessage]:
    query = (
        select(InboundMessageRow)
        .where(InboundMessageRow.state == state)
        .order_by(InboundMessageRow.id)
    )
    return [_view(row) for row in session.scalars(query)]


def files_of(session: Session, row_id: int) -> list[InboundFile]:
    query = (
        select(InboundFileRow)
        .where(InboundFileRow.message_row == row_id)
        .order_by(InboundFileRow.index, InboundFileRow.kind)
    )
    return [_file_view(row) for row in session.scalars(query)]


def planned_files(session: Session) -> list[InboundFile]:
    """Files whose move into the inbox may not have happened (crash recovery)."""
    query = (
        select(InboundFileRow)
        .where(InboundFileRow.state == FileState.PLANNED)
        .order_by(InboundFileRow.id)
    )
    return [_file_view(row) for row in session.scalars(query)]


def data_indices(session: Session, row_ids: Iterable[int]) -> dict[int, set[int]]:
    """Per message, the attachment indices that have a file row (planned or written): such an
    attachment is never written a second time."""
    done: dict[int, set[int]] = {row_id: set() for row_id in row_ids}
    for chunk in _chunks(done):
        query = select(InboundFileRow.message_row, InboundFileRow.index).where(
            InboundFileRow.message_row.in_(chunk), InboundFileRow.kind == FileKind.DATA
        )
        for message_row, index in session.execute(query):
            done[message_row].add(index)
    return done


def fully_written(session: Session) -> list[int]:
    """FETCHING messages that have files, none of them PLANNED, and a written data file for
    every attachment: their files are all in the inbox, only STORED is missing."""
    query = (
        select(InboundMessageRow)
        .where(InboundMessageRow.state == InboundState.FETCHING)
        .where(InboundMessageRow.id.in_(select(InboundFileRow.message_row)))
    )
    ready: list[int] = []
    for message in list(session.scalars(query)):
        files = files_of(session, message.id)
        if any(f.state is FileState.PLANNED for f in files):
            continue
        written = {f.index for f in files if f.kind is FileKind.DATA}
        if written >= set(range(len(message.attachments))):
            ready.append(message.id)
    return ready


def unfinished_partnerships(session: Session) -> set[tuple[str, str]]:
    """(station, partner) of every message not yet stored and read (FETCHING or STORED)."""
    query = select(InboundMessageRow.station, InboundMessageRow.partner).where(
        InboundMessageRow.state.in_([InboundState.FETCHING, InboundState.STORED])
    )
    return {(station, partner) for station, partner in session.execute(query)}


def pending_count(session: Session) -> int:
    """Messages not yet finished (fetching, or stored but not marked read)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(InboundMessageRow)
            .where(InboundMessageRow.state.in_([InboundState.FETCHING, InboundState.STORED]))
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
            InboundMessageRow.station,
            InboundMessageRow.partner,
            InboundMessageRow.state,
            func.count(),
        )
        .group_by(InboundMessageRow.station, InboundMessageRow.partner, InboundMessageRow.state)
        .order_by(InboundMessageRow.station, InboundMessageRow.partner, InboundMessageRow.state)
    )
    return [StateCount(s, p, InboundState(st).value, int(n)) for s, p, st, n in rows]


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


def _summaries(session: Session, rows: Sequence[InboundMessageRow]) -> list[MessageSummary]:
    ids = [r.id for r in rows]
    files: dict[int, list[str]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        for f in session.scalars(
            select(InboundFileRow)
            .where(InboundFileRow.message_row.in_(chunk), InboundFileRow.kind == FileKind.DATA)
            .order_by(InboundFileRow.index)
        ):
            files[f.message_row].append(f.final_path)
    return [
        MessageSummary(
            message_id=r.message_id,
            generation=r.generation,
            station=r.station,
            partner=r.partner,
            subject=r.subject,
            state=r.state.value,
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
    query = select(InboundMessageRow).order_by(InboundMessageRow.updated_at.desc()).limit(limit)
    if since is not None:
        query = query.where(InboundMessageRow.updated_at >= since)
    if partner is not None:
        query = query.where(InboundMessageRow.partner == partner)
    return _summaries(session, list(session.scalars(query)))


def recent_failures(session: Session, *, limit: int = 20) -> list[MessageSummary]:
    """Messages still being fetched after at least one failed attempt, newest failure first."""
    query = (
        select(InboundMessageRow)
        .where(
            InboundMessageRow.state == InboundState.FETCHING,
            InboundMessageRow.last_error.is_not(None),
        )
        .order_by(InboundMessageRow.updated_at.desc())
        .limit(limit)
    )
    return _summaries(session, list(session.scalars(query)))


def prune(session: Session, older_than: float) -> int:
    """Delete finished messages (and their file rows) last changed before ``older_than``.

    Unfinished rows are never pruned whatever their age: they are work still to do.
    """
    old = select(InboundMessageRow.id).where(
        InboundMessageRow.state.in_(FINISHED_STATES), InboundMessageRow.updated_at < older_than
    )
    ids = list(session.scalars(old))
    for chunk in _chunks(ids):
        session.execute(delete(InboundFileRow).where(InboundFileRow.message_row.in_(chunk)))
        session.execute(delete(InboundMessageRow).where(InboundMessageRow.id.in_(chunk)))
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
        update(InboundMessageRow).values(
            message_key=literal(" schema 1 row ") + cast(InboundMessageRow.id, String)
        )
    )
    session.execute(update(InboundMessageRow).values(message_key=InboundMessageRow.message_id))


# The schema-3 columns that only AS2 Gateway v1 fills, in the order the v1 backend's facts are
# named in ``remote`` (the same names: the v1 backend reads them from there).
V1_COLUMNS = (
    "partner_type",
    "sender_id",
    "receiver_id",
    "signed",
    "encrypted",
    "compressed",
    "mdn_status",
)
_FLAGS = frozenset({"signed", "encrypted", "compressed"})


def backend_neutral(session: Session) -> None:
    """Schema 3 -> 4 (received rows): the v1-only columns move into the ``remote`` JSON column.

    Three portable steps, in the migration's transaction (a crash leaves schema 3 untouched):
    add ``remote``; copy every row's v1 facts into it, under the column names (booleans as
    JSON booleans, whatever the database stored them as), bound as parameters, so no
    database-specific JSON function is needed; drop the old columns. No row, state or file
    row is touched otherwise: a message in flight resumes where it was.
    """
    json_type = JSON().compile(dialect=session.connection().dialect)
    session.execute(
        text(f"ALTER TABLE inbound_messages ADD COLUMN remote {json_type} NOT NULL DEFAULT '{{}}'")
    )
    # The old columns are not in the model any more: named here, as the release wrote them.
    old = sql.table("inbound_messages", sql.column("id"), *map(sql.column, V1_COLUMNS))
    rows = session.execute(select(old)).all()
    table = Base.metadata.tables[InboundMessageRow.__tablename__]
    params = [
        {
            "row_id": row[0],
            "facts": {
                name: (bool(value) if name in _FLAGS else value)
                for name, value in zip(V1_COLUMNS, row[1:], strict=True)
            },
        }
        for row in rows
    ]
    if params:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(remote=bindparam("facts", type_=JSON)),
            params,
        )
    for name in V1_COLUMNS:
        session.execute(text(f"ALTER TABLE inbound_messages DROP COLUMN {name}"))
