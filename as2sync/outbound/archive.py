"""Move claimed files to ``sent/`` or ``failed/`` (with a ``<name>.error.json`` sidecar).

Never overwrites, never loses a file, whatever moment a crash picks. The pattern, per file:

1. choose a free name and **commit it** as the file's target (``set_target``; for sent/ this
   rides in the same commit as the message ID, see :func:`plan_sent_targets`);
2. hard-link processing -> target and fsync the target folder;
3. unlink the processing name and fsync its folder (2 and 3: :func:`~.fsutil.place_at`);
4. commit the file's new place (``file_moved``), with the last file also the new state.

Killed after 1: the target is recorded but absent; the move is made again (to a new free name
if someone took that one meanwhile). Killed after 2: both names are the same inode;
:func:`~.fsutil.finish_place_at` sees that and only unlinks. Killed after 3: the source
is gone and the target present; ``finish_place_at`` reports it done. So recovery is always
"finish the move to the recorded target, else choose again" — the same code as the first
attempt.

A storage error (permission denied on sent/, disk full) raises :class:`StorageError` with
:func:`~.fsutil.storage_error`'s text; the file stays where it is, the ledger row stays
in its state, and the engine tries again later.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import structlog
from sqlalchemy.orm import Session

from as2sync.failpoints import failpoint
from as2sync.folders import fsutil
from as2sync.folders.filenames import from_ledger, to_ledger
from as2sync.folders.layout import PartnerDirs
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, OutFile, Submission, SubmissionState
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

SIDECAR_SUFFIX = ".error.json"


def _after_link() -> None:
    failpoint("outbound.after_archive_link")


def _sidecar_name(name: str) -> str:
    return name + SIDECAR_SUFFIX


def _own_name(f: OutFile) -> str:
    """The name a file keeps in sent/ and failed/: its original bytes name when that was not
    UTF-8 (``f.name`` is then the escaped name it was sent under, see
    :mod:`as2sync.folders.filenames`), else ``f.name``."""
    source = from_ledger(f.source_path)
    return source.name if source != f.source_path else f.name


def _recorded(path: Path | None) -> Path | None:
    return None if path is None else from_ledger(path)


def _finish_recorded(dirs: PartnerDirs, src_fd: int | None, source: Path, recorded: Path) -> bool:
    """:func:`fsutil.finish_place_at` for the recorded target, through verified folders."""
    try:
        with dirs.open(recorded.parent) as dst:
            if src_fd is None:  # the source's folder is gone, so is the source
                return fsutil.exists_at(dst, recorded.name)
            return fsutil.finish_place_at(src_fd, source.name, dst, recorded.name)
    except FileNotFoundError:
        return False


Sidecar = Callable[[int, str], None]
"""Writes the reason for a file about to arrive as the given name in the given folder."""


def _move(
    ctx: Context,
    f: OutFile,
    source: Path,
    directory: Path,
    state: FileState,
    sidecar: Sidecar | None = None,
    finish: Callable[[Session], None] | None = None,
) -> Path | None:
    """Move one file to ``directory`` under a free name; the target is committed first.

    ``sidecar(folder_fd, name)`` (failed/ only) writes the reason beside the target before the
    file arrives there, so a file in failed/ has its reason from its first moment; after a
    crash it is rewritten. ``finish(session)`` runs in the same transaction that records the
    file's new place (the caller's last state change, saving a commit). Returns where the file
    is now, or None if the source is gone and no target holds it (removed by hand); the ledger
    records either. Every folder is opened as a verified descriptor and the move is made
    relative to them (UnsafeFolder if one is a symbolic link; nothing is moved then).
    """
    dirs = ctx.dirs(f.station, f.partner)
    recorded = _recorded(f.archive_path if state == FileState.SENT else f.failed_path)
    with contextlib.ExitStack() as stack:
        try:
            src: int | None = stack.enter_context(dirs.open(source.parent))
        except FileNotFoundError:
            src = None
        if recorded is not None and _finish_recorded(dirs, src, source, recorded):
            if sidecar is not None:
                with dirs.open(recorded.parent) as done_fd:
                    sidecar(done_fd, recorded.name)
            with ctx.ledger.transaction() as s:
                lo.file_moved(s, f.id, state, ctx.clock())
                if finish is not None:
                    finish(s)
            return recorded
        if src is None or not fsutil.exists_at(src, source.name):
            record_lost(ctx, f, source, finish)
            return None
        dst = stack.enter_context(dirs.open(directory, create=True))
        attempt = 1
        while True:
            name = fsutil.unique_basename(_own_name(f), attempt)
            target = directory / name
            attempt += 1
            # A sidecar without its file at the recorded target is ours from an interrupted try.
            sidecar_taken = (
                sidecar is not None
                and target != recorded
                and fsutil.exists_at(dst, _sidecar_name(name))
            )
            if fsutil.exists_at(dst, name) or sidecar_taken:
                continue
            if target != recorded:  # the recorded one (still free) needs no second commit
                with ctx.ledger.transaction() as s:
                    if state == FileState.SENT:
                        lo.set_target(s, f.id, ctx.clock(), sent=to_ledger(target))
                    else:
                        lo.set_target(s, f.id, ctx.clock(), failed=to_ledger(target))
            if sidecar is not None:
                sidecar(dst, name)
            if fsutil.place_at(src, source.name, dst, name, after_link=_after_link):
                with ctx.ledger.transaction() as s:
                    lo.file_moved(s, f.id, state, ctx.clock())
                    if finish is not None:
                        finish(s)
                return target
            # Taken between the check and the link: withdraw our sidecar, try the next name.
            if sidecar is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_sidecar_name(name), dir_fd=dst)


def record_lost(
    ctx: Context, f: OutFile, path: Path, finish: Callable[[Session], None] | None = None
) -> None:
    """The file is gone from ``path``, where as2sync keeps it (removed by hand): say so and
    record it, with the caller's ``finish(session)`` in the same transaction."""
    log.error(
        "outbound.file_missing",
        station=f.station,
        partner=f.partner,
        file=f.name,
        path=str(path),
        hint="the file was removed by hand from where as2sync keeps it",
    )
    with ctx.ledger.transaction() as s:
        lo.file_lost(s, f.id, ctx.clock())
        if finish is not None:
            finish(s)


