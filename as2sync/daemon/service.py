"""The daemon: wiring, loops, signals, systemd notify, heartbeat.

Threads:

* ``outbound`` runs :meth:`OutboundEngine.step` and waits for watcher hints in between;
* ``inbound`` polls every ``inbound.poll_seconds`` (with jitter) until the backlog is drained;
* ``maintenance`` prunes the ledger once an hour and, when the backend shows the account's
  certificates (:class:`~as2sync.backends.base.Certificates`), reads them each pass (the
  backend bounds how often it asks the gateway and logs the expiry warnings) into the heartbeat
  and the metrics; a failed reading is logged and retried sooner, never a failed pass;
* the main thread handles signals, systemd notify (READY, WATCHDOG, STATUS) and the heartbeat.

Every loop survives every error: a gateway that is down for hours means back-off and a visible
state in ``status``/``health``, never an exit. Each loop tells :class:`~.liveness.Loops`
when its next pass is due and how its last pass ended; ``health`` and the watchdog judge that
(see :mod:`.liveness` for what counts as stuck or failing, and why a gateway outage
never stops WATCHDOG=1 while a loop failing on a bug does).

Shutdown (SIGTERM/SIGINT) is one stop event, set by the signal handler and passed down: the
gateway client, its rate limiter and its retry policy see it, so no new request starts once it
is set, and every wait ends at once — loop back-offs, retry back-offs, rate-limit pauses, the
outbound engine's wait for work. Only a request already sent may finish, and only for up to
``shutdown_timeout_seconds``. Each step leaves the ledger resumable after every commit, exactly
as after a SIGKILL, so a thread still busy at the timeout (stuck in I/O) is abandoned: the
process logs it and leaves with ``os._exit(0)`` rather than wait for it, and the next start
resumes from the last commit. Either way the exit code is 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from as2sync import log as logsetup
from as2sync.backends.base import Certificate, Certificates
from as2sync.backends.registry import DaemonBackend, make_backend, registration
from as2sync.config import Config, load_config
from as2sync.daemon.health import Heartbeat, write_heartbeat
from as2sync.daemon.liveness import ErrorKind, Loops, restart_needed
from as2sync.daemon.metrics import Metrics
from as2sync.daemon.notify import Notifier, watchdog_interval
from as2sync.errors import (
    As2SyncError,
    ConfigError,
    GatewayError,
    LedgerUnavailable,
    ShuttingDown,
    StorageError,
)
from as2sync.failpoints import failpoint
from as2sync.folders.lock import InstanceLock
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger.db import Ledger
from as2sync.ledger.guard import open_for_work
from as2sync.outbound.engine import OutboundEngine

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 2.0
MAX_BACKOFF = 300.0
PRUNE_SECONDS = 3600.0
CERTIFICATE_RETRY_SECONDS = 300.0


@dataclass
class Backoff:
    """Exponential back-off with jitter for a loop whose last attempt failed."""

    initial: float = 1.0
    maximum: float = MAX_BACKOFF
    failures: int = 0

    def failed(self) -> float:
        self.failures += 1
        delay = min(self.maximum, self.initial * 2.0 ** (self.failures - 1))
        return delay * random.uniform(0.8, 1.2)

    def succeeded(self) -> None:
        self.failures = 0


class Daemon:
    def __init__(
        self, config: Config, config_path: Path | None = None, *, new_ledger: bool = False
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.new_ledger = new_ledger  # run --new-ledger: see ledger/guard.py
        self.stop_event = threading.Event()
        self._reload = threading.Event()
        self.notifier = Notifier()
        self.beat = Heartbeat(started_at=time.time())
        self._beat_lock = threading.Lock()
        self.loops = Loops()
        self._withheld: list[str] = []  # loops for which WATCHDOG=1 is withheld
        self._abandoned: list[str] = []  # threads still busy when the shutdown timed out
        self._lock = InstanceLock.for_config(config)  # state_dir and folder trees
        self.ledger: Ledger | None = None
        self.backend: DaemonBackend | None = None
        self.outbound: OutboundEngine | None = None
        self.inbound: InboundEngine | None = None
        self.metrics = Metrics(config.metrics.listen)
        self.errors = 0
        self._prune_due = 0.0

    # -- wiring ---------------------------------------------------------------------------

    def open(self) -> None:
        """Take the lock, open the ledger, build the gateway and engines, recover, first scan."""
        self._lock.acquire()
        self.beat.pid = os.getpid()
        self.ledger = open_for_work(self.config, new_ledger=self.new_ledger)
        for secret in registration(self.config).secrets(self.config):
            logsetup.register_secret(secret)
        self.backend = make_backend(
            self.config, observer=self._observe_request, stop=self.stop_event
        )
        self.outbound = OutboundEngine(self.config, self.ledger, self.backend)
        self.inbound = InboundEngine(self.config, self.ledger, self.backend)
        self.metrics.start()
        if self.config.outbound.enabled:
            self.outbound.start()
        if self.config.inbound.enabled:
            self.inbound.start()
        self._heartbeat()

    def close(self) -> None:
        """Release everything; after a shutdown that timed out, end the process instead."""
        if self._abandoned:
            self._abandon()
        if self.outbound is not None:
            self.outbound.stop()
        if self.backend is not None:
            self.backend.close()
        if self.ledger is not None:
            self.ledger.close()
        self.metrics.stop()
        self.notifier.close()
        self._lock.release()

    def _observe_request(self, endpoint: str, status: int | None, seconds: float) -> None:
        self.loops.touch()  # a request finished: the loop that made it is working, not hung
        now = time.time()
        with self._beat_lock:
            if status is not None and status < 500 and status != 429:
                self.beat.gateway_ok_at = now
            else:
                self.beat.gateway_error_at = now
                self.beat.gateway_error = (
                    f"{endpoint}: HTTP {status}" if status else f"{endpoint}: no response"
                )
        self.metrics.request(endpoint, status, seconds)

    def _record(self, **fields: float) -> None:
        with self._beat_lock:
            for key, value in fields.items():
                setattr(self.beat, key, value)

    def _heartbeat(self) -> None:
        with self._beat_lock:
            self.beat.updated_at = time.time()
            self.beat.stopping = self.stop_event.is_set()
            if self.outbound is not None:
                stats = self.outbound.stats()
                self.beat.backlog = stats.backlog
                self.metrics.backlog(stats.backlog)
            if self.inbound is not None:
                self.beat.unrecorded = self.inbound.unrecorded()
            if self.backend is not None:
                self.metrics.rate_limit_in_use(self.backend.requests_in_use())
            beat = Heartbeat(**{k: getattr(self.beat, k) for k in Heartbeat.__dataclass_fields__})
        beat.loops = self.loops.snapshot()
        try:
            write_heartbeat(self.config.state_dir, beat)
        except OSError as exc:
            log.warning("daemon.heartbeat_failed", error=str(exc))

    def summary(self) -> str:
        """One line for systemd's STATUS=."""
        beat = self.beat
        poll = (
            time.strftime("%H:%M:%S", time.localtime(beat.last_poll_at))
            if beat.last_poll_at
            else "never"
        )
        gateway = (
            "gateway down"
            if (beat.gateway_error_at or 0) > (beat.gateway_ok_at or 0)
            else "gateway ok"
        )
        return f"backlog {beat.backlog}, last poll {poll}, {gateway}"

    # -- loops ----------------------------------------------------------------------------

    def _guarded(self, loop: str, body: Callable[[], float]) -> None:
        """Run ``body`` until stopped; it returns how long to wait. Errors mean back-off.

        Only a pass that returned counts as a success; a failed one is recorded with its error,
        and either way the loop declares when its next pass is due (see :mod:`.liveness`).
        """
        backoff = Backoff()
        while not self.stop_event.is_set():
            self.loops.begin(loop)
            failure: tuple[Exception, ErrorKind] | None = None
            try:
                failpoint(f"{loop}.pass")
                delay = body()
                backoff.succeeded()
            except ShuttingDown:
                break  # a request refused because we are stopping: not a failure of the loop
            except GatewayError as exc:
                failure, delay = (exc, ErrorKind.GATEWAY), backoff.failed()
                log.warning(f"{loop}.gateway_error", error=str(exc), retry_in=round(delay, 1))
            except (StorageError, LedgerUnavailable) as exc:
                failure, delay = (exc, ErrorKind.STORAGE), backoff.failed()
                log.error(f"{loop}.storage_error", error=str(exc), retry_in=round(delay, 1))
            except Exception as exc:
                # A bug must not stop the daemon from doing the rest of its work.
                failure, delay = (exc, ErrorKind.BUG), backoff.failed()
                log.exception(f"{loop}.unexpected_error", retry_in=round(delay, 1))
            if failure is None:
                self.loops.succeeded(loop, delay)
            else:
                self.loops.failed(loop, *failure, delay)
            if delay > 0:
                self.stop_event.wait(delay)

    def _outbound_once(self) -> float:
        assert self.outbound is not None
        progressed = self.outbound.step(self.stop_event)
        self._record(last_send_at=self.outbound.stats().last_send_at or 0.0)
        if not progressed:
            self.outbound.wait(1.0)
        return 0.0

    def _inbound_once(self) -> float:
        assert self.inbound is not None
        self.inbound.poll(self.stop_event)
        self._record(last_poll_at=time.time())
        period = self.config.inbound.poll_seconds
        return period * random.uniform(0.9, 1.1)

    def _maintenance_once(self) -> float:
        from as2sync.ledger.retention import prune

        assert self.ledger is not None
        wait = PRUNE_SECONDS
        if isinstance(self.backend, Certificates):  # a capability, whichever backend offers it
            wait = self._read_certificates(self.backend)
        now = time.time()
        if now >= self._prune_due:
            prune(
                self.ledger,
                self.config.ledger.retention_days * 86400,
                self.config.outbound.duplicate_window,
            )
            self._prune_due = now + PRUNE_SECONDS
        return max(0.0, min(wait, self._prune_due - now))

    def _read_certificates(self, backend: Certificates) -> float:
        """Into the heartbeat (status, health) and the metrics; returns when to read again.
        A gateway that cannot be asked is already reported by the reachability check (the
        request observer saw it), so a failed reading is logged and retried, and the pass
        still succeeds: it must not flag the loop sooner than any gateway outage does."""
        try:
            certificates = backend.certificates()
        except ShuttingDown:
            raise
        except GatewayError as exc:
            log.warning(
                "maintenance.certificates_unavailable",
                error=str(exc),
                retry_in=CERTIFICATE_RETRY_SECONDS,
            )
            return CERTIFICATE_RETRY_SECONDS
        self._record_certificates(certificates)
        return PRUNE_SECONDS

    def _record_certificates(self, certificates: list[Certificate]) -> None:
        with self._beat_lock:
            self.beat.certificates = certificates
        self.metrics.certificates(certificates, time.time())

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT."""
        threads = []
        if self.config.outbound.enabled:
            threads.append(("outbound", self._outbound_once))
        if self.config.inbound.enabled:
            threads.append(("inbound", self._inbound_once))
        threads.append(("maintenance", self._maintenance_once))
        workers = [
            threading.Thread(target=self._guarded, args=(name, body), name=name, daemon=True)
            for name, body in threads
        ]
        for name, _body in threads:
            self.loops.register(name)
        for worker in workers:
            worker.start()
        self.notifier.ready(self.summary())
        log.info(
            "daemon.ready", state_dir=str(self.config.state_dir), root=str(self.config.folders.root)
        )
        interval = watchdog_interval()
        while not self.stop_event.is_set():
            self.stop_event.wait(min(HEARTBEAT_SECONDS, interval or HEARTBEAT_SECONDS))
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            self._heartbeat()
            self.notifier.status(self.summary())
            if interval is not None and self._loops_progressing():
                self.notifier.watchdog()
        self.notifier.stopping()
        log.info("daemon.stopping", timeout=self.config.shutdown_timeout_seconds)
        self._interrupt_waits()
        deadline = time.monotonic() + self.config.shutdown_timeout_seconds
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._abandoned = [w.name for w in workers if w.is_alive()]
        if self._abandoned:
            # Their next ledger commit never happens; the next start resumes from the last one.
            log.warning("daemon.shutdown_timeout", unfinished=self._abandoned)
        self._heartbeat()
        log.info("daemon.stopped")

    def _interrupt_waits(self) -> None:
        """After the stop event is set: wake the waits that do not watch it themselves (queued
        rate-limit waiters, the outbound engine's wait for work). Done here, not in the signal
        handler, which must not take locks the interrupted code may hold."""
        if self.backend is not None:
            self.backend.wake()
        if self.outbound is not None:
            self.outbound.wake()

    def _abandon(self) -> None:
        """End the process now, without waiting for the threads still busy (a request stuck in
        I/O may hold one for ``gateway.timeout_seconds`` or longer, and Python would wait at
        exit for the send threads). Safe as a SIGKILL is: every step is resumable from its last
        ledger commit. The ledger and the locks are left to the kernel, which closes and
        releases them with the process."""
        log.warning(
            "daemon.exit_abandoning",
            threads=self._abandoned,
            hint="their work is resumed from the ledger at the next start",
        )
        self.notifier.close()
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(0)

    def _loops_progressing(self) -> bool:
        """WATCHDOG=1 only while no loop needs a restart (stuck, or failing on a bug)."""
        stuck = restart_needed(
            self.loops.snapshot(), time.time(), max_loop_age=self.config.health.max_loop_age_seconds
        )
        if stuck != self._withheld:  # said when it changes, not every heartbeat
            if stuck:
                log.error("daemon.watchdog_withheld", loops=stuck)
            else:
                log.info("daemon.watchdog_resumed")
            self._withheld = stuck
        return not stuck

    def run_once(self, progress: Callable[[str], None] | None = None) -> bool:
        """One full cycle for cron: scan, send until idle, poll until drained, track.
        Returns False when a part of it failed or a received message could not be recorded
        (cron should notice: ``run --once`` exits 1)."""
        say = progress or (lambda _msg: None)
        failures = 0
        if self.config.outbound.enabled:
            assert self.outbound is not None
            say("sending outbox files")
            deadline = time.monotonic() + max(60.0, self.config.outbound.settle_seconds * 4 + 30)
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                try:
                    progressed = self.outbound.step(self.stop_event)
                except As2SyncError as exc:
                    log.error("once.outbound_error", error=str(exc))
                    failures += 1
                    break
                if self.outbound.idle():
                    break
                if not progressed:
                    self.outbound.wait(min(1.0, max(0.1, self.config.outbound.settle_seconds / 4)))
        if self.config.inbound.enabled and not self.stop_event.is_set():
            assert self.inbound is not None
            say("fetching received messages")
            try:
                stored = self.inbound.poll(self.stop_event)
                say(f"stored {stored} received message(s)")
            except As2SyncError as exc:
                log.error("once.inbound_error", error=str(exc))
                failures += 1
            if self.inbound.unrecorded():  # logged by the poll; cron should notice too
                failures += 1
        self._heartbeat()
        return not failures

    # -- signals --------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon.signal", signal=signal.Signals(signum).name)
            self.stop_event.set()

        def reload(_signum: int, _frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def reload(self) -> None:
        """SIGHUP: re-read the config; apply what can be applied live, name what needs a restart."""
        if self.config_path is None:
            return
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("daemon.reload_failed", problems=[str(p) for p in exc.problems])
            self.notifier.ready(self.summary())
            return
        logsetup.configure(new.log.level, new.log.format.value)
        changed = [
            key
            for key in type(new).model_fields
            if key != "log" and getattr(new, key) != getattr(self.config, key)
        ]
        if changed:
            log.warning(
                "daemon.reload_needs_restart",
                changed=changed,
                hint="these keys take effect after a restart (systemctl restart as2sync)",
            )
        else:
            log.info("daemon.reloaded")
        self.config = self.config.model_copy(update={"log": new.log})
        self.notifier.ready(self.summary())
