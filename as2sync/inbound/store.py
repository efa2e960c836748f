"""From staged temp files to stored-and-read messages: PLANNED, move, WRITTEN/STORED, READ.

Crash analysis, in the order things happen (SIGKILL at any line):

1. Temp files written and fsynced, no PLANNED row yet -> orphans: deleted at start; the
   message is still FETCHING and is fetched again.
2. PLANNED committed (``inbound.after_planned``) -> recovery moves every file whose temp file
   is still there and counts every file whose temp file is gone as moved.
3. Some files moved (``inbound.after_link``) -> as 2; a moved file is never written twice, even
   if a consumer has already taken it (the ledger says where it went, by path and hash).
4. WRITTEN + STORED committed (``inbound.after_stored``) -> recovery finds the message STORED
   and acknowledges it on the server explicitly (idempotent).
5. READ committed -> done. Messages the download already acknowledged (v1: the batch request
   marked them read) are committed READ without a request; the others are acknowledged one by
   one (``inbound.before_mark_read``). A backend without a read flag
   (:attr:`Capabilities.read_flag`) is never asked: READ is committed at once.

Power loss adds one rule: a commit may only describe file-system state that is durable. So the
work folders are fsynced (once per batch) before PLANNED is committed, and every folder a move
touched is fsynced (once per batch) before WRITTEN is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from as2sync.failpoints import failpoint
from as2sync.inbound.context import Context, attachment_names, log
from as2sync.inbound.layouts import SIDECAR_SUFFIX
from as2sync.inbound.writer import (
    PlannedFile,
    StagedMessage,
    discard,
    place_file,
    place_file_at,
    place_folder,
    staged_dirs,
    sync_dirs,
)
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.inbound import FileKind, FilePlan, InboundMessage


def replan_file(ctx: Context, f: PlannedFile, companions: Sequence[PlannedFile], new: Path) -> None:
    """Commit a new final path for ``f`` (and for its sidecar, which follows its name)."""
    now = ctx.clock()
    with ctx.ledger.transaction() as session:
        assert f.file_id is not None
        ledger_in.replan_file(session, f.file_id, str(new), now=now)
        f.final = new
        for side in companions:
            assert side.file_id is not None
            side.final = new.with_name(new.name + SIDECAR_SUFFIX)
            ledger_in.replan_file(session, side.file_id, str(side.final), now=now)
    log.info("inbound.name_taken", file=str(new))


def replan_folder(ctx: Context, sm: StagedMessage, new_dir: Path) -> None:
    """Commit a new message folder for every file of ``sm``."""
    now = ctx.clock()
    with ctx.ledger.transaction() as session:
        for f in sm.files:
            assert f.file_id is not None
            f.final = new_dir / f.final.name
            ledger_in.replan_file(session, f.file_id, str(f.final), now=now)
    sm.final_dir = new_dir
    log.info("inbound.name_taken", file=str(new_dir))


def _place(ctx: Context, sm: StagedMessage, touched: set[Path]) -> None:
    if sm.temp_dir is not None:
        assert sm.final_dir is not None
        place_folder(
            sm.temp_dir, sm.final_dir, partial(replan_folder, ctx, sm), touched, dirs=sm.dirs
        )
        failpoint("inbound.after_link")
        return
    data = [f for f in sm.files if f.kind is FileKind.DATA]
    sides = [f for f in sm.files if f.kind is FileKind.METADATA]
    # Every file of a message goes from the work folder to the inbox: both are opened once
    # for all of them (a replanned name stays in the inbox).
    with sm.dirs.open(sm.dirs.incoming) as src, sm.dirs.open(sm.dirs.inbox, create=True) as dst:
        for f in data:
            mine = [s for s in sides if s.index == f.index]
            replan = partial(replan_file, ctx, f, mine)
            _place_one(f, replan, touched, sm, src, dst)
            failpoint("inbound.after_link")
        for side in sides:
            _place_one(side, partial(replan_file, ctx, side, ()), touched, sm, src, dst)
            failpoint("inbound.after_link")


def _place_one(
    f: PlannedFile,
    replan: Callable[[Path], None],
    touched: set[Path],
    sm: StagedMessage,
    src: int,
    dst: int,
) -> None:
    if f.temp.parent == sm.dirs.incoming and f.final.parent == sm.dirs.inbox:
        place_file_at(src, dst, f.temp, f.final, replan, touched)
    else:  # not where a staged file of a file layout is: open its own folders
        place_file(f.temp, f.final, replan, touched, dirs=sm.dirs)


def store(ctx: Context, staged: Sequence[StagedMessage]) -> list[StagedMessage]:
    """Record, move and finish ``staged`` messages; return those now stored."""
    if not staged:
        return []
    try:
        sync_dirs(d for sm in staged for d in staged_dirs(sm))
    except OSError as exc:
        ctx.storage_failed([sm.row for sm in staged], "sync", staged[0].dirs.incoming, exc)
        for sm in staged:
            discard(sm)
        return []
    now = ctx.clock()
    files = [(sm, f) for sm in staged for f in sm.files]
    plans = [
        FilePlan(
            message_row=sm.row.id,
            index=f.index,
            kind=f.kind,
            name=f.name,
            temp_path=str(f.temp),
            final_path=str(f.final),
            sha256=f.sha256,
            size=f.size,
        )
        for sm, f in files
    ]
    with ctx.ledger.transaction() as session:
        recorded = ledger_in.plan_files(session, plans, now=now)
    for (_sm, f), file_row in zip(files, recorded, strict=True):
        f.file_id = file_row.id
    failpoint("inbound.after_planned")
    placed: list[StagedMessage] = []
    touched: set[Path] = set()
    for sm in staged:
        try:
            _place(ctx, sm, touched)
        except OSError as exc:
            # The PLANNED rows stay; the next poll's recovery finishes the move.
            ctx.storage_failed([sm.row], "move a file into", sm.dirs.inbox, exc)
            continue
        placed.append(sm)
    try:
        sync_dirs(touched)
    except OSError as exc:
        # Not known to be durable: leave every row PLANNED; recovery checks each by path.
        ctx.storage_failed([sm.row for sm in placed], "sync", staged[0].dirs.inbox, exc)
        return []
    now = ctx.clock()
    with ctx.ledger.transaction() as session:
        ledger_in.file_written(
            session, [f.file_id for sm in placed for f in sm.files if f.file_id], now=now
        )
        ledger_in.message_stored(session, [sm.row.id for sm in placed], now=now)
    failpoint("inbound.after_stored")
    for sm in placed:
        for f in sm.files:
            if f.kind is FileKind.DATA:
                log.info(
                    "inbound.stored",
                    station=sm.row.station,
                    partner=sm.row.partner,
                    message_id=sm.row.message_id,
                    file=str(f.final),
                    size=f.size,
                    sha256=f.sha256,
                )
    ctx.count_stored(len(placed))
    by_gateway = [sm.row for sm in placed if sm.read_by_gateway]
    if by_gateway:
        now = ctx.clock()
        with ctx.ledger.transaction() as session:
            ledger_in.message_read(session, [row.id for row in by_gateway], now=now)
        for row in by_gateway:
            _log_read(row, "batch")
    mark_read(ctx, [sm.row for sm in placed if not sm.read_by_gateway])
    return placed


def _log_read(row: InboundMessage, via: str) -> None:
    log.info(
        "inbound.marked_read",
        station=row.station,
        partner=row.partner,
        message_id=row.message_id,
        file=attachment_names(row),
        via=via,
    )


def mark_read(ctx: Context, rows: Sequence[InboundMessage]) -> None:
    """Acknowledge stored messages on the server one by one, committing READ after each.

    A crash between the request and the commit acknowledges it again on restart (idempotent).
    A message the server no longer has (deleted by someone) has nothing left to mark. Without
    a read flag on the server there is nothing to tell it: READ is committed at once.
    """
    if rows and not ctx.capabilities.read_flag:
        with ctx.ledger.transaction() as session:
            ledger_in.message_read(session, [row.id for row in rows], now=ctx.clock())
        for row in rows:
            _log_read(row, "ledger")
        return
    for row in rows:
        failpoint("inbound.before_mark_read")
        if ctx.backend.acknowledge([row.message_id]):
            log.warning(
                "inbound.mark_read_gone",
                station=row.station,
                partner=row.partner,
                message_id=row.message_id,
                file=attachment_names(row),
            )
        with ctx.ledger.transaction() as session:
            ledger_in.message_read(session, [row.id], now=ctx.clock())
        _log_read(row, "explicit")
