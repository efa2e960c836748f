"""Move claimed files to ``sent/`` or ``failed/`` (with a ``<name>.error.json`` sidecar).

Never overwrites, never loses a file, whatever moment a crash picks. The pattern, per file:

1. choose a free name and **commit it** as the file's target (``set_target``; for sent/ this
   rides in the same commit as the message ID, see :func:`plan_sent_targets`);
2. hard-link processing -> target and fsync the target folder;
3. unlink the processing name and fsync its folder;
4. commit the file's new place (``file_moved``), with the last file also the new state.

Killed after 1: the target is recorded but absent; the move is made again (to a new free name
if someone took that one meanwhile). Killed after 2: both names are the same inode;
:func:`as2sync.fsutil.finish_place` sees that and only unlinks. Killed after 3: the source is
gone and the target present; ``finish_place`` reports it done. So recovery is always "finish
the move to the recorded target, else choose again" — the same code as the first attempt.

A storage error (permission denied on sent/, disk full) raises :class:`StorageError` with
:func:`as2sync.fsutil.storage_error`'s text; the file stays where it is, the ledger row stays
in its state, and the engine tries again later.
"""

from __future__ import annotations

import errno
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import structlog
from sqlalchemy.orm import Session

from as2sync import fsutil
from as2sync.failpoints import failpoint
from as2sync.filenames import from_ledger, to_ledger
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, OutFile, Submission, SubmissionState
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

SIDECAR_SUFFIX = ".error.json"
_NO_HARDLINKS = (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK)


def _link_then_unlink(source: Path, target: Path) -> bool:
    """:func:`fsutil.place` with a crash point between the link and the unlink."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINKS:
            raise
        return fsutil.place(source, target)  # no hard links here: its rename fallback
    fsutil.fsync_dir(target.parent)
    failpoint("outbound.after_archive_link")
    # Crash here: two names, one inode; finish_place unlinks the source on the next attempt.
    fsutil.finish_place(source, target)
    return True


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + SIDECAR_SUFFIX)


def _own_name(f: OutFile) -> str:
    """The name a file keeps in sent/ and failed/: its original bytes name when that was not
    UTF-8 (``f.name`` is then the escaped name it was sent under, see
    :mod:`as2sync.filenames`), else ``f.name``."""
    source = from_ledger(f.source_path)
    return source.name if source != f.source_path else f.name


def _recorded(path: Path | None) -> Path | None:
    return None if path is None else from_ledger(path)


def _move(
    ctx: Context,
    f: OutFile,
    source: Path,
    directory: Path,
    state: FileState,
    sidecar: Callable[[Path], None] | None = None,
    finish: Callable[[Session], None] | None = None,
) -> Path | None:
    """Move one file to ``directory`` under a free name; the target is committed first.

    ``sidecar(target)`` (failed/ only) writes the reason beside the target before the file
    arrives there, so a file in failed/ has its reason from its first moment; after a crash it
    is rewritten. ``finish(session)`` runs in the same transaction that records the file's
    new place (the caller's last state change, saving a commit). Returns where the file is
    now, or None if the source is gone and no target holds it (removed by hand); the ledger
    records either.
    """
    recorded = _recorded(f.archive_path if state == FileState.SENT else f.failed_path)
    if recorded is not None and fsutil.finish_place(source, recorded):
        if sidecar is not None:
            sidecar(recorded)
        with ctx.ledger.transaction() as s:
            lo.file_moved(s, f.id, state, ctx.clock())
            if finish is not None:
                finish(s)
        return recorded
    if not os.path.lexists(source):
        log.error(
            "outbound.file_missing",
            station=f.station,
            partner=f.partner,
            file=f.name,
            path=str(source),
            hint="the file was removed by hand from where as2sync keeps it",
        )
        with ctx.ledger.transaction() as s:
            lo.file_lost(s, f.id, ctx.clock())
            if finish is not None:
                finish(s)
        return None
    directory.mkdir(parents=True, exist_ok=True)
    attempt = 1
    while True:
        target = fsutil.unique_name(directory, _own_name(f), attempt)
        attempt += 1
        # A sidecar without its file at the recorded target is ours from an interrupted try.
        sidecar_taken = (
            sidecar is not None and target != recorded and os.path.lexists(_sidecar_path(target))
        )
        if os.path.lexists(target) or sidecar_taken:
            continue
        if target != recorded:  # the recorded one (still free) needs no second commit
            with ctx.ledger.transaction() as s:
                if state == FileState.SENT:
                    lo.set_target(s, f.id, ctx.clock(), sent=to_ledger(target))
                else:
                    lo.set_target(s, f.id, ctx.clock(), failed=to_ledger(target))
        if sidecar is not None:
            sidecar(target)
        if _link_then_unlink(source, target):
            with ctx.ledger.transaction() as s:
                lo.file_moved(s, f.id, state, ctx.clock())
                if finish is not None:
                    finish(s)
            return target
        # Taken between the check and the link: withdraw our sidecar, try the next name.
        if sidecar is not None:
            _sidecar_path(target).unlink(missing_ok=True)


def _sent_dir(ctx: Context, sub: Submission, when: float) -> Path:
    """sent/, or sent/YYYY-MM-DD/ (local date of acceptance) with ``sent_dated_folders``."""
    base = ctx.dirs(sub.station, sub.partner).sent
    if ctx.outbound.sent_dated_folders:
        return base / time.strftime("%Y-%m-%d", time.localtime(when))
    return base


def plan_sent_targets(ctx: Context, sub: Submission, now: float) -> dict[int, Path]:
    """Free names in sent/ for the files of a just-accepted submission, to be committed with
    the message ID (one commit instead of two), as the ledger records paths
    (:func:`as2sync.filenames.to_ledger`). Best effort: a name taken meanwhile, or a folder that
    cannot be read, is dealt with by :func:`archive_sent` choosing again."""
    directory = _sent_dir(ctx, sub, now)
    chosen: dict[int, Path] = {}
    try:
        for f in sub.files:
            if f.state != FileState.PROCESSING:
                continue
            attempt = 1
            while True:
                target = fsutil.unique_name(directory, _own_name(f), attempt)
                attempt += 1
                if target not in chosen.values() and not os.path.lexists(target):
                    chosen[f.id] = target
                    break
    except OSError:
        return {}
    return {file_id: to_ledger(target) for file_id, target in chosen.items()}


def archive_sent(ctx: Context, sub: Submission) -> Submission:
    """SUBMITTED -> ARCHIVED: every file from processing into sent/ (resumes a half-done move).

    Raises StorageError when the filesystem refuses; the row stays SUBMITTED.
    """
    directory = _sent_dir(ctx, sub, sub.submitted_at or ctx.clock())
    pending = [f for f in sub.files if f.state == FileState.PROCESSING]
    finished = False

    def finish(session: Session) -> None:
        nonlocal finished
        lo.mark_archived(session, sub.id, ctx.clock())
        finished = True

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
    with ctx.ledger.transaction() as s:
        if not finished:
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


def write_sidecar(target: Path, document: dict[str, object], scratch: Path) -> Path:
    """Write ``<target>.error.json`` atomically (temp in ``scratch`` on the same filesystem,
    fsync, rename). Rewriting it is harmless, which is what recovery relies on."""
    path = _sidecar_path(target)
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = scratch / f".sidecar-{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsutil.fsync_dir(path.parent)
    return path


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

        def sidecar(target: Path, f: OutFile = f) -> None:
            write_sidecar(target, sidecar_document(sub, f, ctx.clock()), dirs.processing)

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
