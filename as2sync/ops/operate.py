"""Operator commands that change things: ``as2sync send`` and ``as2sync retry``.

Both must be safe while the daemon runs. Two processes must never drive the same ledger rows
(both could submit one claimed file), so when the daemon holds the state_dir lock these
commands hand the work to it through the folders it watches — a file renamed into an outbox
is exactly what the daemon already sends exactly once — and wait for the ledger to show the
result. Without a running daemon they take the lock themselves and do the work directly.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import structlog

from as2sync.backends.registry import DaemonBackend, make_backend
from as2sync.config import Config
from as2sync.config.as2id import as2_id_problem
from as2sync.errors import As2SyncError, ConfigError, ConfigProblem, LockError, StorageError
from as2sync.folders.filenames import to_ledger, wire_name
from as2sync.folders.fsutil import fsync_file, place_unique, storage_error
from as2sync.folders.layout import discover, partner_dirs
from as2sync.folders.lock import StateLock
from as2sync.ledger import outbound as outbound_ledger
from as2sync.ledger.db import open_ledger_read_only
from as2sync.ledger.guard import open_for_work
from as2sync.outbound.archive import SIDECAR_SUFFIX

log = structlog.get_logger(__name__)

HANDOFF_TIMEOUT = 300.0


def _drop_into_outbox(source: Path, outbox: Path) -> Path:
    """Copy ``source`` into ``outbox`` atomically: a hidden temp name, fsync, then rename.

    The daemon ignores dot-files, so it never sees a partial copy.
    """
    outbox.mkdir(parents=True, exist_ok=True)
    tmp = outbox / f".as2sync-send-{os.getpid()}-{source.name}"
    try:
        shutil.copyfile(source, tmp)
        fsync_file(tmp)
        return place_unique(tmp, outbox, source.name)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise storage_error("copy into", outbox, exc) from exc


def _wait_for_submission(
    config: Config, station: str, partner: str, name: str, since: float
) -> str:
    ledger = open_ledger_read_only(config.state_dir)
    deadline = time.monotonic() + HANDOFF_TIMEOUT
    try:
        while time.monotonic() < deadline:
            with ledger.read() as session:
                for row in outbound_ledger.recent(session, since=since, partner=partner, limit=200):
                    if row.station != station or row.file != name:
                        continue
                    if row.message_id:
                        return row.message_id
                    if row.state in ("failed", "abandoned"):
                        raise As2SyncError(f"{name} was not sent: {row.error or row.state}")
            time.sleep(0.5)
    finally:
        ledger.close()
    raise As2SyncError(
        f"the running daemon has not sent {name} within {HANDOFF_TIMEOUT:.0f}s; "
        "it stays in the outbox and will be sent; see `as2sync status`"
    )


def _check_pair_arguments(station: str, partner: str) -> None:
    """``--station``/``--partner`` must be AS2 IDs: they become folder names under the root."""
    problems = [
        ConfigProblem(f"--{which}", problem)
        for which, value in (("station", station), ("partner", partner))
        if (problem := as2_id_problem(value))
    ]
    if problems:
        raise ConfigError(problems)


def _check_pair_on_gateway(backend: DaemonBackend, station: str, partner: str) -> None:
    """Refuse a pair the gateway would refuse, before anything is created for it: a folder
    made for a mistyped partner would stay behind for good (and be scanned ever after)."""
    problems = backend.sendable_problems(station, partner)
    if problems:
        raise ConfigError([ConfigProblem(f"--{which}", reason) for which, reason in problems])


def send_now(config: Config, source: Path, station: str, partner: str) -> str:
    """Send one file through the ledger's rules; return its AS2 message ID.

    Raises ConfigError, having created nothing, when the pair is not a valid one of the
    account's.
    """
    _check_pair_arguments(station, partner)
    if not source.is_file():
        raise StorageError(f"{source} is not a file")
    from as2sync.outbound.engine import OutboundEngine

    backend = make_backend(config)
    try:
        _check_pair_on_gateway(backend, station, partner)
        lock = StateLock(config.state_dir)
        try:
            lock.acquire()
        except LockError:
            started = time.time()
            placed = _drop_into_outbox(source, partner_dirs(config, station, partner).outbox)
            log.info("send.handed_to_daemon", station=station, partner=partner, file=placed.name)
            return _wait_for_submission(config, station, partner, placed.name, started - 1)
        try:
            ledger = open_for_work(config)
            try:
                return OutboundEngine(config, ledger, backend).send_file(source, station, partner)
            finally:
                ledger.close()
        finally:
            lock.release()
    finally:
        backend.close()


def retry_target(config: Config, target: str) -> str:
    """Retry a failed outbound file (a path) or a received message (an AS2 message ID)."""
    path = Path(target)
    if path.exists() or os.sep in target:
        return _retry_file(config, path)
    return _retry_message(config, target)


def _data_file(path: Path) -> Path:
    """The failed file that ``path`` names: itself, or the file whose error report it is.

    A report never has a report of its own, so a ``.error.json`` with one is a data file (a
    partner may well be sent ``x.error.json``); only the data file may go back to the outbox,
    or the report itself would be sent to the partner.
    """
    if path.name.endswith(SIDECAR_SUFFIX) and not _report_of(path).exists():
        data = path.with_name(path.name.removesuffix(SIDECAR_SUFFIX))
        if not data.is_file():
            raise StorageError(
                f"{path.name} is the error report of {data.name}, and {data.name} is no longer "
                f"in {path.parent} (already retried or removed); nothing to send"
            )
        return data
    return path


def _report_of(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _retry_file(config: Config, path: Path) -> str:
    path = path.resolve()
    for pair in discover(config):
        failed = pair.failed.resolve()
        if path.parent == failed or failed in path.parents:
            break
    else:
        raise StorageError(f"{path} is not in a failed/ folder of a known station/partner")
    if not path.is_file():
        raise StorageError(f"{path} does not exist")
    path = _data_file(path)
    # The ledger knows the file by the path it was archived under: below the folder as
    # configured (symlinks in folders.root or the route unresolved), and for a name that is
    # not UTF-8 as a file: URI (see as2sync/filenames.py).
    recorded = to_ledger(pair.failed / path.relative_to(failed))
    ledger = open_for_work(config)
    try:
        with ledger.transaction() as session:
            outbound_ledger.allow_resend(session, str(recorded), time.time())
    finally:
        ledger.close()
    try:
        placed = place_unique(path, pair.outbox, path.name)
    except OSError as exc:
        raise storage_error("move back into", pair.outbox, exc) from exc
    # The report goes once the file is back: killed in between, a stale report stays behind
    # (retrying it says its file is gone), never a file without its reason.
    _report_of(path).unlink(missing_ok=True)
    shown = wire_name(path.name)  # printable, as logs and status show it
    log.info("retry.file", station=pair.station, partner=pair.partner, file=wire_name(placed.name))
    return f"{shown} is back in {pair.outbox} and will be sent"


def _retry_message(config: Config, message_id: str) -> str:
    from as2sync.inbound.engine import InboundEngine

    ledger = open_for_work(config)
    backend = make_backend(config)
    try:
        InboundEngine(config, ledger, backend).retry_message(message_id)
    finally:
        backend.close()
        ledger.close()
    return f"message {message_id} will be fetched again on the next poll"
