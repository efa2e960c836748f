"""Sending: submissions run on a small pool of worker threads, never two at once for one row.

:class:`Sender` holds everything sending keeps in memory, and nothing else does:

* the worker pool (``max_in_flight`` threads); a worker submits and archives one submission
  (:func:`as2sync.outbound.submit.submit`) and returns how it ended;
* the *busy* rows: those a worker (or ``as2sync send``) is working on, which no other step
  touches;
* the *unsettled* rows: those a worker left SUBMITTING because the ledger itself failed (disk
  full) or a bug; each resume pass tries again to record them IN_DOUBT (reconciliation then
  finds out), so a running daemon does not wait for a restart to settle them;
* the gateway :class:`~as2sync.outbound.outage.Outage`: the step thread records every finished
  send's outcome in one place (:meth:`Sender._record`). During an outage the one probe is
  chosen, sent and recorded inside :meth:`Outage.probe`, which gives the probe's turn back
  however the block ends, so no path can leave sending stopped for good.

What to send (claiming, bundling, which row probes) is the engine's business: it hands
:meth:`Sender.pump` two planners. Everything here may be lost at any moment: the ledger and
the folders are the state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import structlog

from as2sync.errors import LedgerUnavailable, StorageError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission, SubmissionState
from as2sync.outbound import submit
from as2sync.outbound.context import Context
from as2sync.outbound.outage import Outage
from as2sync.outbound.storage import postpone_after_storage_error

log = structlog.get_logger(__name__)

STEP_BUDGET_SECONDS = 5.0
"""How long one pump keeps starting sends before it returns (scans, reconciliation and
tracking get their turn between steps)."""

Batch = Callable[[int, threading.Event], tuple[list[Submission], int]]
"""``(free, stop)``: up to ``free`` submissions to start now, and how many claims moved on."""
Probe = Callable[[threading.Event], tuple[Submission | None, int]]
"""``(stop)``: the submission to probe the gateway with (None: nothing to send), and how
many claims moved on."""


class Sender:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.outage = Outage()
        self._pool = ThreadPoolExecutor(
            max_workers=ctx.outbound.max_in_flight, thread_name_prefix="outbound-send"
        )
        self._lock = threading.Lock()  # guards _busy and _unsettled
        self._busy: set[int] = set()
        self._unsettled: set[int] = set()
        self._settle_lock = threading.Lock()
        self._closing = threading.Event()

    def close(self) -> None:
        """No new send starts; the sends in flight finish first."""
        self._closing.set()
        self._pool.shutdown(wait=True)

    # -- busy rows --------------------------------------------------------------------------

    def working(self) -> bool:
        """Whether any row is being worked on."""
        with self._lock:
            return bool(self._busy)

    def busy_count(self) -> int:
        with self._lock:
            return len(self._busy)

    def idle_rows(self, rows: Iterable[Submission]) -> list[Submission]:
        """``rows`` without those being worked on."""
        with self._lock:
            return [r for r in rows if r.id not in self._busy]

    @contextlib.contextmanager
    def holding(self, make: Callable[[], Submission]) -> Iterator[Submission]:
        """Make a row (``make`` commits it) and keep it busy until the block ends: no step
        takes it up meanwhile (a new CLAIMING row would otherwise look like one to resume)."""
        with self._lock:
            sub = make()
            self._busy.add(sub.id)
        try:
            yield sub
        finally:
            with self._lock:
                self._busy.discard(sub.id)

    # -- sending ----------------------------------------------------------------------------

    def pump(self, batch: Batch, probe: Probe, stop: threading.Event) -> int:
        """Keep up to ``max_in_flight`` sends running for :data:`STEP_BUDGET_SECONDS` (one
        probe at a time during an outage); sends in flight always finish before it returns.
        Returns how many rows moved on."""
        deadline = time.monotonic() + STEP_BUDGET_SECONDS
        running: dict[Future[Submission | None], Submission] = {}
        moved = 0
        while True:
            starting = not (stop.is_set() or self._closing.is_set())
            if starting and time.monotonic() < deadline:
                moved += self._start(batch, probe, stop, running)
            if not running:
                return moved
            done, _pending = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                self._finished(running.pop(future), future)
                moved += 1

    def _start(
        self,
        batch: Batch,
        probe: Probe,
        stop: threading.Event,
        running: dict[Future[Submission | None], Submission],
    ) -> int:
        """Start what may start now; how many rows moved on (claims, a finished probe)."""
        free = self.ctx.outbound.max_in_flight - len(running)
        if free <= 0:
            return 0
        if not self.outage.active():
            subs, claimed = batch(free, stop)
            for sub in subs:
                running[self._launch(sub)] = sub
            return claimed
        with self.outage.probe(self.ctx.clock()) as granted:
            if not granted:
                return 0
            chosen, claimed = probe(stop)
            if chosen is None:
                return claimed  # nothing to send: the next file that appears probes
            future = self._launch(chosen)
            wait([future])  # its outcome is recorded before the probe's turn is given back
            self._finished(chosen, future)
            return claimed + 1

    def _launch(self, sub: Submission) -> Future[Submission | None]:
        with self._lock:
            self._busy.add(sub.id)
        return self._pool.submit(self._send, sub)

    def _finished(self, sub: Submission, future: Future[Submission | None]) -> None:
        with self._lock:
            self._busy.discard(sub.id)
        result = future.result()  # _send records every outcome in the ledger; it never raises
        if result is not None:
            self._record(result)

    def _record(self, result: Submission) -> None:
        """What a finished send says about the gateway."""
        if result.state == SubmissionState.CLAIMED:  # provably not sent: retry later
            self.outage.failed(self.ctx.clock(), result.next_attempt_at, result.error)
        elif result.state == SubmissionState.RETURNED:
            pass  # given back before any request: proves nothing about the gateway
        elif result.state == SubmissionState.IN_DOUBT:
            # Unknown outcome proves nothing about the gateway: during an outage it counts as
            # a failed probe (back off, probe again later); otherwise nothing changes.
            if self.outage.active():
                self.outage.failed(self.ctx.clock(), None, result.error)
        else:
            self.outage.succeeded()

    def _send(self, sub: Submission) -> Submission | None:
        """Worker thread: submit and archive one submission. Returns how it ended, or None
        when that is not known (a storage error postponed it, or the ledger failed: every
        outcome is in the ledger or being settled)."""
        try:
            try:
                return submit.submit(self.ctx, sub)
            except StorageError as exc:
                # The row kept its state (the files are where the ledger says): look again later.
                postpone_after_storage_error(self.ctx, sub.id, exc)
        except LedgerUnavailable as exc:
            # The ledger could not record the outcome (its disk is full, ...). Nothing is lost:
            # the row is SUBMITTING or earlier, which a restart would also find and settle.
            log.error(
                "outbound.storage_error",
                error=str(exc),
                station=sub.station,
                partner=sub.partner,
                file=sub.names,
                submission=sub.id,
            )
            self._settle_as_in_doubt(sub.id)
        except Exception:
            log.exception(
                "outbound.unexpected_error",
                station=sub.station,
                partner=sub.partner,
                file=sub.names,
                submission=sub.id,
            )
            self._settle_as_in_doubt(sub.id)
        return None

    # -- unsettled rows ---------------------------------------------------------------------

    def _settle_as_in_doubt(self, sub_id: int) -> None:
        """After an unexpected or ledger error a row must not stay SUBMITTING while we run
        (only a restart would recover it): it may have been sent, so it is in doubt. Until
        that is recorded, every resume pass tries again (:meth:`settle_unsettled`)."""
        with self._lock:
            self._unsettled.add(sub_id)
        self.settle_unsettled()

    def settle_unsettled(self) -> None:
        """Record every unsettled row IN_DOUBT (those the ledger still refuses stay)."""
        with self._settle_lock:  # one settler at a time (step thread, workers): no double work
            with self._lock:
                pending = sorted(self._unsettled)
            for sub_id in pending:
                try:
                    with self.ctx.ledger.read() as s:
                        row = lo.get(s, sub_id)
                    if row.state == SubmissionState.SUBMITTING:
                        submit.interrupted(self.ctx, row)
                except LedgerUnavailable as exc:
                    log.error("outbound.storage_error", error=str(exc), submission=sub_id)
                    continue
                except Exception:
                    log.exception("outbound.unexpected_error", submission=sub_id)
                    continue
                with self._lock:
                    self._unsettled.discard(sub_id)
