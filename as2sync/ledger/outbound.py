"""The outbound ledger: one row per AS2 message (submission) and one per file in it.

States of a submission, and where its files are in each (the crash analysis of every arrow is
in ``outbound/claim.py``, ``submit.py``, ``archive.py`` and ``reconcile.py``)::

    CLAIMING ─> CLAIMED ─> SUBMITTING ─> SUBMITTED ─> ARCHIVED ─> DELIVERED
    (outbox)   (processing)              (processing)  (sent/)
       │         ^   │         │  │                      │
       │         │   │         │  └─> IN_DOUBT ─(found)─> SUBMITTED
       │         │   │         │        │  └─(not found after the grace period)─> CLAIMED
       │         │   │         │        └─(in_doubt: hold)─> REJECTING
       │         │   │         └─(transient error)─> CLAIMED, with next_attempt_at
       │         │   ├─(too big, duplicate, refused)─> REJECTING ─> FAILED (failed/)
       │         │   └─(changed after the claim, nothing sent)─> RETURNING ─> RETURNED (outbox)
       │         └─ bundling merges CLAIMED single-file rows into one
       └─(file gone)─> ABANDONED
    ARCHIVED ─(failed or stopped on the gateway)─> DELIVERY_FAILING ─> DELIVERY_FAILED (failed/)

Every state change is one small named function below, called inside one
``ledger.transaction()`` by its caller: one transaction, one state change. Each checks the state
it moves from, so a logic error becomes a :class:`~as2sync.errors.LedgerError` instead of a
silently wrong ledger. Rows are handed out as frozen :class:`Submission` / :class:`OutFile`
views, never as session-bound ORM objects, so worker threads can hold them safely.

The columns are the same for every backend: ``message_id`` is the message's remote ID (the
server's key for it), and what only one backend needs to know of a message is kept in the
``remote`` JSON column (:data:`Remote`; the v1 backend's partner type and failed-list count,
columns until schema 4, see :func:`backend_neutral`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    column,
    delete,
    func,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from as2sync.errors import LedgerError
from as2sync.ledger.columns import enum_column
from as2sync.ledger.db import Base

Remote = Mapping[str, Any]
"""What only the backend that sends a message needs to know of it (v1: the partner type,
how many tracking passes saw it failed), stored verbatim as a JSON object: the engine keeps
and hands it back, never reads it (:data:`as2sync.backends.base.Remote`)."""

# Longest file name we create in processing/ (<file id>-<name>); NAME_MAX is 255 bytes.
_MAX_PROCESSING_NAME_BYTES = 240


class SubmissionState(enum.StrEnum):
    CLAIMING = "claiming"
    """Row written; the rename outbox -> processing may or may not have happened."""
    CLAIMED = "claimed"
    """Files are in processing and hashed; waiting for the (next) submit attempt."""
    SUBMITTING = "submitting"
    """Committed before the POST: the gateway may or may not have the message."""
    IN_DOUBT = "in_doubt"
    """The outcome of a submit is unknown; reconciliation decides."""
    SUBMITTED = "submitted"
    """The gateway accepted the message (its ID is known); files are being archived."""
    ARCHIVED = "archived"
    """Files are in sent/; delivery is tracked until final or too old."""
    DELIVERED = "delivered"
    """Final: the gateway reports the message delivered."""
    DELIVERY_FAILING = "delivery_failing"
    """The gateway failed or stopped the message; the files are moving sent/ -> failed/."""
    DELIVERY_FAILED = "delivery_failed"
    """Final: the gateway could not deliver; files are in failed/ with a sidecar."""
    REJECTING = "rejecting"
    """Refused (too big, duplicate, 4xx, hold); files are moving to failed/."""
    FAILED = "failed"
    """Final: refused; files are in failed/ with a sidecar."""
    ABANDONED = "abandoned"
    """Final: the file disappeared from the outbox before it was claimed."""
    RETURNING = "returning"
    """A file changed after its claim and nothing was sent: the files go back to the outbox."""
    RETURNED = "returned"
    """Final: the files are back in the outbox (they are claimed again as new files)."""


class FileState(enum.StrEnum):
    """Where a file is; its path is the one recorded for that place."""

    CLAIMING = "claiming"  # source_path or processing_path (rename in progress)
    PROCESSING = "processing"  # processing_path
    SENT = "sent"  # archive_path
    FAILED = "failed"  # failed_path
    ABANDONED = "abandoned"  # nowhere we know of
    RETURNING = "returning"  # processing_path, being given back to source_path
    RETURNED = "returned"  # back in the outbox at source_path: the user's again, not ours


FINAL_STATES = frozenset(
    {
        SubmissionState.DELIVERED,
        SubmissionState.DELIVERY_FAILED,
        SubmissionState.FAILED,
        SubmissionState.ABANDONED,
        SubmissionState.RETURNED,
    }
)
UNFINISHED_STATES = frozenset(
    {
        SubmissionState.CLAIMING,
        SubmissionState.CLAIMED,
        SubmissionState.SUBMITTING,
        SubmissionState.IN_DOUBT,
        SubmissionState.SUBMITTED,
        SubmissionState.REJECTING,
        SubmissionState.DELIVERY_FAILING,
        SubmissionState.RETURNING,
    }
)
"""States in which a file still needs as2sync to do something (everything but tracking)."""

# States whose content counts as "sent or being sent" for the duplicate window.
_DUPLICATE_STATES = frozenset(
    {
        SubmissionState.CLAIMED,
        SubmissionState.SUBMITTING,
        SubmissionState.IN_DOUBT,
        SubmissionState.SUBMITTED,
        SubmissionState.ARCHIVED,
        SubmissionState.DELIVERED,
    }
)


class SubmissionRow(Base):
    __tablename__ = "outbound_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station: Mapped[str] = mapped_column(String(255))
    partner: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[SubmissionState] = mapped_column(enum_column(SubmissionState, length=32))
    message_id: Mapped[str | None] = mapped_column(String(998), nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    submit_started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    submitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    archived_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mdn_status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tracked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    remote: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What only the backend needs to know of this message (see :data:`Remote`)."""

    __table_args__ = (
        Index("ix_outbound_submissions_state", "state", "next_attempt_at"),
        Index("ix_outbound_submissions_pair", "station", "partner", "state"),
    )


