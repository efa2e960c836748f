"""The ledger database: engine, schema version, and explicit transactions.

The ledger is a SQLite file under ``state_dir``. It is the truth about what was claimed,
submitted, downloaded and written; the folders and the gateway are reconciled against it.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``, so a transaction that returned is
on disk before the file operation that depends on it starts (every crash analysis in
``outbound/`` and ``inbound/`` assumes exactly that). Writes are serialised by a process-wide
lock because SQLite allows one writer; readers never block.

Tables are declared on :data:`Base` by the modules that own them (``ledger/outbound.py``,
``ledger/inbound.py``); :func:`open_ledger` imports them so ``create_all`` sees every table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, create_engine, event, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from as2sync.errors import LedgerConflict, LedgerError, LedgerUnavailable

SCHEMA_VERSION = 2  # 2: received messages keyed by their exact ID (ledger/migrations.py)
LEDGER_FILE = "ledger.sqlite3"


class Base(DeclarativeBase):
    pass


class Meta(Base):
    """Key/value facts about the ledger itself (schema version, creation time)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


def now() -> float:
    """Wall-clock seconds; the ledger stores times as epoch floats (UTC by definition)."""
    return time.time()


class Ledger:
    """Owns the engine. ``transaction()`` is the only way to write; ``read()`` to read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One atomic unit of work: committed (and durable) when the block exits normally."""
        with self._write_lock, self._sessions() as session:
            try:
                with session.begin():
                    yield session
            except OperationalError as exc:
                raise LedgerUnavailable(f"ledger write failed: {describe(exc)}") from exc
            except IntegrityError as exc:
                detail = f"ledger write conflicts with a recorded row: {exc.orig}"
                raise LedgerConflict(detail) from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session; anything it changes is discarded."""
        with self._sessions() as session:
            try:
                yield session
            except OperationalError as exc:
                raise LedgerUnavailable(f"ledger read failed: {describe(exc)}") from exc
            finally:
                session.rollback()

    def close(self) -> None:
        self.engine.dispose()


# SQLite reports filesystem trouble as bare messages; say what the operator should do. The
# daemon's loops log a LedgerUnavailable as a storage error and retry with back-off; since every
# write is one transaction, a failed one left nothing half-done (SQLite rolled it back).
_SQLITE_HINTS = {
    "database or disk is full": "the disk is full; free space and as2sync resumes by itself",
    "readonly database": "the ledger is read-only; check the state_dir's owner and mode",
    "unable to open database file": "cannot open the ledger; check the state_dir's owner and mode",
    "disk i/o error": "disk I/O error; check the disk under the state_dir",
}


def describe(exc: OperationalError) -> str:
    """An operator's reading of a SQLite error: the hint if one fits, and SQLite's own words."""
    detail = str(exc.orig)
    for needle, hint in _SQLITE_HINTS.items():
        if needle in detail.lower():
            return f"{hint} ({detail})"
    return detail


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _schema_version(value: str, path: Path) -> int:
    try:
        return int(value)
    except ValueError:
        raise LedgerError(
            f"ledger {path} has an unreadable schema version: it is damaged or not an as2sync "
            "ledger; restore it from a backup"
        ) from None


def open_ledger(state_dir: Path) -> Ledger:
    """Open (creating if needed) the ledger in ``state_dir``; check its schema version."""
    # Imported for their side effect of declaring tables on Base.
    from as2sync.ledger import inbound as _inbound  # noqa: F401
    from as2sync.ledger import outbound as _outbound  # noqa: F401
    from as2sync.ledger.migrations import migrate

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create state_dir {state_dir}: {exc.strerror}") from exc
    path = state_dir / LEDGER_FILE
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    ledger = Ledger(engine)
    try:
        Base.metadata.create_all(engine)
        with ledger.transaction() as session:
            row = session.scalar(select(Meta).where(Meta.key == "schema_version"))
            if row is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                session.add(Meta(key="created_at", value=str(now())))
            elif _schema_version(row.value, path) > SCHEMA_VERSION:
                raise LedgerError(
                    f"ledger {path} has schema version {row.value}, newer than this as2sync "
                    f"understands ({SCHEMA_VERSION}); upgrade as2sync"
                )
            elif int(row.value) < SCHEMA_VERSION:
                migrate(session, int(row.value), SCHEMA_VERSION)
                row.value = str(SCHEMA_VERSION)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    return ledger
