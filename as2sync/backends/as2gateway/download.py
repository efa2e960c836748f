"""Download wanted messages through the v1 API: batch zips (handling 206 truncation), or
attachment by attachment, into the engine's staging slots.

The engine has committed every message's FETCHING row before it asks (crash after the
request: the gateway may have marked it read, the row still says FETCHING, and the message
is fetched again by ID).

Batch requests carry ``markAsRead=true``, so the gateway marks fully archived messages read in
bulk; a message stored from such a batch is handed to the engine as acknowledged and needs no
request of its own. Messages fetched one by one, or completed exactly at a truncation point
(where the spec does not say whether the gateway marked them), are handed over as not
acknowledged: the engine marks them read explicitly after storing them.

Every message is verified against its list metadata (attachment count and sizes) before it is
handed to the engine for storing; one that does not match is handed back as refused and is
retried later.

The gateway's batch limit, once a 206 proved where it lies (see :func:`plan.limit_below`), is
kept for the :class:`Downloader`'s life, so later polls plan under it.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import zipfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import structlog

from as2sync.backends.as2gateway.model import Gateway
from as2sync.backends.as2gateway.plan import (
    Batch,
    NoDownload,
    OneByOne,
    Sized,
    Step,
    limit_below,
    plan_downloads,
    replan,
)
from as2sync.backends.as2gateway.truncation import interpret
from as2sync.backends.as2gateway.zipread import (
    EntryStream,
    NotServed,
    Refused,
    examine,
    folder_names,
)
from as2sync.backends.base import TMP_PREFIX, ContentRefused, Sink, Staged, Wanted
from as2sync.errors import AuthError, PermanentError, StorageError
from as2sync.failpoints import failpoint

log = structlog.get_logger("as2sync.inbound")


def _sizes(wanted: Wanted) -> tuple[int, ...]:
    return tuple(a.size for a in wanted.attachments)


def _names(wanted: Wanted) -> str:
    return ", ".join(a.name for a in wanted.attachments)


class Downloader:
    """Plans and makes the download requests; remembers the gateway's batch limit."""

    def __init__(self, gateway: Gateway, batch_max_bytes: int) -> None:
        self._gateway = gateway
        self._configured = batch_max_bytes
        # The gateway's batch limit is below this many attachment bytes, as a 206 proved.
        self.batch_limit_below: int | None = None

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        """See :meth:`as2sync.backends.base.Receiver.download`."""
        by_key = {w.key: w for w in wanted}
        sized = {w.key: Sized(w.key, _sizes(w), folder_names(w.remote_id)) for w in wanted}
        steps: deque[Step] = deque(plan_downloads(sized.values(), max_bytes=self._max_bytes()))
        while steps:
            if stop.is_set():
                return
            step = steps.popleft()
            if isinstance(step, NoDownload):
                sink.store([sink.stage(step.key)], acknowledged=[False])
            elif isinstance(step, OneByOne):
                self._one_by_one(by_key[step.key], sink)
            else:
                assert isinstance(step, Batch)
                leftover, singles = self._batch([by_key[k] for k in step.keys], sink)
                if leftover:
                    # Pack the leftover together with the batches still to come, under what
                    # the 206 taught about the limit (not in a request of its own).
                    keys = [w.key for w in leftover]
                    while steps and isinstance(head := steps[0], Batch):
                        steps.popleft()
                        keys.extend(head.keys)
                    steps.extendleft(reversed(replan(keys, sized, max_bytes=self._max_bytes())))
                steps.extendleft(OneByOne(w.key) for w in reversed(singles))

    def _max_bytes(self) -> int:
        """Plan batches under the configured size, and under the gateway's limit once known."""
        if self.batch_limit_below is None:
            return self._configured
        return max(1, min(self._configured, self.batch_limit_below - 1))

    def _learn_limit(self, rows: list[Wanted], message: int, attachment: int) -> None:
        below = limit_below([_sizes(r) for r in rows], message, attachment)
        if below is None or (
            self.batch_limit_below is not None and below >= self.batch_limit_below
        ):
            return
        self.batch_limit_below = below
        log.info("inbound.batch_limit_learned", below_bytes=below, planning_bytes=self._max_bytes())

    def _batch(self, rows: list[Wanted], sink: Sink) -> tuple[list[Wanted], list[Wanted]]:
        """One batch request; hand over what it covered. Returns (leftover, one-by-one)."""
        ids = [w.remote_id for w in rows]
        sink.tmp.mkdir(parents=True, exist_ok=True)
        zip_path = sink.tmp / f"{TMP_PREFIX}{uuid.uuid4().hex}.zip"
        try:
            try:
                download = self._gateway.download_batch(ids, zip_path, mark_read=True)
            except AuthError:
                raise
            except PermanentError as exc:
                # One bad ID must not block the rest forever: fetch each on its own instead.
                log.warning("inbound.batch_refused", error=str(exc), messages=len(rows))
                return [], rows
            failpoint("inbound.after_download")
            coverage = interpret([len(w.attachments) for w in rows], download.truncation)
            if download.truncation is not None:
                i, j = download.truncation.message, download.truncation.attachment
                self._learn_limit(rows, i, j)
                cut = rows[i]
                log.info(
                    "inbound.truncated",
                    station=cut.station,
                    partner=cut.partner,
                    message_id=cut.remote_id,
                    file=cut.attachments[j].name if 0 <= j < len(cut.attachments) else None,
                    index=f"({i},{j})",
                    complete=len(coverage.complete),
                    leftover=len(coverage.leftover),
                    one_by_one=len(coverage.one_by_one),
                )
            complete = [rows[k] for k in coverage.complete]
            cut_at = rows[coverage.cut_at_last] if coverage.cut_at_last is not None else None
            staged, acknowledged = _stage_zip(zip_path, complete, cut_at, sink)
        finally:
            with contextlib.suppress(FileNotFoundError):
                zip_path.unlink()
        if staged:
            sink.store(staged, acknowledged=acknowledged)
        return [rows[k] for k in coverage.leftover], [rows[k] for k in coverage.one_by_one]

    def _one_by_one(self, wanted: Wanted, sink: Sink) -> None:
        """Fetch a message too big for any batch attachment by attachment.

        The downloads do not mark it read: the engine marks it read explicitly once stored.
        """
        log.info(
            "inbound.one_by_one",
            station=wanted.station,
            partner=wanted.partner,
            message_id=wanted.remote_id,
            file=_names(wanted),
            size=wanted.total_size,
        )
        slot = sink.stage(wanted.key)
        try:
            for k, attachment in enumerate(wanted.attachments):
                if k in wanted.done:
                    continue
                self._gateway.download_attachment(
                    wanted.remote_id, k, slot.temp_for(k), mark_read=False
                )
                got = slot.add_download(k)
                if got != attachment.size:
                    raise ContentRefused(
                        f"attachment {k} ({attachment.name!r}) is {got} bytes, "
                        f"{attachment.size} listed"
                    )
        except ContentRefused as exc:
            sink.refused([wanted.key], str(exc))
            return
        except AuthError:
            raise
        except PermanentError as exc:
            sink.refused([wanted.key], f"gateway refused a download: {exc}")
            return
        except (StorageError, OSError) as exc:
            sink.storage_failed([wanted.key], exc)
            return
        sink.store([slot], acknowledged=[False])