def _sent_dir(ctx: Context, sub: Submission, when: float) -> Path:
    """sent/, or sent/YYYY-MM-DD/ (local date of acceptance) with ``sent_dated_folders``."""
    base = ctx.dirs(sub.station, sub.partner).sent
    if ctx.outbound.sent_dated_folders:
        return base / time.strftime("%Y-%m-%d", time.localtime(when))
    return base


def plan_sent_targets(ctx: Context, sub: Submission, now: float) -> dict[int, Path]:
    """Free names in sent/ for the files of a just-accepted submission, to be committed with
    the message ID (one commit instead of two), as the ledger records paths
    (:func:`~.filenames.to_ledger`). Best effort: a name taken meanwhile, or a folder that
    cannot be read, is dealt with by :func:`archive_sent` choosing again."""
    directory = _sent_dir(ctx, sub, now)
    chosen: dict[int, Path] = {}
    try:
        with ctx.dirs(sub.station, sub.partner).open(directory, create=True) as fd:
            for f in sub.files:
                if f.state != FileState.PROCESSING:
                    continue
                attempt = 1
                while True:
                    name = fsutil.unique_basename(_own_name(f), attempt)
                    attempt += 1
                    taken = directory / name in chosen.values() or fsutil.exists_at(fd, name)
                    if not taken:
                        chosen[f.id] = directory / name
                        break
    except OSError:  # UnsafeFolder included
        return {}
    return {file_id: to_ledger(target) for file_id, target in chosen.items()}


