"""Submit one claimed message through the backend and record what happened.

The order, and what a SIGKILL at each point means:

0. Check that every processing copy is still the recorded bytes (SHA-256 and size); a writer
   that still held a file open may have changed it. If one changed, nothing is sent and the
   files go back to the outbox (:mod:`as2sync.outbound.returning`).
1. Commit SUBMITTING with ``submit_started_at`` (and, for a
   :class:`~as2sync.backends.base.Naming` backend, the name it uploads under, chosen from the
   names the ledger says are in use; or the row stays CLAIMED until a
   :class:`~as2sync.backends.base.Hold` ends). *Killed here:* at restart the row is
   SUBMITTING and the POST may or may not have been made; it becomes IN_DOUBT and is
   reconciled (looked up on the gateway), never resent blindly.
2. Submit the message (:meth:`as2sync.backends.base.Sender.submit`; v1: one POST), the
   recorded bytes checked again as they stream. *Killed during it:* same as 1.
3. On a receipt, commit SUBMITTED with the remote ID. *Killed between the receipt and this
   commit:* SUBMITTING at restart -> IN_DOUBT -> reconciliation locates the message (see
   :mod:`as2sync.outbound.reconcile`) and records its ID. A receipt without an ID (the
   message exists, its ID comes later) is recorded IN_DOUBT the same way.
4. Archive (see :mod:`as2sync.outbound.archive`), except a file that changed after its
   bytes went out, which goes back to the outbox (:func:`archive_checked`). *Killed here:*
   SUBMITTED at restart -> archive again, finishing a half-done move.

Errors (classified by :func:`as2sync.outbound.decide.classify_submit_error`): transient ->
CLAIMED with back-off, the file waits in processing; refused -> failed/ with a sidecar;
unknown outcome (an upload cut off because the file changed under it too) -> IN_DOUBT; a file
found changed before anything was sent -> back to the outbox.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import IO

import structlog
from sqlalchemy.orm import Session

from as2sync.backends.base import (
    UPLOAD_NAME,
    Hold,
    Naming,
    Opener,
    OutboundFile,
    OutboundMessage,
    Remote,
)
from as2sync.errors import GatewayError, RateLimited
from as2sync.failpoints import failpoint
from as2sync.folders import fsutil
from as2sync.folders.layout import PartnerDirs
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, Submission, SubmissionState
from as2sync.outbound import archive, decide, returning
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)


def _files(ctx: Context, sub: Submission) -> list[OutboundFile]:
    dirs = ctx.dirs(sub.station, sub.partner)
    return [
        OutboundFile(
            path=f.processing_path,
            name=f.name,
            content_type=f.content_type or "application/octet-stream",
            size=f.size or 0,
            sha256=f.sha256 or None,
            opener=_opener(dirs, f.processing_path),
        )
        for f in sub.files
    ]


def _opener(dirs: PartnerDirs, held: Path) -> Opener:
    """Opens the processing copy ``held`` through verified folder descriptors, following no
    symbolic link (UnsafeFolder, or ELOOP for the file itself): a folder or file swapped for a
    link after the claim cannot make the upload read anything else."""

    def open_held() -> IO[bytes]:
        with dirs.open(held.parent) as folder:
            return open(fsutil.open_file_at(folder, held.name), "rb")

    return open_held


def _missing(ctx: Context, sub: Submission) -> list[str]:
    """The names of the files whose processing copy is gone. Raises OSError (UnsafeFolder when
    the processing folder became a symbolic link: that is not a removed file)."""
    dirs = ctx.dirs(sub.station, sub.partner)
    missing = []
    for f in sub.files:
        try:
            with dirs.open(f.processing_path.parent) as folder:
                present = fsutil.exists_at(folder, f.processing_path.name)
        except FileNotFoundError:
            present = False
        if not present:
            missing.append(f.name)
    return missing


def _fields(sub: Submission) -> dict[str, object]:
    return {
        "station": sub.station,
        "partner": sub.partner,
        "file": sub.names,
        "files": len(sub.files),
        "submission": sub.id,
    }


def submit(ctx: Context, sub: Submission) -> Submission:
    """CLAIMED -> SUBMITTED (and archived), CLAIMED again (retry), IN_DOUBT, FAILED or
    RETURNED.

    Returns the row as it ends. Raises StorageError when the filesystem refuses: before the
    request (the row stays CLAIMED) or when moving the files afterwards (the row is then
    SUBMITTED, REJECTING or RETURNING); the engine postpones it and finishes the move later.
    """
    try:
        missing = _missing(ctx, sub)
    except OSError as exc:
        path = sub.files[0].processing_path
        raise fsutil.storage_error("read the claimed file", path, exc) from exc
    if missing:
        with ctx.ledger.transaction() as s:
            lo.mark_rejecting(
                s,
                sub.id,
                ctx.clock(),
                f"the claimed copy of {', '.join(missing)} was removed from the processing folder",
            )
            sub = lo.get(s, sub.id)
        return archive.move_to_failed(ctx, sub, stage="submit")
    changed = returning.changes(ctx, sub)
    if changed:
        # A writer changed it after the claim: never send other bytes than those recorded.
        return returning.give_back(ctx, sub, "; ".join(changed.values()))

    message = OutboundMessage(
        sub.station, sub.partner, _files(ctx, sub), subject=sub.subject, remote=sub.remote
    )
    with ctx.ledger.transaction() as s:
        now = ctx.clock()
        named = _name(ctx, s, sub, message, now)
        if isinstance(named, Hold):
            lo.hold(s, sub.id, now, named.until, named.why)
            sub = lo.refreshed(s, sub)
        else:
            lo.begin_submit(s, sub.id, now, remote=named)
            sub = lo.refreshed(s, sub)
    if isinstance(named, Hold):
        log.info("outbound.held", why=named.why, until=named.until, **_fields(sub))
        return sub
    failpoint("outbound.after_submitting_commit")
    message = replace(message, remote=sub.remote)
    try:
        receipt = ctx.backend.submit(message)
    except Exception as exc:  # every outcome is recorded; see classify_submit_error
        return _after_error(ctx, sub, exc)
    failpoint("outbound.after_202")
    message_id = receipt.remote_id
    if message_id is None:
        return _without_id(ctx, sub, receipt.remote)
    now = ctx.clock()
    targets = archive.plan_sent_targets(ctx, sub, now)
    with ctx.ledger.transaction() as s:
        lo.mark_submitted(s, sub.id, now, message_id, remote=receipt.remote)
        for file_id, target in targets.items():
            lo.set_target(s, file_id, now, sent=target)
        sub = lo.get(s, sub.id)
    log.info("outbound.submitted", message_id=message_id, attempt=sub.attempts, **_fields(sub))
    return archive_checked(ctx, sub)


def _name(
    ctx: Context, s: Session, sub: Submission, message: OutboundMessage, now: float
) -> Remote | Hold | None:
    """What a :class:`Naming` backend records before the submit (None: not such a backend).
    Asked inside the SUBMITTING commit: the ledger's write lock keeps two submits of one
    partnership from choosing the same name."""
    backend = ctx.backend
    if not isinstance(backend, Naming):
        return None
    used = lo.names_in_use(
        s,
        sub.station,
        sub.partner,
        UPLOAD_NAME,
        since=now - backend.naming_window,
        exclude=sub.id,
    )
    return backend.name_message(message, used, now)


def archive_checked(ctx: Context, sub: Submission) -> Submission:
    """SUBMITTED -> ARCHIVED, except that a file whose bytes changed after they were sent
    goes back to the outbox instead of into sent/ (:mod:`as2sync.outbound.returning`): sent/
    holds only bytes that were sent. Raises StorageError; the row stays SUBMITTED."""
    changed = returning.changes(ctx, sub)
    if changed:
        sub = returning.give_back_sent(ctx, sub, changed)
    elif any(f.state == FileState.RETURNING for f in sub.files):
        sub = returning.resume(ctx, sub)  # a give-back a crash or storage error interrupted
    return archive.archive_sent(ctx, sub)


def _after_error(ctx: Context, sub: Submission, exc: Exception) -> Submission:
    outcome = decide.classify_submit_error(exc)
    status = getattr(exc, "status", None)
    now = ctx.clock()
    if outcome == decide.SubmitOutcome.RETRY:
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        delay = decide.retry_delay(sub.attempts, retry_after)
        with ctx.ledger.transaction() as s:
            lo.retry_later(s, sub.id, now, now + delay, str(exc), http_status=status)
            sub = lo.refreshed(s, sub)
        log.warning(
            "outbound.retry", error=str(exc), http_status=status, retry_in=delay, **_fields(sub)
        )
        return sub
    if outcome == decide.SubmitOutcome.RETURN:
        return returning.give_back(ctx, sub, str(exc))
    if outcome == decide.SubmitOutcome.REJECT:
        with ctx.ledger.transaction() as s:
            lo.mark_rejecting(s, sub.id, now, decide.rejection_reason(exc), http_status=status)
            sub = lo.get(s, sub.id)
        return archive.move_to_failed(ctx, sub, stage="submit")
    if not isinstance(exc, GatewayError):
        log.exception("outbound.submit_unexpected_error", **_fields(sub))
    look_at = _first_look(ctx, sub, now)
    with ctx.ledger.transaction() as s:
        lo.mark_in_doubt(
            s, sub.id, now, str(exc) or type(exc).__name__, http_status=status, look_at=look_at
        )
        sub = lo.refreshed(s, sub)
    log.warning(
        "outbound.in_doubt",
        error=str(exc),
        http_status=status,
        look_in=round(look_at - now, 1),
        **_fields(sub),
    )
    return sub


def _without_id(ctx: Context, sub: Submission, remote: lo.Remote) -> Submission:
    """Accepted, but the backend learns the message's ID only later: located like a send of
    unknown outcome (it is there; the lookup finds it and records its ID)."""
    now = ctx.clock()
    look_at = _first_look(ctx, sub, now)
    with ctx.ledger.transaction() as s:
        lo.mark_in_doubt(
            s, sub.id, now, "accepted; its ID is not known yet", look_at=look_at, remote=remote
        )
        sub = lo.refreshed(s, sub)
    log.info("outbound.accepted_without_id", look_in=round(look_at - now, 1), **_fields(sub))
    return sub


def _first_look(ctx: Context, sub: Submission, now: float) -> float:
    started = sub.submit_started_at or sub.created_at
    return decide.first_look(started, now, ctx.outbound.reconcile_grace_seconds)


def interrupted(ctx: Context, sub: Submission) -> Submission:
    """A SUBMITTING row found at start-up: the process died around the POST -> IN_DOUBT."""
    assert sub.state == SubmissionState.SUBMITTING
    now = ctx.clock()
    with ctx.ledger.transaction() as s:
        lo.mark_in_doubt(
            s,
            sub.id,
            now,
            "as2sync stopped while submitting; the gateway may have it",
            look_at=_first_look(ctx, sub, now),
        )
        sub = lo.refreshed(s, sub)
    log.warning("outbound.in_doubt", error="interrupted by a restart", **_fields(sub))
    return sub
