"""Finish what a crash (or a storage error) left half done, from the ledger alone.

* PLANNED file whose temp file (or temp folder) is still there: the move did not happen, or
  happened half (hard link made, temp not yet unlinked): finish it, choosing another free name
  if someone else took the planned one.
* PLANNED file whose temp is gone: the move happened. A consumer may already have taken the
  file, so it is never written again; it is only checked (by path and SHA-256) for the log.
* FETCHING message with every attachment WRITTEN: STORED (it is marked read by the next poll).
* A temp file or folder in a work folder that no PLANNED row names: it was written before the
  crash but never recorded; the message is still FETCHING and is fetched again, so it is
  deleted. Likewise every leftover batch zip.

Orphan removal runs only at start, when nothing else is writing; finishing PLANNED files also
runs at the start of each poll, to complete moves an earlier storage error interrupted.

Every look and every change goes through the partnership's verified folder descriptors
(:meth:`~.layout.PartnerDirs.open`), as :mod:`.store` does: a work folder or inbox that
became a symbolic link since the crash is refused (UnsafeFolder, a storage error; the rows stay
PLANNED until it is a real folder again), never followed to finish, check or delete a file of
the same name somewhere else.
"""

from __future__ import annotations

import os
from collections import defaultdict
from functools import partial
from pathlib import Path

from as2sync.folders.fsutil import exists_at, finish_place_at, sha256_at, storage_error
from as2sync.folders.layout import PartnerDirs, dirs_for_path, discover, partner_dirs
from as2sync.inbound.context import Context, log
from as2sync.inbound.layouts import SIDECAR_SUFFIX
from as2sync.inbound.writer import (
    ZIP_PREFIX,
    discard_unit,
    place_file,
    place_folder,
    sync_dirs,
    unit_of,
)
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.inbound import FileKind, InboundFile


def _replan(
    ctx: Context, group: list[InboundFile], finals: dict[int, Path], new: dict[int, Path]
) -> None:
    """Commit new final paths for files of ``group`` (by id), then note them in ``finals``."""
    now = ctx.clock()
    with ctx.ledger.transaction() as session:
        for row in group:
            if row.id in new:
                ledger_in.replan_file(session, row.id, str(new[row.id]), now=now)
    finals.update((row.id, new[row.id]) for row in group if row.id in new)


def _replan_file(
    ctx: Context, row: InboundFile, group: list[InboundFile], finals: dict[int, Path], new: Path
) -> None:
    changes = {row.id: new}
    if row.kind is FileKind.DATA:
        for other in group:
            if other.kind is FileKind.METADATA and other.index == row.index:
                changes[other.id] = new.with_name(new.name + SIDECAR_SUFFIX)
    _replan(ctx, group, finals, changes)


def _replan_folder(
    ctx: Context, rows: list[InboundFile], finals: dict[int, Path], new_dir: Path
) -> None:
    _replan(ctx, rows, finals, {r.id: new_dir / finals[r.id].name for r in rows})


def _exists(dirs: PartnerDirs, path: Path) -> bool:
    """Whether ``path`` (in ``dirs``) exists, nothing followed; UnsafeFolder for a symlinked
    folder on the way."""
    try:
        with dirs.open(path.parent) as folder:
            return exists_at(folder, path.name)
    except FileNotFoundError:
        return False


def _finished(dirs: PartnerDirs, temp: Path, final: Path) -> bool:
    """:func:`fsutil.finish_place_at` on verified folders: True if ``final`` holds the file
    (an interrupted link-then-unlink is completed)."""
    with dirs.open(temp.parent) as src:
        try:
            with dirs.open(final.parent) as dst:
                return finish_place_at(src, temp.name, dst, final.name)
        except FileNotFoundError:  # no inbox (yet): the file cannot be there
            return False


def _finish_unit(
    ctx: Context,
    rows: list[InboundFile],
    siblings: list[InboundFile],
    finals: dict[int, Path],
    touched: set[Path],
) -> str:
    """Complete the move of one unit (a file, or a message folder), keeping ``finals`` (file
    id -> final path, as committed) up to date. Returns what was found."""
    temp, final = Path(rows[0].temp_path), finals[rows[0].id]
    dirs = dirs_for_path(ctx.config, final)  # every look and move through verified folders
    temp_unit, final_unit = unit_of(temp, final)
    if temp_unit != temp:  # a message folder
        if not _exists(dirs, temp_unit):
            return "moved"
        replan = partial(_replan_folder, ctx, rows, finals)
        place_folder(temp_unit, final_unit, replan, touched, dirs=dirs)
        return "finished"
    if not _exists(dirs, temp):
        return "moved"
    if _finished(dirs, temp, final):
        return "finished"
    replan_one = partial(_replan_file, ctx, rows[0], siblings, finals)
    place_file(temp, final, replan_one, touched, dirs=dirs)
    return "finished"


