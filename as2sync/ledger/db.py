"""The ledger database: engine, schema version, and explicit transactions.

The ledger is a SQLite file under ``state_dir``. It is the truth about what was claimed,
submitted, downloaded and written; the folders and the gateway are reconciled against it.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL``, so a transaction that returned is
on disk before the file operation that depends on it starts (every crash analysis in
``outbound/`` and ``inbound/`` assumes exactly that). Writes are serialised by a process-wide
lock because SQLite allows one writer; readers never block.

Tables are declared on :data:`Base` by the modules that own them (``ledger/outbound.py``,
``ledger/inbound.py``); :func:`open_ledger` imports them so ``create_all`` sees every table.

A ledger is created only when none exists, and only by a process that will work with it
(``ledger/guard.py`` decides whether that is safe); read-only commands open it with SQLite's
``mode=ro``. A ledger that lost a table is refused, never patched with an empty one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, String, create_engine, event, inspect, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from as2sync.errors import LedgerConflict, LedgerError, LedgerUnavailable

SCHEMA_VERSION = 4  # see ledger/migrations.py for what each version changed
# 3: outbound rows may be RETURNING/RETURNED (a file changed after its claim)
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


def _declare_tables() -> None:
    # Imported for their side effect of declaring tables on Base.
    from as2sync.ledger import inbound as _inbound  # noqa: F401
    from as2sync.ledger import outbound as _outbound  # noqa: F401


def ledger_absent(state_dir: Path) -> bool:
    """True when ``state_dir`` holds no ledger: no file, an empty file, or a database without
    a single table (what a crash during the very first start can leave). Reads only."""
    path = state_dir / LEDGER_FILE
    try:
        if path.stat().st_size == 0 and _size(path.with_name(path.name + "-wal")) == 0:
            return True
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise LedgerError(f"cannot read ledger {path}: {exc.strerror}") from exc
    try:
        with closing(sqlite3.connect(_read_only_uri(path), uri=True, timeout=30)) as db:
            (tables,) = db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    return int(tables) == 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_only_uri(path: Path) -> str:
    return f"file:{quote(str(path))}?mode=ro"


def _stored_version(session: Session, path: Path) -> int:
    """The schema version recorded in the ledger; LedgerError if there is none."""
    if not inspect(session.connection()).has_table(Meta.__tablename__):
        raise LedgerError(
            f"ledger {path} lacks the table {Meta.__tablename__}: it is damaged or not an "
            "as2sync ledger; restore it from a backup"
        )
    row = session.scalar(select(Meta).where(Meta.key == "schema_version"))
    if row is None:
        raise LedgerError(
            f"ledger {path} records no schema version: it is damaged or not an as2sync "
            "ledger; restore it from a backup"
        )
    version = _schema_version(row.value, path)
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {path} has schema version {version}, newer than this as2sync "
            f"understands ({SCHEMA_VERSION}); upgrade as2sync"
        )
    return version


def _require_tables(session: Session, path: Path) -> None:
    """Refuse a ledger that lost a table: its rows are gone, and an empty table put in its
    place would forget them silently (a message marked read, a send in doubt)."""
    present = set(inspect(session.connection()).get_table_names())
    for table in sorted(Base.metadata.tables):
        if table not in present:
            raise LedgerError(
                f"ledger {path} lacks the table {table}: it is damaged; restore it from a "
                "backup (see README, Troubleshooting)"
            )


@contextmanager
def _disposed_on_error(engine: Engine, path: Path) -> Iterator[None]:
    """While opening: a failure releases the engine's connections and is a LedgerError."""
    try:
        yield
    except SQLAlchemyError as exc:
        engine.dispose()
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    except LedgerError:
        engine.dispose()
        raise


def open_ledger(state_dir: Path) -> Ledger:
    """Open the ledger in ``state_dir`` for writing, creating it when :func:`ledger_absent`.

    Whether an absent ledger may be created is the caller's decision: every command that does
    work opens it through :func:`as2sync.ledger.guard.open_for_work`, which refuses when the
    folders show that a ledger existed. An existing ledger is migrated when it is older;
    LedgerError when it is newer, records no (numeric) schema version or lacks a table.
    """
    _declare_tables()
    from as2sync.ledger.migrations import migrate

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create state_dir {state_dir}: {exc.strerror}") from exc
    path = state_dir / LEDGER_FILE
    create = ledger_absent(state_dir)
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    ledger = Ledger(engine)
    with _disposed_on_error(engine, path), ledger.transaction() as session:
        if create:
            Base.metadata.create_all(session.connection())
            session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            session.add(Meta(key="created_at", value=str(now())))
        else:
            version = _stored_version(session, path)
            if version < SCHEMA_VERSION:
                # A migration may bring tables of its own; the step then moves rows.
                Base.metadata.create_all(session.connection())
                migrate(session, version, SCHEMA_VERSION)
                session.execute(
                    update(Meta)
                    .where(Meta.key == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )
            _require_tables(session, path)
    return ledger


def _read_only_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def open_ledger_read_only(state_dir: Path) -> Ledger:
    """Open the ledger for reading only (``status``, ``messages``, waiting for the daemon).

    Never creates, migrates or repairs anything (SQLite's ``mode=ro``): LedgerError when there
    is no ledger, or it is not at this as2sync's schema version, or it lacks a table.
    """
    _declare_tables()
    path = state_dir / LEDGER_FILE
    if ledger_absent(state_dir):
        raise LedgerError(
            f"no ledger in {state_dir}: as2sync has not run with this state_dir yet "
            "(or its ledger is gone)"
        )
    uri = _read_only_uri(path)
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30),
    )
    event.listen(engine, "connect", _read_only_pragmas)
    ledger = Ledger(engine)
    with _disposed_on_error(engine, path), ledger.read() as session:
        version = _stored_version(session, path)
        if version < SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {path} has schema version {version}, older than this as2sync "
                f"({SCHEMA_VERSION}); start the daemon once to upgrade it"
            )
        _require_tables(session, path)
    return ledger
