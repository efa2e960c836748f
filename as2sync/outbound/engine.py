"""The outbound engine: find files, claim, submit, archive, reconcile, track — one step at a time.

It sends through one backend (:class:`as2sync.backends.base.Sending`) and knows nothing of
its API: it submits messages, locates those of unknown outcome and tracks delivery through
the backend's calls, and reads what the API can do from its
:class:`~as2sync.backends.base.Capabilities`. Everything that makes sending exactly-once
(the ledger states and their crash ordering, claiming and archiving) is the engine's.

The service's outbound thread calls :meth:`OutboundEngine.step` in a loop and
:meth:`OutboundEngine.wait` when a step made no progress. One step:

1. notices a dead observer (rebuilt, rescan requested);
2. scans every outbox if a rescan is due (``scan_seconds``) or was asked for, else stats the
   paths the watcher hinted at; observations feed the in-memory settle tracker;
3. resumes rows a crash or a storage error left mid-way (CLAIMING, SUBMITTED, REJECTING,
   DELIVERY_FAILING) once they are due;
4. pumps sends for up to :data:`~.sender.STEP_BUDGET_SECONDS` through the :class:`Sender`
   (``max_in_flight`` submissions on a small thread pool), claiming settled files oldest first
   just before they are needed (so a file stays in the outbox, visible and removable, until
   it is its turn) and bundling them when ``bundle_max_files > 1``; in-flight sends always
   finish. While the gateway is unreachable, sending pauses and single probes test it
   (:mod:`.outage`);
5. reconciles due in-doubt submissions;
6. tracks delivery every ``track_seconds``.

Only the step thread claims, scans and reconciles; worker threads submit and archive one
submission each. A submission being worked on is busy in the :class:`Sender`, so no two
threads touch it.
Everything the engine keeps in memory (settle clocks, hints) may be lost at any moment: the
ledger and the folders are the state, and :meth:`start` rebuilds the rest.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from as2sync.backends.base import Sending
from as2sync.config.schema import Config, OutboundConfig
from as2sync.errors import (
    PermanentError,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from as2sync.folders import fsutil
from as2sync.folders.layout import PartnerDirs, ProblemLog, discover, survey
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import Ledger
from as2sync.ledger.outbound import UNFINISHED_STATES, Submission, SubmissionState
from as2sync.outbound import archive, claim, decide, reconcile, returning, submit, tracking
from as2sync.outbound.context import Context
from as2sync.outbound.readiness import Readiness
from as2sync.outbound.scanner import Filter, observe_path, scan_outbox
from as2sync.outbound.sender import Sender
from as2sync.outbound.storage import STORAGE_RETRY_SECONDS, postpone_after_storage_error
from as2sync.outbound.watcher import Hints, Watcher

log = structlog.get_logger(__name__)

MIN_WAIT_SECONDS = 0.01
SEND_TEMP_PREFIX = ".send-"

_RESUMABLE = (
    SubmissionState.CLAIMING,
    SubmissionState.SUBMITTED,
    SubmissionState.REJECTING,
    SubmissionState.DELIVERY_FAILING,
    SubmissionState.RETURNING,
)


@dataclass(frozen=True)
class OutboundStats:
    backlog: int
    """Files waiting: in outboxes (settling or ready) plus claimed but not yet accepted."""
    oldest_waiting_age: float | None
    in_doubt: int
    last_send_at: float | None
    sent_total: int
    failed_total: int


class OutboundEngine:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        backend: Sending,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ctx = Context(config, ledger, backend, clock)
        cfg = config.outbound
        self._filter = Filter(tuple(cfg.exclude), cfg.done_file_suffix)
        self._readiness = Readiness(cfg.settle_seconds)
        self._hints = Hints()
        self._watcher = Watcher(cfg.observer, self._hints)
        self._sender = Sender(self.ctx)
        self._outboxes: dict[str, PartnerDirs] = {}
        self._next_scan = 0.0
        self._next_track = 0.0
        self._folder_problems = ProblemLog()
        self.full_scans = 0  # how many times every outbox was scanned (start-up, scan_seconds)

    @property
    def _cfg(self) -> OutboundConfig:
        return self.ctx.outbound

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a crash left, scan every outbox, start watching."""
        with self.ctx.ledger.read() as s:
            interrupted = lo.in_states(s, [SubmissionState.SUBMITTING])
        for sub in interrupted:
            submit.interrupted(self.ctx, sub)
        self._clean_temp_files()
        self._resume()
        # Watching starts first: a file or folder that appears while the scan runs is not
        # left for the next full scan.
        self._watcher.start(())
        self._full_scan()
        # Freshly recovered in-doubt rows are reconciled in the first step.

    def stop(self) -> None:
        """Stop watching; sends in flight finish first, no new one starts."""
        self._watcher.stop()
        self._sender.close()

    # -- one step ---------------------------------------------------------------------------

    def step(self, stop: threading.Event) -> bool:
        """One pass (see the module docstring). True if any file or row moved on."""
        now = self.ctx.clock()
        self._watcher.check()
        paths, rescan = self._hints.take()
        new_folders = self._hints.take_folders()
        if rescan or now >= self._next_scan:
            self._full_scan()
        else:
            if new_folders:
                self._adopt_new_partnerships()
            if paths:
                self._observe_paths(paths)
        progressed = self._resume() > 0
        if stop.is_set():
            return progressed
        progressed = self._sender.pump(self._next_batch, self._probe, stop) > 0 or progressed
        if stop.is_set():
            return progressed
        progressed = self._reconcile(stop) > 0 or progressed
        if not stop.is_set() and self.ctx.clock() >= self._next_track:
            self._next_track = self.ctx.clock() + self._cfg.track_seconds
            progressed = tracking.track(self.ctx) > 0 or progressed
        return progressed

    def wait(self, timeout: float) -> None:
        """Block until a watcher hint arrives, something becomes due, or ``timeout``."""
        now = self.ctx.clock()
        moments = [now + timeout, self._next_scan]
        states = [SubmissionState.IN_DOUBT, *_RESUMABLE]
        resume = self._sender.outage.resume_at()
        if resume is None:
            states.append(SubmissionState.CLAIMED)
            ready_at = self._readiness.next_ready_at()
            if ready_at is not None:
                moments.append(ready_at)
        elif resume > now:
            # During an outage nothing is sent before the pause ends, whatever is ready.
            moments.append(resume)
        with self.ctx.ledger.read() as s:
            due = lo.next_due(s, states)
        if due is not None:
            moments.append(due)
        delay = min(timeout, max(MIN_WAIT_SECONDS, min(moments) - now))
        self._hints.event.wait(delay)

    def wake(self) -> None:
        """End a :meth:`wait` now (the daemon is stopping: the step thread must see it)."""
        self._hints.event.set()

    def idle(self) -> bool:
        """Nothing waiting, settling, claimed or in doubt (delivery tracking not included)."""
        if self._hints.pending() or len(self._readiness) or self._sender.working():
            return False
        with self.ctx.ledger.read() as s:
            return lo.count_in_states(s, UNFINISHED_STATES) == 0

    def stats(self) -> OutboundStats:
        now = self.ctx.clock()
        with self.ctx.ledger.read() as s:
            claimed, oldest_claim = lo.waiting_files(s)
            in_doubt = lo.count_in_states(s, [SubmissionState.IN_DOUBT])
        oldest = [t for t in (oldest_claim, self._readiness.oldest_first_seen()) if t is not None]
        counters = self.ctx.counters
        return OutboundStats(
            backlog=len(self._readiness) + claimed,
            oldest_waiting_age=(now - min(oldest)) if oldest else None,
            in_doubt=in_doubt,
            last_send_at=counters.last_send_at,
            sent_total=counters.sent_total,
            failed_total=counters.failed_total,
        )

    # -- finding files ----------------------------------------------------------------------

    def _full_scan(self) -> None:
        now = self.ctx.clock()
        found = survey(self.ctx.config)
        self._folder_problems.update(found.problems)  # symlinked folders: logged, left out
        pairs = found.pairs
        self._outboxes = {str(d.outbox): d for d in pairs}
        self._readiness.retain_pairs({(d.station, d.partner) for d in pairs})
        self._watcher.watch_parents(str(p) for p in found.parents)
        for dirs in pairs:
            self._adopt(dirs, now)
        self.full_scans += 1
        self._next_scan = now + self._cfg.scan_seconds
        log.debug("outbound.scanned", partnerships=len(pairs), waiting=len(self._readiness))

    def _adopt(self, dirs: PartnerDirs, now: float) -> None:
        """Create the outbox if missing, watch it, then scan it: watching first, a file dropped
        during the scan raises an event rather than waiting for the next full scan."""
        # A partnership exists once its folder does; its outbox is created so that it can be
        # watched (and users see where to drop files). Refused: scans still work.
        with contextlib.suppress(OSError):  # UnsafeFolder too: it is an OSError
            dirs.make(dirs.outbox)
        self._watcher.watch([str(dirs.outbox)])
        present: set[str] = set()
        for obs in scan_outbox(dirs, self._filter):
            self._readiness.observe(obs, now)
            present.add(obs.path)
        self._readiness.forget_missing(dirs.station, dirs.partner, present)

    def _adopt_new_partnerships(self) -> None:
        """A folder appeared in the root, a station or a route folder (a watcher hint): adopt
        the partnerships not known yet now, without a full scan of every outbox."""
        now = self.ctx.clock()
        found = survey(self.ctx.config)
        self._folder_problems.update(found.problems)
        if self._watcher.watch_parents(str(p) for p in found.parents):
            self._hints.folders()  # a new station: what was made in it before its watch
        for dirs in found.pairs:
            if str(dirs.outbox) not in self._outboxes:
                self._outboxes[str(dirs.outbox)] = dirs
                self._adopt(dirs, now)
                log.info("outbound.partnership_found", station=dirs.station, partner=dirs.partner)

    def watching(self, outbox: Path) -> bool:
        """Whether ``outbox`` has a filesystem watch (for tests and troubleshooting)."""
        return self._watcher.watching(str(outbox))

    def _observe_paths(self, paths: Iterable[str]) -> None:
        now = self.ctx.clock()
        for raw in paths:
            folder, name = os.path.split(raw)
            dirs = self._outboxes.get(folder)
            if dirs is None:
                continue
            path = os.path.join(folder, self._filter.base_of(name))
            obs = observe_path(dirs, Path(path), self._filter)
            if obs is None:
                self._readiness.forget(path)
            else:
                self._readiness.observe(obs, now)

    # -- claiming and sending ----------------------------------------------------------------

    def _claim_ready(self, limit: int, stop: threading.Event) -> int:
        """Claim up to ``limit`` settled files, oldest first; returns how many rows moved on."""
        claimed = 0
        now = self.ctx.clock()
        while claimed < limit and not stop.is_set():
            entry = self._readiness.pop_ready(now)
            if entry is None:
                break
            dirs = self._outboxes.get(os.path.dirname(entry.path))
            obs = observe_path(dirs, Path(entry.path), self._filter) if dirs else None
            if not self._readiness.confirm(entry, obs, now):
                continue
            self._readiness.forget(entry.path)
            planned = claim.plan(self.ctx, entry.station, entry.partner, Path(entry.path))
            try:
                sub = claim.take(self.ctx, planned)
            except StorageError as exc:
                if postpone_after_storage_error(self.ctx, planned.id, exc):
                    continue  # claimed, then refused: the resume pass finishes it
                # The claim was withdrawn, the file is still in the outbox: try it again later.
                log.error(
                    "outbound.storage_error",
                    station=entry.station,
                    partner=entry.partner,
                    file=entry.name,
                    error=str(exc),
                    retry_in=STORAGE_RETRY_SECONDS,
                )
                if obs is not None and os.path.lexists(entry.path):
                    self._readiness.defer(
                        self._readiness.observe(obs, now), now + STORAGE_RETRY_SECONDS
                    )
                continue
            if sub is not None:
                claimed += 1
        return claimed

    def _due_claimed(self, limit: int) -> list[Submission]:
        now = self.ctx.clock()
        with self.ctx.ledger.read() as s:
            rows = lo.in_states(s, [SubmissionState.CLAIMED], due_before=now, limit=limit)
        return self._sender.idle_rows(rows)

    def _next_batch(self, free: int, stop: threading.Event) -> tuple[list[Submission], int]:
        """Up to ``free`` submissions to start now (bundled), and how many claims moved on."""
        per_message = self._cfg.bundle_max_files
        want = free * per_message
        busy = self._sender.busy_count()
        due = self._due_claimed(want + busy)
        claimed = 0
        if sum(len(d.files) for d in due) < want:
            claimed = self._claim_ready(want - sum(len(d.files) for d in due), stop)
            if claimed:
                due = self._due_claimed(want + busy)
        if not due:
            return [], claimed
        units = [
            decide.Unit(
                d.id,
                d.station,
                d.partner,
                self.ctx.facts(d),
                d.subject,
                tuple(f.name for f in d.files),
                d.total_size,
            )
            for d in due
        ]
        groups = decide.plan_bundles(units, per_message, self._cfg.max_file_bytes)
        rows = {d.id: d for d in due}
        batch: list[Submission] = []
        for group in groups[:free]:
            if len(group) == 1:
                batch.append(rows[group[0].id])  # as just read: only this thread claims rows
                continue
            with self.ctx.ledger.transaction() as s:
                lo.merge_into(s, group[0].id, [u.id for u in group[1:]], self.ctx.clock())
                batch.append(lo.get(s, group[0].id))
        return batch, claimed

    def _probe(self, stop: threading.Event) -> tuple[Submission | None, int]:
        """During an outage: the oldest claimed message, whatever its own back-off, else one
        newly claimed file; nothing else is claimed until the gateway answers."""
        with self.ctx.ledger.read() as s:
            rows = self._sender.idle_rows(lo.in_states(s, [SubmissionState.CLAIMED], limit=8))
        claimed = 0
        if not rows:
            claimed = self._claim_ready(1, stop)
            rows = self._due_claimed(1)
        return (rows[0] if rows else None), claimed

    # -- resuming, reconciling --------------------------------------------------------------

    def _resume(self) -> int:
        """Finish rows left mid-way by a crash or a storage error, when they are due."""
        self._sender.settle_unsettled()
        now = self.ctx.clock()
        with self.ctx.ledger.read() as s:
            rows = self._sender.idle_rows(lo.in_states(s, _RESUMABLE, due_before=now))
        moved = 0
        for sub in rows:
            action = decide.recovery_for(sub.state)
            try:
                if action == decide.Recovery.CLAIM:
                    claim.resume(self.ctx, sub)
                elif action == decide.Recovery.ARCHIVE:
                    submit.archive_checked(self.ctx, sub)
                elif action == decide.Recovery.RETURN:
                    returning.resume(self.ctx, sub)
                elif action == decide.Recovery.MOVE_TO_FAILED:
                    stage = (
                        "delivery" if sub.state == SubmissionState.DELIVERY_FAILING else "resume"
                    )
                    archive.move_to_failed(self.ctx, sub, stage=stage)
                moved += 1
            except StorageError as exc:
                postpone_after_storage_error(self.ctx, sub.id, exc)
        return moved

    def _reconcile(self, stop: threading.Event) -> int:
        now = self.ctx.clock()
        with self.ctx.ledger.read() as s:
            rows = self._sender.idle_rows(
                lo.in_states(s, [SubmissionState.IN_DOUBT], due_before=now)
            )
        if not rows:
            return 0
        return reconcile.reconcile(self.ctx, rows, stop)

    def _clean_temp_files(self) -> None:
        """Remove our own temp files that no ledger row refers to (a crash before the claim
        commit of :meth:`send_file`, or mid-way through writing a sidecar)."""
        with self.ctx.ledger.read() as s:
            referenced = lo.source_paths(s, [SubmissionState.CLAIMING])
        for dirs in discover(self.ctx.config):
            with contextlib.suppress(OSError), dirs.open(dirs.processing) as fd:
                for name in os.listdir(fd):
                    ours = name.startswith((SEND_TEMP_PREFIX, ".sidecar-"))
                    if ours and str(dirs.processing / name) not in referenced:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=fd)

    # -- one-off send -----------------------------------------------------------------------

    def send_file(self, path: Path, station: str, partner: str) -> str:
        """Send one file now through the same ledger and rules; return its message ID.

        The file is copied (the original stays where it is) into the partnership's processing
        folder and claimed from there. Raises ``PermanentError`` when it is refused (too big,
        duplicate, refused by the gateway: it is then in failed/ with a sidecar),
        ``TransientError`` when the gateway could not be reached (it stays claimed and the
        daemon sends it), ``UnknownOutcome`` when it may have been sent (the daemon reconciles
        it), and ``StorageError`` when the file cannot be read or copied.
        """
        dirs = self.ctx.dirs(station, partner)
        temp = dirs.processing / f"{SEND_TEMP_PREFIX}{uuid.uuid4().hex}.tmp"
        try:
            with dirs.open(dirs.processing, create=True) as fd:
                fsutil.copy_in(path, fd, temp.name)
        except OSError as exc:
            raise fsutil.storage_error("copy", path, exc) from exc
        # Killed before the plan commits: the temp file is an orphan removed at start-up.
        planned = self._sender.holding(
            lambda: claim.plan(self.ctx, station, partner, temp, name=path.name)
        )
        with planned as sub:
            try:
                if not claim.move_into_processing(self.ctx, sub):
                    raise StorageError(f"cannot send {path}: the copy disappeared")
                sub = claim.complete(self.ctx, sub)
                if sub.state == SubmissionState.CLAIMED:
                    sub = submit.submit(self.ctx, sub)
            except StorageError as exc:
                postpone_after_storage_error(self.ctx, sub.id, exc)
                raise
        return _outcome(sub, path)


def _outcome(sub: Submission, path: Path) -> str:
    if sub.message_id and sub.state in (
        SubmissionState.SUBMITTED,
        SubmissionState.ARCHIVED,
        SubmissionState.DELIVERED,
    ):
        return sub.message_id
    if sub.state == SubmissionState.CLAIMED:
        raise TransientError(
            f"{path.name} was not sent yet ({sub.error}); it is queued and the daemon retries it"
        )
    if sub.state == SubmissionState.IN_DOUBT:
        raise UnknownOutcome(
            f"{path.name} may or may not have reached the gateway ({sub.error}); the daemon "
            "reconciles it before sending again"
        )
    raise PermanentError(f"{path.name} was not sent: {sub.error}", status=sub.http_status)