def archive_sent(ctx: Context, sub: Submission) -> Submission:
    """SUBMITTED -> ARCHIVED: every file from processing into sent/ (resumes a half-done move).

    Raises StorageError when the filesystem refuses; the row stays SUBMITTED.
    """
    directory = _sent_dir(ctx, sub, sub.submitted_at or ctx.clock())
    pending = [f for f in sub.files if f.state == FileState.PROCESSING]
    archived: Submission | None = None

    def finish(session: Session) -> None:
        # In the transaction that records the last file's move: no second one to read it.
        nonlocal archived
        lo.mark_archived(session, sub.id, ctx.clock())
        archived = lo.get(session, sub.id)

    for index, f in enumerate(pending):
        last = index == len(pending) - 1
        try:
            target = _move(
                ctx,
                f,
                f.processing_path,
                directory,
                FileState.SENT,
                finish=finish if last else None,
            )
        except OSError as exc:
            raise fsutil.storage_error("archive the sent file into", directory, exc) from exc
        if target is not None:
            log.info(
                "outbound.sent",
                station=sub.station,
                partner=sub.partner,
                file=f.name,
                message_id=sub.message_id,
                size=f.size,
                path=str(target),
            )
    if archived is None:
        with ctx.ledger.transaction() as s:
            lo.mark_archived(s, sub.id, ctx.clock())
            archived = lo.get(s, sub.id)
    ctx.counters.sent(sum(1 for f in archived.files if f.state == FileState.SENT), ctx.clock())
    return archived


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def sidecar_document(sub: Submission, f: OutFile, now: float) -> dict[str, object]:
    return {
        "reason": sub.error or "unknown",
        "http_status": sub.http_status,
        "time": _iso(now),
        "station": sub.station,
        "partner": sub.partner,
        "file": f.name,
        "size": f.size,
        "sha256": f.sha256,
        "message_id": sub.message_id,
        "state": sub.state.value,
    }


def write_sidecar(
    dirs: PartnerDirs, folder_fd: int, name: str, document: dict[str, object]
) -> None:
    """Write ``<name>.error.json`` in the folder atomically (temp file in the partnership's
    processing folder, same filesystem; fsync; rename). Rewriting it is harmless, which is what
    recovery relies on."""
    tmp = f".sidecar-{uuid.uuid4().hex}.tmp"
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with dirs.open(dirs.processing, create=True) as scratch:
        fd = fsutil.open_file_at(scratch, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with open(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, _sidecar_name(name), src_dir_fd=scratch, dst_dir_fd=folder_fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=scratch)
    os.fsync(folder_fd)


def move_to_failed(ctx: Context, sub: Submission, *, stage: str) -> Submission:
    """REJECTING -> FAILED or DELIVERY_FAILING -> DELIVERY_FAILED: each file (from processing,
    or from sent/ after a delivery failure) into failed/ with its ``.error.json`` sidecar.

    Raises StorageError when the filesystem refuses; the row keeps its state.
    """
    dirs = ctx.dirs(sub.station, sub.partner)
    for f in sub.files:
        source = _recorded(f.current_path)
        if f.state in (FileState.FAILED, FileState.ABANDONED) or source is None:
            continue

        def sidecar(folder_fd: int, name: str, f: OutFile = f) -> None:
            write_sidecar(dirs, folder_fd, name, sidecar_document(sub, f, ctx.clock()))

        try:
            target = _move(ctx, f, source, dirs.failed, FileState.FAILED, sidecar)
        except OSError as exc:
            raise fsutil.storage_error("move the failed file into", dirs.failed, exc) from exc
        if target is not None:
            ctx.counters.failed(1)
            log.warning(
                "outbound.failed",
                station=sub.station,
                partner=sub.partner,
                file=f.name,
                message_id=sub.message_id,
                reason=sub.error,
                http_status=sub.http_status,
                stage=stage,
                path=str(target),
            )
    with ctx.ledger.transaction() as s:
        if sub.state == SubmissionState.DELIVERY_FAILING:
            lo.mark_delivery_failed(s, sub.id, ctx.clock())
        else:
            lo.mark_failed(s, sub.id, ctx.clock())
        return lo.get(s, sub.id)
