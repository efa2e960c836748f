"""What each worker loop says about itself, and the verdicts on it: stuck, failing, restart.

A loop is *alive* while it keeps its own deadline, not while it keeps completing passes. Every
loop declares when it will next be heard from (``due_at``):

* when a pass ends, the next pass is due after the wait the loop chose: a maintenance loop that
  sleeps for an hour is due in an hour, a loop backing off after an error is due when its
  back-off ends;
* while a pass runs it is due "now", and every sign of activity in it (a gateway request that
  finished, made by the loop's own thread) moves that to the moment of the activity, so a long
  pass that keeps working (draining a large backlog) is not taken for a hung one.

A loop is **stuck** when it is more than ``health.max_loop_age_seconds`` past its deadline: a
pass hung in I/O or a lock, or a thread that died. Separately, a loop is **failing** when every
pass since ``failing_since`` ended in an error; the last error is kept to be shown.

Verdicts (the decision, documented here once):

* ``health`` (and ``status``) report a stuck loop, and a loop that has failed every pass for
  longer than a limit, with its last error. The limit is ``health.max_loop_age_seconds`` for
  local errors (storage, ledger, bugs) and ``health.max_unreachable_seconds`` for gateway
  errors: a gateway outage is the gateway's problem, already reported after
  ``max_unreachable_seconds`` by the reachability check, and a loop that fails only because the
  gateway is down or refuses us must not flag the daemon earlier than that rule does.
* The systemd watchdog (WATCHDOG=1) stops only for what a restart can fix: a stuck loop, or a
  loop that has failed on an unexpected exception (a bug: corrupted memory state, a leaked
  resource) for longer than ``health.max_loop_age_seconds``. Gateway errors never stop it: a
  restart does not bring the gateway back, it only adds noise and a ledger recovery. Storage
  errors (disk full, permissions) do not stop it either: the operator has to act, and a
  restart loop would only bury the cause in the journal; ``health`` says so instead.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from as2sync.log import scrub

MAX_ERROR_CHARS = 300


class ErrorKind(enum.StrEnum):
    GATEWAY = "gateway"  # the gateway failed or refused: a restart cannot help
    STORAGE = "storage"  # the local filesystem or the ledger's disk: the operator must act
    BUG = "bug"  # anything unexpected: a restart may clear it


@dataclass
class LoopBeat:
    """One loop's last word about itself (times are epoch seconds)."""

    running: bool = False
    """In a pass now (else waiting for the next one)."""
    due_at: float = 0.0
    """Waiting: when the next pass starts. Running: the last sign of activity in this pass."""
    ok_at: float | None = None
    """When the last pass that succeeded ended."""
    failing_since: float | None = None
    """When the first of the passes that have all failed since then ended; None after a
    success."""
    failures: int = 0
    error: str | None = None
    """The last pass's error, ``Type: message`` (secrets masked)."""
    error_kind: str | None = None


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = scrub(" ".join(text.split()))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class Loops:
    """Thread-safe record of every loop's :class:`LoopBeat`.

    Each loop thread calls :meth:`begin` before a pass and :meth:`succeeded` or :meth:`failed`
    after it; :meth:`touch` (from any code running in that thread) marks activity.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, LoopBeat] = {}
        self._current = threading.local()

    def register(self, loop: str) -> None:
        """A loop about to start: due at once."""
        with self._lock:
            self._beats[loop] = LoopBeat(running=True, due_at=self._clock())

    def begin(self, loop: str) -> None:
        self._current.loop = loop
        with self._lock:
            beat = self._beats.setdefault(loop, LoopBeat())
            beat.running = True
            beat.due_at = self._clock()

    def touch(self) -> None:
        """Activity in the pass of the calling thread's loop (no-op outside a loop thread)."""
        loop = getattr(self._current, "loop", None)
        if loop is None:
            return
        with self._lock:
            beat = self._beats.get(loop)
            if beat is not None and beat.running:
                beat.due_at = self._clock()

    def succeeded(self, loop: str, wait: float) -> None:
        now = self._clock()
        with self._lock:
            beat = self._beats.setdefault(loop, LoopBeat())
            beat.running = False
            beat.due_at = now + max(0.0, wait)
            beat.ok_at = now
            beat.failing_since = None
            beat.failures = 0

    def failed(self, loop: str, exc: BaseException, kind: ErrorKind, wait: float) -> None:
        now = self._clock()
        with self._lock:
            beat = self._beats.setdefault(loop, LoopBeat())
            if beat.failing_since is None:
                beat.failing_since = now
            beat.running = False
            beat.due_at = now + max(0.0, wait)
            beat.failures += 1
            beat.error = describe(exc)
            beat.error_kind = str(kind)

    def snapshot(self) -> dict[str, LoopBeat]:
        with self._lock:
            return {name: replace(beat) for name, beat in self._beats.items()}


def _late(beat: LoopBeat, now: float) -> float:
    return now - beat.due_at


def problems(
    name: str, beat: LoopBeat, now: float, *, max_loop_age: float, max_unreachable: float
) -> list[str]:
    """Why loop ``name`` makes the daemon unhealthy (empty: it does not)."""
    found = []
    late = _late(beat, now)
    if late > max_loop_age:
        if beat.running:
            found.append(
                f"{name} loop is stuck: no progress in its current pass for {late:.0f}s "
                f"(limit {max_loop_age:.0f}s)"
            )
        else:
            found.append(
                f"{name} loop is stuck: its next pass is {late:.0f}s overdue "
                f"(limit {max_loop_age:.0f}s)"
            )
    if beat.failing_since is not None:
        spell = now - beat.failing_since
        limit = max_unreachable if beat.error_kind == ErrorKind.GATEWAY else max_loop_age
        if spell > limit:
            found.append(
                f"{name} loop has failed every pass for {spell:.0f}s ({beat.failures} "
                f"failures, limit {limit:.0f}s); last error: {beat.error}"
            )
    return found


def restart_needed(beats: dict[str, LoopBeat], now: float, *, max_loop_age: float) -> list[str]:
    """The loops a restart could help (stuck, or failing on a bug for too long); the systemd
    watchdog is fed only while this is empty."""
    return sorted(
        name
        for name, beat in beats.items()
        if _late(beat, now) > max_loop_age
        or (
            beat.failing_since is not None
            and beat.error_kind == ErrorKind.BUG
            and now - beat.failing_since > max_loop_age
        )
    )