def _check_moved(ctx: Context, row: InboundFile, final: Path) -> str:
    try:
        with dirs_for_path(ctx.config, final).open(final.parent) as folder:
            digest, _size = sha256_at(folder, final.name)
    except FileNotFoundError:
        return "taken by a consumer"
    except OSError as exc:  # UnsafeFolder too: a symlinked inbox is not looked into
        return f"unreadable ({exc.strerror})"
    return "in place" if digest == row.sha256 else "replaced by another file"


def finish_planned(ctx: Context) -> int:
    """Move every PLANNED file into place and promote fully written messages to STORED.

    Storage errors are logged and recorded on the context; the rows stay PLANNED for the next
    attempt. Returns the number of files completed.
    """
    with ctx.ledger.read() as session:
        planned = ledger_in.planned_files(session)
        messages = ledger_in.messages_by_id(session, {row.message_row for row in planned})
    by_message: dict[int, list[InboundFile]] = defaultdict(list)
    for row in planned:
        by_message[row.message_row].append(row)
    completed = 0
    for message_row, rows in by_message.items():
        finals = {row.id: Path(row.final_path) for row in rows}  # updated by each replan
        units: dict[Path, list[InboundFile]] = defaultdict(list)
        for row in rows:
            units[unit_of(Path(row.temp_path), finals[row.id])[0]].append(row)
        message = messages.get(message_row)
        for unit_rows in units.values():
            touched: set[Path] = set()
            try:
                found = _finish_unit(ctx, unit_rows, rows, finals, touched)
                sync_dirs(touched)
            except OSError as exc:
                error = storage_error("move a file into", finals[unit_rows[0].id].parent, exc)
                ctx.storage_errors.append(error)
                if message is not None:
                    ctx.failed([message], str(error), event="inbound.storage_error", retry_now=True)
                continue
            with ctx.ledger.transaction() as session:
                ledger_in.file_written(session, [r.id for r in unit_rows], now=ctx.clock())
            completed += len(unit_rows)
            for row in unit_rows:
                final = finals[row.id]
                log.info(
                    "inbound.recovered_file",
                    station=message.station if message else None,
                    partner=message.partner if message else None,
                    message_id=message.message_id if message else None,
                    file=str(final),
                    found=found if found == "finished" else _check_moved(ctx, row, final),
                )
    promote_written(ctx)
    return completed


def promote_written(ctx: Context) -> list[int]:
    """FETCHING messages whose every attachment has a WRITTEN file become STORED."""
    now = ctx.clock()
    with ctx.ledger.transaction() as session:
        promoted = ledger_in.fully_written(session)
        ledger_in.message_stored(session, promoted, now=now)
    if promoted:
        ctx.count_stored(len(promoted))
        log.info("inbound.recovered_stored", messages=len(promoted))
    return promoted


def remove_orphans(ctx: Context) -> int:
    """Delete temp files/folders no PLANNED row names, and leftover batch zips. Start only."""
    with ctx.ledger.read() as session:
        keep = {
            unit_of(Path(r.temp_path), Path(r.final_path))[0]
            for r in ledger_in.planned_files(session)
        }
        pairs = ledger_in.unfinished_partnerships(session)
    work_dirs = {d.incoming: d for d in discover(ctx.config)}
    work_dirs |= {(d := partner_dirs(ctx.config, s, p)).incoming: d for s, p in pairs}
    removed = 0
    for incoming, dirs in sorted(work_dirs.items()):
        try:
            with dirs.open(incoming) as folder:  # a symlinked work folder is not listed
                names = sorted(os.listdir(folder))
        except FileNotFoundError:
            continue
        except OSError as exc:
            # One broken partnership folder must not stop the daemon from starting.
            log.error("inbound.storage_error", file=str(incoming), reason=str(exc))
            continue
        for name in names:
            path = incoming / name
            if path not in keep:
                discard_unit(path, dirs=dirs)
                removed += 1
                log.info("inbound.orphan_removed", file=str(path))
    try:
        for path in ctx.tmp.glob(f"{ZIP_PREFIX}*"):
            path.unlink(missing_ok=True)
    except OSError as exc:
        log.error("inbound.storage_error", file=str(ctx.tmp), reason=str(exc))
    return removed
