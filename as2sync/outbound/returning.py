"""Give a claimed file that changed after its claim back to its outbox.

A file is claimed (renamed into processing/ and hashed) once it has been unchanged for
``settle_seconds``; a writer that still holds it open can change it afterwards. Its bytes are
then not the ones recorded, and they are never sent as they are: the processing copy is
checked against the claim before every submit, and the upload itself checks the bytes on the
way and is cut off before its last byte if they differ (:mod:`as2sync.backends.http.transfer`).
Such a file goes back where it came from, to settle and be claimed again as a new file, so
the partner gets it once it is complete:

* **nothing sent** (found before the POST, or by the upload before any byte went): the whole
  submission goes back, RETURNING -> RETURNED (a bundle's unchanged files too: they are
  claimed again with it). An upload cut off mid-way is in doubt first, like any other (the
  gateway got an incomplete request); reconciliation then finds nothing and the resubmit's
  check sends it back here.
* **sent, then changed** (the gateway accepted the recorded bytes, verified on the way, and
  the file changed in the moment after the last byte went): the message stands, but sent/
  must only ever hold bytes that were sent, so the changed file goes back instead of into
  sent/ (``outbound.changed_after_send``: the partner got the recorded bytes and gets the
  new ones once they have settled); the others are archived as usual.

Each file goes back under its own name; if a new file took that name meanwhile, under a free
``name (2)``. Crash safety is that of :mod:`as2sync.outbound.archive`: the target is committed
(the file's ``source_path``), the file is linked there (never overwriting) and unlinked from
processing (a crash between the two leaves one inode under two names, which
:func:`~.fsutil.finish_place_at` recognises), then its new state is committed. Resuming
finishes the recorded move.
"""

from __future__ import annotations

import contextlib
import os

import structlog

from as2sync.folders import fsutil
from as2sync.folders.filenames import from_ledger, to_ledger
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, OutFile, Submission, SubmissionState
from as2sync.outbound.archive import record_lost
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)


def change(ctx: Context, f: OutFile) -> str | None:
    """Why the processing copy of ``f`` is no longer the claimed bytes, or None if it is.

    Raises OSError as the filesystem does (a missing copy is the caller's business)."""
    dirs = ctx.dirs(f.station, f.partner)
    path = f.processing_path
    with dirs.open(path.parent) as fd:
        size = os.stat(path.name, dir_fd=fd, follow_symlinks=False).st_size
        if size != f.size:
            return (
                f"{f.name} changed after it was claimed: it has {size} bytes, "
                f"{f.size} were recorded"
            )
        sha, _size = fsutil.sha256_at(fd, path.name)
    if sha != f.sha256:
        return f"{f.name} changed after it was claimed: its bytes are not the ones recorded"
    return None


def changes(ctx: Context, sub: Submission) -> dict[int, str]:
    """The files of ``sub`` still in processing whose bytes changed, with why (file id ->
    reason). A copy that is gone or unreadable is not reported here: that is not a change the
    submit or archive would hide, and they deal with it."""
    found: dict[int, str] = {}
    for f in sub.files:
        if f.state != FileState.PROCESSING:
            continue
        with contextlib.suppress(OSError):
            reason = change(ctx, f)
            if reason is not None:
                found[f.id] = reason
    return found


def give_back(ctx: Context, sub: Submission, reason: str) -> Submission:
    """CLAIMED/SUBMITTING (nothing sent) -> RETURNING -> RETURNED: every file back to the
    outbox. Raises StorageError (the row stays RETURNING; :func:`resume` finishes it)."""
    with ctx.ledger.transaction() as s:
        lo.mark_returning(s, sub.id, ctx.clock(), reason)
        sub = lo.get(s, sub.id)
    log.warning(
        "outbound.changed_after_claim",
        station=sub.station,
        partner=sub.partner,
        file=sub.names,
        submission=sub.id,
        reason=reason,
        hint="a writer still had the file open; it goes back to the outbox and is sent once "
        "it has settled",
    )
    return resume(ctx, sub)


def give_back_sent(ctx: Context, sub: Submission, changed: dict[int, str]) -> Submission:
    """SUBMITTED: the ``changed`` files go back to the outbox instead of into sent/ (the
    message with the recorded bytes stands). Raises StorageError (the files stay RETURNING;
    :func:`resume` finishes them before the row is archived)."""
    with ctx.ledger.transaction() as s:
        lo.files_returning(s, sub.id, changed, ctx.clock())
        sub = lo.get(s, sub.id)
    for f in sub.files:
        if f.id in changed:
            log.error(
                "outbound.changed_after_send",
                station=sub.station,
                partner=sub.partner,
                file=f.name,
                message_id=sub.message_id,
                size=f.size,
                reason=changed[f.id],
                hint="the partner got the recorded bytes; the file changed after they went out "
                "and goes back to the outbox, to be sent again once it has settled",
            )
    return resume(ctx, sub)


def resume(ctx: Context, sub: Submission) -> Submission:
    """Finish giving back every RETURNING file of ``sub``; a RETURNING row ends RETURNED.
    Raises StorageError when the filesystem refuses (the rest is done on a later pass)."""
    for f in sub.files:
        if f.state == FileState.RETURNING:
            try:
                _give_back_file(ctx, f)
            except OSError as exc:
                raise fsutil.storage_error("put back", from_ledger(f.source_path), exc) from exc
    with ctx.ledger.transaction() as s:
        if lo.get(s, sub.id).state == SubmissionState.RETURNING:
            lo.mark_returned(s, sub.id, ctx.clock())
        return lo.get(s, sub.id)


def _give_back_file(ctx: Context, f: OutFile) -> None:
    """Link the processing copy back into the outbox (never overwriting), then unlink it."""
    dirs = ctx.dirs(f.station, f.partner)
    source, held = from_ledger(f.source_path), f.processing_path
    with dirs.open(held.parent) as src, dirs.open(source.parent, create=True) as dst:
        if fsutil.finish_place_at(src, held.name, dst, source.name):
            done = True  # linked there before a crash, or moved there by the fallback
        elif not fsutil.exists_at(src, held.name):
            record_lost(ctx, f, held)
            return
        else:
            done = False
        attempt = 1
        while not done:
            name = fsutil.unique_basename(source.name, attempt)
            attempt += 1
            if name != source.name:  # a new file took its name: a free one, recorded first
                if fsutil.exists_at(dst, name):
                    continue
                with ctx.ledger.transaction() as s:
                    lo.set_return_target(s, f.id, to_ledger(source.parent / name), ctx.clock())
            done = fsutil.place_at(src, held.name, dst, name)
            if done:
                source = source.parent / name
    with ctx.ledger.transaction() as s:
        lo.file_returned(s, f.id, ctx.clock())
    log.info(
        "outbound.returned",
        station=f.station,
        partner=f.partner,
        file=f.name,
        path=str(source),
    )
