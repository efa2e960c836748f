"""Download FETCHING messages: batch zips (handling 206 truncation), or attachment by attachment.

The caller has committed every message's FETCHING row before calling :func:`fetch` (crash
after the request: the gateway may have marked it read, the row still says FETCHING, and the
message is fetched again by ID).

Batch requests carry ``markAsRead=true``, so the gateway marks fully archived messages read in
bulk; a message stored from such a batch needs no request of its own. Messages fetched one by
one, or completed exactly at a truncation point (where the spec does not say whether the
gateway marked them), are marked read explicitly after they are stored.

Every message is verified against its list metadata (attachment count and sizes) before
anything is recorded; one that does not match stays FETCHING and is retried later.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import zipfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from as2sync.errors import AuthError, PermanentError, StorageError
from as2sync.failpoints import failpoint
from as2sync.inbound import store
from as2sync.inbound.context import Context, attachment_names, log
from as2sync.inbound.layouts import wanted_names
from as2sync.inbound.plan import (
    Batch,
    NoDownload,
    OneByOne,
    Sized,
    Step,
    limit_below,
    plan_downloads,
    replan,
)
from as2sync.inbound.truncation import interpret
from as2sync.inbound.writer import ZIP_PREFIX, StagedMessage, Stager
from as2sync.inbound.zipread import EntryRefused, NotServed, Refused, examine, folder_names
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.inbound import InboundMessage


def _sizes(row: InboundMessage) -> tuple[int, ...]:
    return tuple(size for _name, size in row.attachments)


def _stager(ctx: Context, row: InboundMessage) -> Stager:
    cfg = ctx.config.inbound
    names = wanted_names(
        cfg.layout,
        message_id=row.message_id,
        attachment_names=[name for name, _size in row.attachments],
        persisted_ms=row.persisted_ms,
        max_name_length=cfg.max_name_length,
        write_metadata=cfg.write_metadata,
    )
    return Stager(row, ctx.dirs(row), names, layout=cfg.layout, write_metadata=cfg.write_metadata)


def _already_written(ctx: Context, rows: Sequence[InboundMessage]) -> dict[int, set[int]]:
    """Attachment indices that already have a file row (never written twice)."""
    with ctx.ledger.read() as session:
        return ledger_in.data_indices(session, [row.id for row in rows])


def fetch(ctx: Context, rows: Sequence[InboundMessage], stop: threading.Event) -> None:
    """Download and store ``rows`` (all FETCHING). Checks ``stop`` between requests; what is
    left is still FETCHING and is picked up by the next poll. Raises GatewayError when the
    gateway fails (the rows stay FETCHING)."""
    if not rows:
        return
    by_id = {row.id: row for row in rows}
    ctx.tried.update(by_id)
    done = _already_written(ctx, rows)
    sized = {r.id: Sized(r.id, _sizes(r), folder_names(r.message_id)) for r in rows}
    steps: deque[Step] = deque(plan_downloads(sized.values(), max_bytes=_max_bytes(ctx)))
    while steps:
        if stop.is_set():
            return
        step = steps.popleft()
        if isinstance(step, NoDownload):
            _store_without_download(ctx, by_id[step.key])
        elif isinstance(step, OneByOne):
            _one_by_one(ctx, by_id[step.key], done[step.key])
        else:
            assert isinstance(step, Batch)
            batch_rows = [by_id[k] for k in step.keys]
            leftover, singles = _batch(ctx, batch_rows, done)
            if leftover:
                # Pack the leftover together with the batches still to come, under what the
                # 206 taught about the limit (not in a request of its own).
                keys = [r.id for r in leftover]
                while steps and isinstance(head := steps[0], Batch):
                    steps.popleft()
                    keys.extend(head.keys)
                steps.extendleft(reversed(replan(keys, sized, max_bytes=_max_bytes(ctx))))
            steps.extendleft(OneByOne(r.id) for r in reversed(singles))


def _max_bytes(ctx: Context) -> int:
    """Plan batches under the configured size, and under the gateway's limit once known."""
    configured = ctx.config.inbound.batch_max_bytes
    if ctx.batch_limit_below is None:
        return configured
    return max(1, min(configured, ctx.batch_limit_below - 1))


def _learn_limit(ctx: Context, rows: list[InboundMessage], message: int, attachment: int) -> None:
    below = limit_below([_sizes(r) for r in rows], message, attachment)
    if below is None or (ctx.batch_limit_below is not None and below >= ctx.batch_limit_below):
        return
    ctx.batch_limit_below = below
    log.info("inbound.batch_limit_learned", below_bytes=below, planning_bytes=_max_bytes(ctx))


def _store_without_download(ctx: Context, row: InboundMessage) -> None:
    stager = _stager(ctx, row)
    try:
        staged = stager.seal(set())
    except OSError as exc:
        stager.discard()
        ctx.storage_failed([row], "write into", stager.dirs.incoming, exc)
        return
    store.store(ctx, [staged])


