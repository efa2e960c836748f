"""Claim: take a settled outbox file into the ledger and the processing area, crash-safely.

The steps, and what a SIGKILL after each leaves behind:

1. Insert a CLAIMING row with the planned path
   ``<partner>/.as2sync/processing/<instance>-<file id>-<name>`` and commit (the instance id
   keeps two instances' paths apart even if the folder lock failed, see :mod:`~.folders.lock`).
   *Killed here:* the row exists, the file is still in the outbox; recovery renames it
   (``ClaimStep.RENAME``).
2. Move ``outbox/name`` to ``processing/<instance>-<id>-name`` with the one no-replace move
   (:func:`as2sync.folders.fsutil.place_at`: hard link, fsync, unlink, fsync; the processing folder
   lives beside the outbox by construction, see :mod:`as2sync.folders.layout`). *Killed before the
   unlink:* the file has both names (one inode); recovery removes the outbox name
   (:func:`as2sync.folders.fsutil.finish_place_at`) before anything else, so the scanner never sees
   it as a new file. *Killed after it:* the file is in processing, the row says CLAIMING;
   recovery finishes from step 3 (``ClaimStep.HASH``). If the user removed the outbox file
   before the move, neither exists and the row is ABANDONED.
3. Hash the processing copy (the bytes that will be sent, and only those: a writer that
   still holds the file open and changes it is caught by :mod:`.returning`), check size and
   the duplicate window, and commit CLAIMED, or REJECTING and move the file to failed/.
   *Killed here:* step 3 is simply done again.

A file can therefore never be in the outbox and claimed at once, nor claimed twice: the move
takes it out of sight of the scanner, and a row for it exists before the move.

Every function here raises :class:`StorageError` (never a bare OSError) when the filesystem
refuses; the engine decides what then (it postpones the row, see
:mod:`as2sync.outbound.storage`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import structlog

from as2sync.errors import StorageError
from as2sync.failpoints import failpoint
from as2sync.folders import fsutil
from as2sync.folders.filenames import from_ledger, to_ledger, wire_name
from as2sync.folders.layout import PartnerDirs
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, Submission, SubmissionState
from as2sync.outbound import archive, decide, mime
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)


def plan(
    ctx: Context, station: str, partner: str, source: Path, name: str | None = None
) -> Submission:
    """Step 1: the CLAIMING row, committed (durable) before anything moves.

    A name that is not UTF-8 is recorded (and sent) as its escaped wire name, and its source
    path as a ``file:`` URI; the file keeps its own bytes name (see :mod:`~.filenames`).
    """
    dirs = ctx.dirs(station, partner)
    partnership = ctx.config.partnership(station, partner)
    with ctx.ledger.transaction() as s:
        sub = lo.plan_claim(
            s,
            station=station,
            partner=partner,
            source=to_ledger(source),
            processing_dir=dirs.processing,
            now=ctx.clock(),
            remote=ctx.backend.claim_remote(station, partner),
            subject=partnership.subject,
            name=wire_name(name or source.name),
            instance=ctx.instance,
        )
    failpoint("outbound.after_claim_commit")
    return sub


def discard(ctx: Context, sub: Submission) -> None:
    """Forget a planned claim whose rename failed with the file still in the outbox."""
    with ctx.ledger.transaction() as s:
        lo.discard_claim(s, sub.id)


def move_into_processing(ctx: Context, sub: Submission) -> bool:
    """Step 2. False if the source is gone (the row is then ABANDONED). Raises StorageError
    (UnsafeFolder when a folder on the way is a symbolic link) with the file where it was,
    also when something is at the processing name: it is never replaced.

    Both folders are opened as verified descriptors (:meth:`PartnerDirs.open`) and the move
    is made relative to them: an outbox swapped for a symlink after they were opened cannot
    make as2sync take a file from anywhere else."""
    source = from_ledger(sub.files[0].source_path)
    try:
        moved = _move(ctx, sub)
    except OSError as exc:
        raise fsutil.storage_error("claim", source, exc) from exc
    if not moved:
        _abandon(ctx, sub)
    return moved


def _abandon(ctx: Context, sub: Submission) -> None:
    with ctx.ledger.transaction() as s:
        lo.mark_abandoned(s, sub.id, ctx.clock(), "the file disappeared before it was claimed")
    log.info("outbound.abandoned", station=sub.station, partner=sub.partner, file=sub.names)


def _move(ctx: Context, sub: Submission) -> bool:
    """:func:`move_into_processing` raising OSError; False if the source is gone."""
    f = sub.files[0]
    dirs = ctx.dirs(sub.station, sub.partner)
    source, target = from_ledger(f.source_path), f.processing_path
    with dirs.open(target.parent, create=True) as dst:
        try:
            with dirs.open(source.parent) as src:
                failpoint("outbound.before_rename")
                try:
                    placed = fsutil.place_at(src, source.name, dst, target.name, after_link=_linked)
                except OSError:
                    # Linked, but the outbox name could not go (a folder not writable): take the
                    # link back, so the file is the user's alone and nothing else claims it.
                    fsutil.finish_place_at(dst, target.name, src, source.name)
                    raise
                if not placed:
                    # The name carries the file row's id and the instance id: only a lost
                    # ledger leaves something there, somebody's claimed file. It is kept.
                    raise FileExistsError(errno.EEXIST, "a file exists at the claim's name")
                failpoint("outbound.after_rename")
                _remove_done_file(ctx, src, source.name)
                return True
        except FileNotFoundError:
            return fsutil.exists_at(dst, target.name)


def _linked() -> None:
    failpoint("outbound.after_claim_link")


def _finish_interrupted_move(dirs: PartnerDirs, source: Path, target: Path) -> None:
    """A claim killed between the link and the unlink left the file under both names (one
    inode): remove the outbox name. Anything else (a new file of the same name dropped since,
    or either name missing) is left as it is."""
    try:
        with dirs.open(target.parent) as dst, dirs.open(source.parent) as src:
            fsutil.finish_place_at(src, source.name, dst, target.name)
    except FileNotFoundError:
        return


def _remove_done_file(ctx: Context, outbox_fd: int, name: str) -> None:
    """The done-file did its job; a stale one would let a later file of the same name go
    without waiting for its own. Killed before this, it stays: that later file is then sent
    once it has settled, which is the behaviour without done-files."""
    done_suffix = ctx.outbound.done_file_suffix
    if done_suffix:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name + done_suffix, dir_fd=outbox_fd)


def _exists(dirs: PartnerDirs, path: Path) -> bool:
    """Whether ``path`` exists, its folder opened as a verified descriptor."""
    try:
        with dirs.open(path.parent) as fd:
            return fsutil.exists_at(fd, path.name)
    except FileNotFoundError:
        return False


Digests = dict[int, tuple[str, int, str]]
"""file id -> (SHA-256, size, content type)"""


def _hash(ctx: Context, sub: Submission) -> tuple[Digests, str | None]:
    """The digests of the processing copies, and why one cannot be read (None: all can).
    Raises OSError."""
    digests: Digests = {}
    unreadable: str | None = None
    dirs = ctx.dirs(sub.station, sub.partner)
    for f in sub.files:
        path = f.processing_path
        with dirs.open(path.parent) as fd:
            try:
                sha, size = fsutil.sha256_at(fd, path.name)
                digests[f.id] = (sha, size, mime.content_type(path, f.name))
            except PermissionError as exc:
                # Retrying will not make it readable; failed/ tells the user what to fix.
                unreadable = f"as2sync cannot read the file: {exc.strerror}"
                st = os.stat(path.name, dir_fd=fd, follow_symlinks=False)
                digests[f.id] = ("", st.st_size, mime.OCTET_STREAM)
    return digests, unreadable


def complete(ctx: Context, sub: Submission) -> Submission:
    """Step 3: hash the processing copy, decide, commit CLAIMED or REJECTING (then failed/).
    Raises StorageError: the row stays CLAIMING (or REJECTING, when failed/ refused it)."""
    try:
        digests, unreadable = _hash(ctx, sub)
    except OSError as exc:
        path = sub.files[0].processing_path
        raise fsutil.storage_error("read the claimed file", path, exc) from exc
    now = ctx.clock()
    window = ctx.outbound.duplicate_window
    total = sum(size for _sha, size, _ct in digests.values())
    with ctx.ledger.transaction() as s:
        duplicate = None
        if window > 0 and unreadable is None:
            for f in sub.files:
                duplicate = lo.find_duplicate(
                    s,
                    sub.station,
                    sub.partner,
                    digests[f.id][0],
                    since=now - window,
                    exclude_file=f.id,
                )
                if duplicate is not None and lo.use_resend_allowance(
                    s, sub.station, sub.partner, digests[f.id][0]
                ):
                    duplicate = None  # the operator asked for this resend (as2sync retry)
                if duplicate is not None:
                    break
        verdict = decide.claim_verdict(total, ctx.outbound.max_file_bytes, duplicate)
        if unreadable is not None:
            verdict = decide.ClaimVerdict(unreadable)
        if verdict.accepted:
            lo.mark_claimed(s, sub.id, now, digests)
        else:
            assert verdict.reason is not None
            lo.mark_rejecting(s, sub.id, now, verdict.reason, digests=digests)
        result = lo.get(s, sub.id)
    if result.state == SubmissionState.REJECTING:
        return archive.move_to_failed(ctx, result, stage="claim")
    for f in result.files:
        log.info(
            "outbound.claimed",
            station=result.station,
            partner=result.partner,
            file=f.name,
            size=f.size,
            sha256=f.sha256,
            content_type=f.content_type,
        )
    return result


def resume(ctx: Context, sub: Submission) -> Submission | None:
    """Finish a CLAIMING row found after a crash (or after an error mid-claim). Raises
    StorageError (the row stays CLAIMING)."""
    f = sub.files[0]
    if f.state != FileState.CLAIMING:
        return complete(ctx, sub)
    dirs = ctx.dirs(sub.station, sub.partner)
    source = from_ledger(f.source_path)
    try:
        _finish_interrupted_move(dirs, source, f.processing_path)
        step = decide.claim_step(
            source_exists=_exists(dirs, source),
            processing_exists=_exists(dirs, f.processing_path),
        )
    except OSError as exc:
        raise fsutil.storage_error("claim", source, exc) from exc
    if step == decide.ClaimStep.ABANDON:
        _abandon(ctx, sub)
        return None
    if step == decide.ClaimStep.RENAME and not move_into_processing(ctx, sub):
        return None
    return complete(ctx, sub)


def take(ctx: Context, sub: Submission) -> Submission | None:
    """Steps 2-3 for a planned row. Returns the CLAIMED (or FAILED) submission, or None when
    the file vanished first.

    Raises StorageError when the filesystem refuses: if the move was refused the planned row
    is discarded and the file is still in the outbox (to be claimed later, under a new name);
    if a later step was, the row is kept (CLAIMING or REJECTING) for the engine to postpone
    and resume.
    """
    try:
        moved = move_into_processing(ctx, sub)
    except StorageError:
        discard(ctx, sub)
        raise
    if not moved:
        return None
    return complete(ctx, sub)


def claim(
    ctx: Context, station: str, partner: str, source: Path, name: str | None = None
) -> Submission | None:
    """Steps 1-3 for one file (:func:`plan`, then :func:`take`); raises StorageError."""
    return take(ctx, plan(ctx, station, partner, source, name))