class FileRow(Base):
    __tablename__ = "outbound_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_submissions.id", ondelete="CASCADE"), index=True
    )
    station: Mapped[str] = mapped_column(String(255))
    partner: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    state: Mapped[FileState] = mapped_column(enum_column(FileState, length=32))
    source_path: Mapped[str] = mapped_column(Text)
    processing_path: Mapped[str] = mapped_column(Text, default="")
    archive_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    claimed_at: Mapped[float] = mapped_column(Float)
    resend_allowed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Set by ``as2sync retry`` on a failed file: its next claim may repeat a recent send."""

    __table_args__ = (Index("ix_outbound_files_digest", "station", "partner", "sha256"),)


# -- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutFile:
    id: int
    submission_id: int
    station: str
    partner: str
    name: str
    state: FileState
    source_path: Path
    processing_path: Path
    archive_path: Path | None
    failed_path: Path | None
    size: int | None
    sha256: str | None
    content_type: str | None
    claimed_at: float

    @property
    def current_path(self) -> Path | None:
        """Where the file is now, according to the ledger."""
        match self.state:
            case FileState.CLAIMING:
                return self.source_path
            case FileState.PROCESSING | FileState.RETURNING:
                return self.processing_path
            case FileState.SENT:
                return self.archive_path
            case FileState.FAILED:
                return self.failed_path
            case _:
                return None


@dataclass(frozen=True)
class Submission:
    id: int
    station: str
    partner: str
    subject: str | None
    state: SubmissionState
    message_id: str | None
    attempts: int
    created_at: float
    updated_at: float
    submit_started_at: float | None
    submitted_at: float | None
    archived_at: float | None
    finished_at: float | None
    next_attempt_at: float | None
    error: str | None
    http_status: int | None
    delivery_status: str | None
    mdn_status: str | None
    tracked_at: float | None
    files: tuple[OutFile, ...]
    remote: Remote = field(default_factory=dict)
    """The backend's facts about this message (its claim facts, what it learned since)."""

    @property
    def total_size(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def names(self) -> str:
        return ", ".join(f.name for f in self.files)


def _file_view(row: FileRow) -> OutFile:
    return OutFile(
        id=row.id,
        submission_id=row.submission_id,
        station=row.station,
        partner=row.partner,
        name=row.name,
        state=row.state,
        source_path=Path(row.source_path),
        processing_path=Path(row.processing_path),
        archive_path=Path(row.archive_path) if row.archive_path else None,
        failed_path=Path(row.failed_path) if row.failed_path else None,
        size=row.size,
        sha256=row.sha256,
        content_type=row.content_type,
        claimed_at=row.claimed_at,
    )


def _view(row: SubmissionRow, files: Iterable[FileRow]) -> Submission:
    return Submission(
        id=row.id,
        station=row.station,
        partner=row.partner,
        subject=row.subject,
        state=row.state,
        message_id=row.message_id,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submit_started_at=row.submit_started_at,
        submitted_at=row.submitted_at,
        archived_at=row.archived_at,
        finished_at=row.finished_at,
        next_attempt_at=row.next_attempt_at,
        error=row.error,
        http_status=row.http_status,
        delivery_status=row.delivery_status,
        mdn_status=row.mdn_status,
        tracked_at=row.tracked_at,
        files=tuple(_file_view(f) for f in sorted(files, key=lambda f: f.id)),
        remote=dict(row.remote or {}),
    )


def _views(session: Session, rows: Sequence[SubmissionRow]) -> list[Submission]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    by_sub: dict[int, list[FileRow]] = {i: [] for i in ids}
    # SQLite allows 32766 bound parameters; chunk to stay far below for large backlogs.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for f in session.scalars(select(FileRow).where(FileRow.submission_id.in_(chunk))):
            by_sub[f.submission_id].append(f)
    return [_view(r, by_sub[r.id]) for r in rows]


def allow_returning(session: Session) -> None:
    """Schema 3: submissions and files may be RETURNING or RETURNED. States are stored as
    plain strings, so no row changes; the new version keeps an older as2sync, which would not
    know these states, from opening the ledger."""
    del session


# -- reading ----------------------------------------------------------------------------------


def get(session: Session, submission_id: int) -> Submission:
    found = find(session, submission_id)
    if found is None:
        raise LedgerError(f"outbound submission {submission_id} does not exist")
    return found


def refreshed(session: Session, sub: Submission) -> Submission:
    """``sub`` as its row is now in this session, after a state change that left its files as
    they were (``begin_submit``, ``retry_later``, ``mark_in_doubt``): the files are ``sub``'s,
    so they are not read again."""
    return replace(_view(_row(session, sub.id), ()), files=sub.files)


def find(session: Session, submission_id: int) -> Submission | None:
    """The submission, or None if there is none (e.g. a withdrawn claim)."""
    row = session.get(SubmissionRow, submission_id)
    return None if row is None else _views(session, [row])[0]


def in_states(
    session: Session,
    states: Iterable[SubmissionState],
    *,
    due_before: float | None = None,
    limit: int | None = None,
) -> list[Submission]:
    """Submissions in ``states``, oldest first; ``due_before`` keeps those whose
    ``next_attempt_at`` is unset or not later than it."""
    query = select(SubmissionRow).where(SubmissionRow.state.in_(list(states)))
    if due_before is not None:
        query = query.where(
            (SubmissionRow.next_attempt_at.is_(None))
            | (SubmissionRow.next_attempt_at <= due_before)
        )
    query = query.order_by(SubmissionRow.created_at, SubmissionRow.id)
    if limit is not None:
        query = query.limit(limit)
    return _views(session, list(session.scalars(query)))


def count_in_states(session: Session, states: Iterable[SubmissionState]) -> int:
    query = select(func.count()).select_from(SubmissionRow)
    return int(session.scalar(query.where(SubmissionRow.state.in_(list(states)))) or 0)


def waiting_files(session: Session) -> tuple[int, float | None]:
    """Files claimed but not yet accepted by the gateway, and the oldest claim time."""
    query = (
        select(func.count(FileRow.id), func.min(FileRow.claimed_at))
        .join(SubmissionRow, FileRow.submission_id == SubmissionRow.id)
        .where(
            SubmissionRow.state.in_(
                [
                    SubmissionState.CLAIMING,
                    SubmissionState.CLAIMED,
                    SubmissionState.SUBMITTING,
                    SubmissionState.IN_DOUBT,
                ]
            )
        )
    )
    count, oldest = session.execute(query).one()
    return int(count or 0), (float(oldest) if oldest is not None else None)


def next_due(session: Session, states: Iterable[SubmissionState]) -> float | None:
    """The earliest ``next_attempt_at`` among rows in ``states`` (None: nothing scheduled)."""
    query = select(func.min(SubmissionRow.next_attempt_at)).where(
        SubmissionRow.state.in_(list(states))
    )
    value = session.scalar(query)
    return float(value) if value is not None else None


@dataclass(frozen=True)
class Duplicate:
    submission_id: int
    message_id: str | None
    name: str
    at: float


def find_duplicate(
    session: Session,
    station: str,
    partner: str,
    sha256: str,
    *,
    since: float,
    exclude_file: int,
) -> Duplicate | None:
    """The newest file with the same content for this partnership, sent or being sent, whose
    submission was accepted (or claimed, if not yet accepted) at or after ``since``."""
    at = func.coalesce(SubmissionRow.submitted_at, SubmissionRow.created_at)
    query = (
        select(SubmissionRow.id, SubmissionRow.message_id, FileRow.name, at)
        .join(SubmissionRow, FileRow.submission_id == SubmissionRow.id)
        .where(
            FileRow.station == station,
            FileRow.partner == partner,
            FileRow.sha256 == sha256,
            FileRow.id != exclude_file,
            SubmissionRow.state.in_(list(_DUPLICATE_STATES)),
            at >= since,
        )
        .order_by(at.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    return Duplicate(submission_id=row[0], message_id=row[1], name=row[2], at=float(row[3]))


def allow_resend(session: Session, failed_path: str, now: float) -> bool:
    """``as2sync retry <failed file>``: the operator sends a failed file again on purpose.

    Marks the ledger's file at ``failed_path`` so that the next claim of the same content for
    the same partnership is not refused by the duplicate window (once). Returns False when
    the ledger does not know the file (then there is nothing to override).
    """
    wanted = os.path.realpath(failed_path)
    name = os.path.basename(failed_path)
    query = (
        select(FileRow)
        .where(
            FileRow.state == FileState.FAILED, FileRow.failed_path.endswith(name, autoescape=True)
        )
        .order_by(FileRow.id.desc())
    )
    for row in session.scalars(query):
        if row.failed_path and (
            row.failed_path == failed_path or os.path.realpath(row.failed_path) == wanted
        ):
            row.resend_allowed_at = now
            return True
    return False


def use_resend_allowance(session: Session, station: str, partner: str, sha256: str) -> bool:
    """Consume an :func:`allow_resend` for this content and partnership, if there is one."""
    query = select(FileRow).where(
        FileRow.station == station,
        FileRow.partner == partner,
        FileRow.sha256 == sha256,
        FileRow.resend_allowed_at.is_not(None),
    )
    row = session.scalars(query.limit(1)).first()
    if row is None:
        return False
    row.resend_allowed_at = None
    return True


def attributed_ids(
    session: Session, station: str, partner: str, *, exclude: int | None = None
) -> set[str]:
    """Message IDs recorded for submissions of this partnership (but ``exclude``)."""
    query = select(SubmissionRow.message_id).where(
        SubmissionRow.station == station,
        SubmissionRow.partner == partner,
        SubmissionRow.message_id.is_not(None),
    )
    if exclude is not None:
        query = query.where(SubmissionRow.id != exclude)
    return {m for m in session.scalars(query) if m is not None}


def unknown_outcome(session: Session, station: str, partner: str) -> list[Submission]:
    """Submissions of this partnership whose message ID is unknown although the gateway may
    have the message: IN_DOUBT, and SUBMITTING (a send in flight), oldest first."""
    query = (
        select(SubmissionRow)
        .where(
            SubmissionRow.station == station,
            SubmissionRow.partner == partner,
            SubmissionRow.state.in_([SubmissionState.IN_DOUBT, SubmissionState.SUBMITTING]),
        )
        .order_by(SubmissionRow.created_at, SubmissionRow.id)
    )
    return _views(session, list(session.scalars(query)))


def tracked(session: Session, *, archived_after: float) -> list[Submission]:
    """Archived submissions whose delivery is still followed (archived after the cut-off)."""
    query = (
        select(SubmissionRow)
        .where(
            SubmissionRow.state == SubmissionState.ARCHIVED,
            SubmissionRow.archived_at >= archived_after,
        )
        .order_by(SubmissionRow.archived_at)
    )
    return _views(session, list(session.scalars(query)))


def source_paths(session: Session, states: Iterable[SubmissionState]) -> set[str]:
    """Source paths of the files of submissions in ``states`` (to tell orphan temp files
    from files a row still refers to)."""
    query = (
        select(FileRow.source_path)
        .join(SubmissionRow, FileRow.submission_id == SubmissionRow.id)
        .where(SubmissionRow.state.in_(list(states)))
    )
    return set(session.scalars(query))


# -- state changes ----------------------------------------------------------------------------


def _row(session: Session, submission_id: int, *expected: SubmissionState) -> SubmissionRow:
    row = session.get(SubmissionRow, submission_id)
    if row is None:
        raise LedgerError(f"outbound submission {submission_id} does not exist")
    if expected and row.state not in expected:
        wanted = ", ".join(s.value for s in expected)
        raise LedgerError(
            f"outbound submission {submission_id} is {row.state.value}, expected {wanted}"
        )
    return row


def _learn(row: SubmissionRow, facts: Remote | None) -> None:
    """Merge what the backend learned into the row's facts (a new dict, so that the JSON
    column sees the change)."""
    if facts:
        row.remote = {**(row.remote or {}), **facts}


def _files(session: Session, submission_id: int) -> list[FileRow]:
    query = select(FileRow).where(FileRow.submission_id == submission_id).order_by(FileRow.id)
    return list(session.scalars(query))


def _processing_name(file_id: int, name: str, instance: str = "") -> str:
    prefix = f"{instance}-{file_id}" if instance else str(file_id)
    candidate = f"{prefix}-{name}"
    if len(candidate.encode()) <= _MAX_PROCESSING_NAME_BYTES:
        return candidate
    stem, dot, ext = name.rpartition(".")
    ext = ext[:32] if dot else ""
    room = _MAX_PROCESSING_NAME_BYTES - len(f"{prefix}-.{ext}".encode())
    short = (stem or name).encode()[:room].decode(errors="ignore")
    return f"{prefix}-{short}.{ext}" if ext else f"{prefix}-{short}"


def plan_claim(
    session: Session,
    *,
    station: str,
    partner: str,
    source: Path,
    processing_dir: Path,
    now: float,
    remote: Remote | None = None,
    subject: str | None = None,
    name: str | None = None,
    instance: str = "",
) -> Submission:
    """New submission CLAIMING one file; its processing path is
    ``<dir>/<instance>-<file id>-<name>`` (see :mod:`as2sync.folders.instance`). ``remote``:
    the backend's claim facts (:meth:`as2sync.backends.base.Sender.claim_remote`).

    The path is decided and committed before the rename, so recovery knows where to look.
    """
    sub = SubmissionRow(
        station=station,
        partner=partner,
        subject=subject,
        state=SubmissionState.CLAIMING,
        attempts=0,
        created_at=now,
        updated_at=now,
        remote=dict(remote or {}),
    )
    session.add(sub)
    session.flush()
    file = FileRow(
        submission_id=sub.id,
        station=station,
        partner=partner,
        name=name or source.name,
        state=FileState.CLAIMING,
        source_path=str(source),
        claimed_at=now,
    )
    session.add(file)
    session.flush()
    file.processing_path = str(processing_dir / _processing_name(file.id, file.name, instance))
    return _view(sub, [file])


def discard_claim(session: Session, submission_id: int) -> None:
    """CLAIMING -> (deleted): the rename was refused and the file is still in the outbox, so
    the planned row never took effect; the file will be claimed again with a new row."""
    _row(session, submission_id, SubmissionState.CLAIMING)
    session.execute(delete(FileRow).where(FileRow.submission_id == submission_id))
    session.execute(delete(SubmissionRow).where(SubmissionRow.id == submission_id))


def mark_abandoned(session: Session, submission_id: int, now: float, reason: str) -> None:
    """CLAIMING -> ABANDONED: neither the outbox nor the processing copy exists any more."""
    row = _row(session, submission_id, SubmissionState.CLAIMING)
    row.state = SubmissionState.ABANDONED
    row.error = reason
    row.updated_at = row.finished_at = now
    for f in _files(session, submission_id):
        f.state = FileState.ABANDONED


def mark_claimed(
    session: Session,
    submission_id: int,
    now: float,
    digests: dict[int, tuple[str, int, str]],
) -> None:
    """CLAIMING -> CLAIMED: each file (id -> sha256, size, content type) is in processing."""
    row = _row(session, submission_id, SubmissionState.CLAIMING)
    row.state = SubmissionState.CLAIMED
    row.next_attempt_at = None
    row.updated_at = now
    for f in _files(session, submission_id):
        f.sha256, f.size, f.content_type = digests[f.id]
        f.state = FileState.PROCESSING


def mark_rejecting(
    session: Session,
    submission_id: int,
    now: float,
    reason: str,
    *,
    http_status: int | None = None,
    digests: dict[int, tuple[str, int, str]] | None = None,
    remote: Remote | None = None,
) -> None:
    """CLAIMING/CLAIMED/SUBMITTING/IN_DOUBT -> REJECTING: refused; the files go to failed/.

    From CLAIMING (too big, duplicate) the digests of the processing copies are recorded too.
    """
    row = _row(
        session,
        submission_id,
        SubmissionState.CLAIMING,
        SubmissionState.CLAIMED,
        SubmissionState.SUBMITTING,
        SubmissionState.IN_DOUBT,
    )
    _learn(row, remote)
    row.state = SubmissionState.REJECTING
    row.error = reason
    row.http_status = http_status
    row.next_attempt_at = None
    row.updated_at = now
    for f in _files(session, submission_id):
        if digests is not None and f.id in digests:
            f.sha256, f.size, f.content_type = digests[f.id]
        if f.state == FileState.CLAIMING:
            f.state = FileState.PROCESSING


def merge_into(session: Session, target_id: int, others: Sequence[int], now: float) -> None:
    """Bundle: move the files of CLAIMED single-file submissions ``others`` into ``target_id``
    and delete the emptied rows, in one transaction (a crash leaves all or none merged)."""
    target = _row(session, target_id, SubmissionState.CLAIMED)
    for other_id in others:
        other = _row(session, other_id, SubmissionState.CLAIMED)
        if (other.station, other.partner) != (target.station, target.partner):
            raise LedgerError("cannot bundle files of different partnerships")
        session.execute(
            update(FileRow).where(FileRow.submission_id == other_id).values(submission_id=target_id)
        )
        session.delete(other)
    target.updated_at = now


def begin_submit(
    session: Session, submission_id: int, now: float, *, remote: Remote | None = None
) -> None:
    """CLAIMED -> SUBMITTING, committed before the POST is made; ``remote`` facts (the
    backend's name for the upload) are merged into the row's in the same commit."""
    row = _row(session, submission_id, SubmissionState.CLAIMED)
    _learn(row, remote)
    row.state = SubmissionState.SUBMITTING
    row.attempts += 1
    row.submit_started_at = now
    row.next_attempt_at = None
    row.updated_at = now


def mark_submitted(
    session: Session,
    submission_id: int,
    now: float,
    message_id: str,
    *,
    remote: Remote | None = None,
) -> None:
    """SUBMITTING/IN_DOUBT -> SUBMITTED: the gateway has the message ``message_id`` (its
    remote ID); ``remote`` facts are merged into the row's."""
    row = _row(session, submission_id, SubmissionState.SUBMITTING, SubmissionState.IN_DOUBT)
    _learn(row, remote)
    row.state = SubmissionState.SUBMITTED
    row.message_id = message_id
    row.submitted_at = now
    row.error = None
    row.http_status = None
    row.next_attempt_at = None
    row.updated_at = now


def hold(session: Session, submission_id: int, now: float, until: float, why: str) -> None:
    """CLAIMED stays CLAIMED until ``until``: the backend may not submit it yet (``why`` is
    shown in ``status``)."""
    row = _row(session, submission_id, SubmissionState.CLAIMED)
    row.next_attempt_at = until
    row.error = why
    row.updated_at = now


def names_in_use(
    session: Session, station: str, partner: str, key: str, *, since: float, exclude: int
) -> dict[str, float]:
    """The ``remote[key]`` names of this partnership's submissions (but ``exclude``) whose
    submit began at or after ``since``, each with when the latest of them began. Rows whose
    upload provably never happened are counted too: a name too many only costs a suffix."""
    query = select(SubmissionRow.remote, SubmissionRow.submit_started_at).where(
        SubmissionRow.station == station,
        SubmissionRow.partner == partner,
        SubmissionRow.submit_started_at >= since,
        SubmissionRow.id != exclude,
    )
    used: dict[str, float] = {}
    for remote, started in session.execute(query):
        name = (remote or {}).get(key)
        if isinstance(name, str) and started is not None:
            used[name] = max(started, used.get(name, started))
    return used


def retry_later(
    session: Session,
    submission_id: int,
    now: float,
    next_attempt_at: float,
    error: str,
    *,
    http_status: int | None = None,
) -> None:
    """SUBMITTING -> CLAIMED: the request provably did not take effect; try again later."""
    row = _row(session, submission_id, SubmissionState.SUBMITTING)
    row.state = SubmissionState.CLAIMED
    row.next_attempt_at = next_attempt_at
    row.error = error
    row.http_status = http_status
    row.updated_at = now


def mark_in_doubt(
    session: Session,
    submission_id: int,
    now: float,
    error: str,
    *,
    http_status: int | None = None,
    look_at: float | None = None,
    remote: Remote | None = None,
) -> None:
    """SUBMITTING -> IN_DOUBT: the gateway may have the message; reconcile before resending,
    first at ``look_at`` (default: now)."""
    row = _row(session, submission_id, SubmissionState.SUBMITTING)
    _learn(row, remote)
    row.state = SubmissionState.IN_DOUBT
    row.error = error
    row.http_status = http_status
    row.next_attempt_at = now if look_at is None else look_at
    row.updated_at = now


def mark_returning(session: Session, submission_id: int, now: float, reason: str) -> None:
    """CLAIMED/SUBMITTING -> RETURNING: a file changed after the claim and nothing was sent;
    every file goes back to the outbox."""
    row = _row(session, submission_id, SubmissionState.CLAIMED, SubmissionState.SUBMITTING)
    row.state = SubmissionState.RETURNING
    row.error = reason
    row.next_attempt_at = None
    row.updated_at = now
    for f in _files(session, submission_id):
        if f.state == FileState.PROCESSING:
            f.state = FileState.RETURNING


def files_returning(
    session: Session, submission_id: int, file_ids: Iterable[int], now: float
) -> None:
    """SUBMITTED stays SUBMITTED: these files changed after the accepted bytes went out; they
    go back to the outbox instead of into sent/."""
    row = _row(session, submission_id, SubmissionState.SUBMITTED)
    wanted = set(file_ids)
    for f in _files(session, submission_id):
        if f.id in wanted and f.state == FileState.PROCESSING:
            f.state = FileState.RETURNING
    row.updated_at = now


def set_return_target(session: Session, file_id: int, target: Path, now: float) -> None:
    """Record the outbox path a returning file is about to be linked to (a free name when a new
    file took its own), before linking it (recovery finishes the move)."""
    row = session.get(FileRow, file_id)
    if row is None or row.state != FileState.RETURNING:
        raise LedgerError(f"outbound file {file_id} is not being returned")
    row.source_path = str(target)
    _row(session, row.submission_id).updated_at = now


def file_returned(session: Session, file_id: int, now: float) -> None:
    """RETURNING -> RETURNED: the file is back in the outbox."""
    row = session.get(FileRow, file_id)
    if row is None or row.state != FileState.RETURNING:
        raise LedgerError(f"outbound file {file_id} is not being returned")
    row.state = FileState.RETURNED
    _row(session, row.submission_id).updated_at = now


def mark_returned(session: Session, submission_id: int, now: float) -> None:
    """RETURNING -> RETURNED (final): no file is on its way back any more."""
    row = _row(session, submission_id, SubmissionState.RETURNING)
    if any(f.state == FileState.RETURNING for f in _files(session, submission_id)):
        raise LedgerError(f"outbound submission {submission_id} still has files to return")
    row.state = SubmissionState.RETURNED
    row.updated_at = row.finished_at = now


def postpone(
    session: Session,
    submission_id: int,
    now: float,
    next_attempt_at: float,
    *,
    remote: Remote | None = None,
) -> None:
    """Any unfinished state: look at this row again at ``next_attempt_at`` (no state change)."""
    row = _row(session, submission_id, *UNFINISHED_STATES)
    _learn(row, remote)
    row.next_attempt_at = next_attempt_at
    row.updated_at = now


def resubmit(
    session: Session, submission_id: int, now: float, *, remote: Remote | None = None
) -> None:
    """IN_DOUBT -> CLAIMED: not on the gateway after the grace period; send it again."""
    row = _row(session, submission_id, SubmissionState.IN_DOUBT)
    _learn(row, remote)
    row.state = SubmissionState.CLAIMED
    row.next_attempt_at = now
    row.error = None
    row.updated_at = now


def set_target(
    session: Session,
    file_id: int,
    now: float,
    *,
    sent: Path | None = None,
    failed: Path | None = None,
) -> None:
    """Record where a file is about to be moved, before moving it (recovery finishes the move)."""
    row = session.get(FileRow, file_id)
    if row is None:
        raise LedgerError(f"outbound file {file_id} does not exist")
    if sent is not None:
        row.archive_path = str(sent)
    if failed is not None:
        row.failed_path = str(failed)
    _row(session, row.submission_id).updated_at = now


def file_moved(session: Session, file_id: int, state: FileState, now: float) -> None:
    """The file is now at the path recorded for ``state`` (SENT or FAILED)."""
    row = session.get(FileRow, file_id)
    if row is None:
        raise LedgerError(f"outbound file {file_id} does not exist")
    if state == FileState.SENT and row.archive_path is None:
        raise LedgerError(f"outbound file {file_id} has no archive path")
    if state == FileState.FAILED and row.failed_path is None:
        raise LedgerError(f"outbound file {file_id} has no failed path")
    row.state = state
    _row(session, row.submission_id).updated_at = now


def file_lost(session: Session, file_id: int, now: float) -> None:
    """The file vanished from where the ledger put it (someone removed it by hand)."""
    row = session.get(FileRow, file_id)
    if row is None:
        raise LedgerError(f"outbound file {file_id} does not exist")
    row.state = FileState.ABANDONED
    _row(session, row.submission_id).updated_at = now


def mark_archived(session: Session, submission_id: int, now: float) -> None:
    """SUBMITTED -> ARCHIVED: every file is in sent/; tracking starts."""
    row = _row(session, submission_id, SubmissionState.SUBMITTED)
    row.state = SubmissionState.ARCHIVED
    row.archived_at = now
    row.next_attempt_at = None
    row.error = None
    row.updated_at = now


def mark_failed(session: Session, submission_id: int, now: float) -> None:
    """REJECTING -> FAILED: every file is in failed/ with its sidecar."""
    row = _row(session, submission_id, SubmissionState.REJECTING)
    row.state = SubmissionState.FAILED
    row.next_attempt_at = None
    row.updated_at = row.finished_at = now


def record_delivery(
    session: Session,
    submission_id: int,
    now: float,
    *,
    delivery_status: str | None,
    mdn_status: str | None,
    remote: Remote | None = None,
) -> None:
    """ARCHIVED stays ARCHIVED: the latest statuses the gateway reported, and what the
    backend learned (``remote``, merged into the row's facts)."""
    row = _row(session, submission_id, SubmissionState.ARCHIVED)
    row.delivery_status = delivery_status or row.delivery_status
    row.mdn_status = mdn_status or row.mdn_status
    _learn(row, remote)
    row.tracked_at = now
    row.updated_at = now


def mark_delivered(
    session: Session,
    submission_id: int,
    now: float,
    *,
    delivery_status: str,
    mdn_status: str | None,
    remote: Remote | None = None,
) -> None:
    """ARCHIVED -> DELIVERED (final)."""
    row = _row(session, submission_id, SubmissionState.ARCHIVED)
    _learn(row, remote)
    row.state = SubmissionState.DELIVERED
    row.delivery_status = delivery_status
    row.mdn_status = mdn_status or row.mdn_status
    row.tracked_at = now
    row.updated_at = row.finished_at = now


def mark_delivery_failing(
    session: Session,
    submission_id: int,
    now: float,
    reason: str,
    *,
    delivery_status: str | None = None,
    mdn_status: str | None = None,
    remote: Remote | None = None,
) -> None:
    """ARCHIVED -> DELIVERY_FAILING: the gateway gave up; the files move sent/ -> failed/."""
    row = _row(session, submission_id, SubmissionState.ARCHIVED)
    _learn(row, remote)
    row.state = SubmissionState.DELIVERY_FAILING
    row.error = reason
    row.delivery_status = delivery_status or row.delivery_status
    row.mdn_status = mdn_status or row.mdn_status
    row.tracked_at = now
    row.updated_at = now


def mark_delivery_failed(session: Session, submission_id: int, now: float) -> None:
    """DELIVERY_FAILING -> DELIVERY_FAILED (final): the files are in failed/."""
    row = _row(session, submission_id, SubmissionState.DELIVERY_FAILING)
    row.state = SubmissionState.DELIVERY_FAILED
    row.updated_at = row.finished_at = now


# -- status, history and retention ------------------------------------------------------------


def counts_by_state(session: Session) -> dict[tuple[str, str], dict[str, int]]:
    """Number of submissions per (station, partner) and state (state values as keys)."""
    query = select(
        SubmissionRow.station, SubmissionRow.partner, SubmissionRow.state, func.count()
    ).group_by(SubmissionRow.station, SubmissionRow.partner, SubmissionRow.state)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for station, partner, state, n in session.execute(query):
        counts.setdefault((station, partner), {})[SubmissionState(state).value] = int(n)
    return counts


@dataclass(frozen=True)
class HistoryRow:
    """One outbound file as ``as2sync messages`` shows it."""

    submission_id: int
    station: str
    partner: str
    file: str
    size: int | None
    state: str
    message_id: str | None
    claimed_at: float
    submitted_at: float | None
    finished_at: float | None
    delivery_status: str | None
    mdn_status: str | None
    error: str | None
    path: str | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _history_query(since: float | None, partner: str | None) -> Select[SubmissionRow, FileRow]:
    query = select(SubmissionRow, FileRow).join(FileRow, FileRow.submission_id == SubmissionRow.id)
    if since is not None:
        query = query.where(SubmissionRow.updated_at >= since)
    if partner is not None:
        query = query.where(SubmissionRow.partner == partner)
    return query


def _history_row(sub: SubmissionRow, f: FileRow) -> HistoryRow:
    view = _file_view(f)
    path = view.current_path
    return HistoryRow(
        submission_id=sub.id,
        station=sub.station,
        partner=sub.partner,
        file=f.name,
        size=f.size,
        state=sub.state.value,
        message_id=sub.message_id,
        claimed_at=f.claimed_at,
        submitted_at=sub.submitted_at,
        finished_at=sub.finished_at,
        delivery_status=sub.delivery_status,
        mdn_status=sub.mdn_status,
        error=sub.error,
        path=str(path) if path is not None else None,
    )


def recent(
    session: Session, *, since: float | None = None, partner: str | None = None, limit: int = 50
) -> list[HistoryRow]:
    """The most recently changed outbound files, newest first."""
    query = (
        _history_query(since, partner)
        .order_by(SubmissionRow.updated_at.desc(), FileRow.id.desc())
        .limit(limit)
    )
    return [_history_row(sub, f) for sub, f in session.execute(query)]


def recent_failures(
    session: Session, *, since: float | None = None, partner: str | None = None, limit: int = 20
) -> list[HistoryRow]:
    """Files refused or undeliverable (or on their way to failed/), newest first, with reasons."""
    query = (
        _history_query(since, partner)
        .where(
            SubmissionRow.state.in_(
                [
                    SubmissionState.REJECTING,
                    SubmissionState.FAILED,
                    SubmissionState.DELIVERY_FAILING,
                    SubmissionState.DELIVERY_FAILED,
                ]
            )
        )
        .order_by(SubmissionRow.updated_at.desc(), FileRow.id.desc())
        .limit(limit)
    )
    return [_history_row(sub, f) for sub, f in session.execute(query)]


def prune(session: Session, older_than: float, *, keep_since: float | None = None) -> int:
    """Delete finished submissions (and their files) last changed before ``older_than``.

    Unfinished rows are never deleted, whatever their age. ``keep_since`` additionally keeps
    rows accepted at or after it (pass ``now - duplicate_window`` so the duplicate check keeps
    its evidence even with a retention shorter than the window). ARCHIVED rows count as
    finished here: once older than the retention, their tracking has long stopped.
    """
    cutoff = older_than if keep_since is None else min(older_than, keep_since)
    finished = [*FINAL_STATES, SubmissionState.ARCHIVED]
    ids = list(
        session.scalars(
            select(SubmissionRow.id).where(
                SubmissionRow.state.in_(finished), SubmissionRow.updated_at < cutoff
            )
        )
    )
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(delete(FileRow).where(FileRow.submission_id.in_(chunk)))
        session.execute(delete(SubmissionRow).where(SubmissionRow.id.in_(chunk)))
    return len(ids)


_SUBMISSIONS = SubmissionRow.__tablename__
_MOVED_TO_REMOTE = ("partner_type", "gateway_failed_seen")


def backend_neutral(session: Session) -> None:
    """Schema 4 (submission rows): the v1-only columns ``partner_type`` and
    ``gateway_failed_seen`` become facts in the ``remote`` JSON column, which the AS2 Gateway
    v1 backend reads as it read the columns (see ledger/migrations.py).

    Every row keeps its partner type; a failure count is kept where it is not 0 (the count's
    default). Portable SQL (ALTER TABLE ADD/DROP COLUMN, one UPDATE per row with a bound JSON
    value). It runs in the transaction that records version 4, so a crash leaves the
    schema-3 table whole.
    """
    conn = session.connection()
    json_type = JSON().compile(dialect=conn.dialect)
    conn.execute(
        text(f"ALTER TABLE {_SUBMISSIONS} ADD COLUMN remote {json_type} NOT NULL DEFAULT '{{}}'")
    )
    old = table(
        _SUBMISSIONS,
        column("id"),
        column("partner_type"),
        column("gateway_failed_seen"),
        column("remote", JSON),
    )
    updates = []
    for row_id, partner_type, failed_seen in conn.execute(
        select(old.c.id, old.c.partner_type, old.c.gateway_failed_seen)
    ):
        facts: dict[str, Any] = {"partner_type": partner_type or "production"}
        if failed_seen:
            facts["gateway_failed_seen"] = int(failed_seen)
        updates.append({"row_id": row_id, "facts": facts})
    if updates:
        conn.execute(
            update(old)
            .where(old.c.id == bindparam("row_id"))
            .values(remote=bindparam("facts", type_=JSON)),
            updates,
        )
    for name in _MOVED_TO_REMOTE:
        conn.execute(text(f"ALTER TABLE {_SUBMISSIONS} DROP COLUMN {name}"))