def _stage_zip(
    zip_path: Path, rows: list[Wanted], cut_at: Wanted | None, sink: Sink
) -> tuple[list[Staged], list[bool]]:
    """Fill a slot per message served whole by the zip; hand the others back. Returns the
    filled slots and, per slot, whether the batch request marked it read."""
    if not rows:
        return [], []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        sink.refused([w.key for w in rows], f"batch zip unreadable: {exc}")
        return [], []
    staged: list[Staged] = []
    acknowledged: list[bool] = []
    with zf:
        results, stray = examine(zf, {w.remote_id: w.attachments for w in rows})
        if stray:
            log.warning("inbound.zip_stray_entries", count=len(stray), entries=stray[:5])
        for w in rows:
            result = results[w.remote_id]
            if isinstance(result, NotServed):
                # Not served now: left FETCHING for a later poll; no .error reaches an inbox.
                sink.not_served([w.key], f"gateway: {result.error}")
                continue
            if isinstance(result, Refused):
                sink.refused([w.key], result.reason)
                continue
            slot = sink.stage(w.key)
            try:
                for k, info in enumerate(result.entries):
                    if k not in w.done:
                        expected = w.attachments[k].size
                        with EntryStream(zf, info, expected) as entry:
                            slot.add_stream(k, entry, expected)
            except ContentRefused as exc:
                sink.refused([w.key], str(exc))
                continue
            except OSError as exc:
                sink.storage_failed([w.key], exc)
                continue
            staged.append(slot)
            acknowledged.append(w is not cut_at)
    return staged, acknowledged