def _batch(
    ctx: Context, rows: list[InboundMessage], done: dict[int, set[int]]
) -> tuple[list[InboundMessage], list[InboundMessage]]:
    """One batch request; store what it covered. Returns (leftover, one-by-one) rows."""
    ids = [row.message_id for row in rows]
    ctx.tmp.mkdir(parents=True, exist_ok=True)
    zip_path = ctx.tmp / f"{ZIP_PREFIX}{uuid.uuid4().hex}.zip"
    try:
        try:
            download = ctx.gateway.download_batch(ids, zip_path, mark_read=True)
        except AuthError:
            raise
        except PermanentError as exc:
            # One bad ID must not block the rest forever: fetch each on its own instead.
            log.warning("inbound.batch_refused", error=str(exc), messages=len(rows))
            return [], rows
        failpoint("inbound.after_download")
        coverage = interpret([len(r.attachments) for r in rows], download.truncation)
        if download.truncation is not None:
            _learn_limit(ctx, rows, download.truncation.message, download.truncation.attachment)
            cut = rows[download.truncation.message]
            j = download.truncation.attachment
            log.info(
                "inbound.truncated",
                station=cut.station,
                partner=cut.partner,
                message_id=cut.message_id,
                file=cut.attachments[j][0] if 0 <= j < len(cut.attachments) else None,
                index=f"({download.truncation.message},{j})",
                complete=len(coverage.complete),
                leftover=len(coverage.leftover),
                one_by_one=len(coverage.one_by_one),
            )
        complete = [rows[k] for k in coverage.complete]
        cut_row = rows[coverage.cut_at_last] if coverage.cut_at_last is not None else None
        staged = _stage_zip(ctx, zip_path, complete, done, cut_row)
    finally:
        with contextlib.suppress(FileNotFoundError):
            zip_path.unlink()
    store.store(ctx, staged)
    return [rows[k] for k in coverage.leftover], [rows[k] for k in coverage.one_by_one]


def _stage_zip(
    ctx: Context,
    zip_path: Path,
    rows: list[InboundMessage],
    done: dict[int, set[int]],
    cut_row: InboundMessage | None,
) -> list[StagedMessage]:
    if not rows:
        return []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        ctx.failed(rows, f"batch zip unreadable: {exc}", event="inbound.verify_failed")
        return []
    staged: list[StagedMessage] = []
    reserved: set[Path] = set()
    with zf:
        results, stray = examine(zf, {row.message_id: row.attachment_list() for row in rows})
        if stray:
            log.warning("inbound.zip_stray_entries", count=len(stray), entries=stray[:5])
        for row in rows:
            result = results[row.message_id]
            if isinstance(result, NotServed):
                # Not served now: left FETCHING for a later poll; no .error reaches an inbox.
                ctx.failed([row], f"gateway: {result.error}", event="inbound.error_entry")
                continue
            if isinstance(result, Refused):
                ctx.failed([row], result.reason, event="inbound.verify_failed")
                continue
            stager = _stager(ctx, row)
            try:
                for k, info in enumerate(result.entries):
                    if k not in done[row.id]:
                        stager.add_zip_entry(k, zf, info, row.attachments[k][1])
                sm = stager.seal(reserved)
            except EntryRefused as exc:
                stager.discard()
                ctx.failed([row], str(exc), event="inbound.verify_failed")
                continue
            except OSError as exc:
                stager.discard()
                ctx.storage_failed([row], "write into", stager.dirs.incoming, exc)
                continue
            sm.read_by_gateway = row is not cut_row
            staged.append(sm)
    return staged


def _one_by_one(ctx: Context, row: InboundMessage, done: set[int]) -> None:
    """Fetch a message too big for any batch attachment by attachment, then store it.

    The downloads do not mark it read: it is marked read explicitly once stored.
    """
    stager = _stager(ctx, row)
    log.info(
        "inbound.one_by_one",
        station=row.station,
        partner=row.partner,
        message_id=row.message_id,
        file=attachment_names(row),
        size=row.total_size,
    )
    try:
        for k, attachment in enumerate(row.attachment_list()):
            if k in done:
                continue
            ctx.gateway.download_attachment(row.message_id, k, stager.temp_for(k), mark_read=False)
            got = stager.add_download(k)
            if got != attachment.size:
                raise EntryRefused(
                    f"attachment {k} ({attachment.name!r}) is {got} bytes, {attachment.size} listed"
                )
        staged = stager.seal(set())
    except EntryRefused as exc:
        stager.discard()
        ctx.failed([row], str(exc), event="inbound.verify_failed")
        return
    except AuthError:
        stager.discard()
        raise
    except PermanentError as exc:
        stager.discard()
        ctx.failed([row], f"gateway refused a download: {exc}", event="inbound.verify_failed")
        return
    except StorageError as exc:
        stager.discard()
        ctx.storage_errors.append(exc)
        ctx.failed([row], str(exc), event="inbound.storage_error", retry_now=True)
        return
    except OSError as exc:
        stager.discard()
        ctx.storage_failed([row], "write into", stager.dirs.incoming, exc)
        return
    except BaseException:
        stager.discard()
        raise
    store.store(ctx, [staged])
