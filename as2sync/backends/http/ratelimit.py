"""One client-side sliding-window rate limiter for every gateway request of the process.

The API allows 50 requests per 10 seconds. If every request first takes a slot here, a healthy
run never sees a 429; a 429 or 503 that arrives anyway pauses the limiter (``penalise``) so that
no thread hammers the gateway while it asks us to back off.

Window rule: a request holds its slot from the moment it is granted until it is *released*
(its response headers arrived, or it failed), and for ``per_seconds`` after that. A slot is
granted only while fewer than ``requests`` slots are held. Counting from the release rather
than from the grant is what makes the promise hold at the gateway, whose clock starts when a
request *arrives*: request ``i`` arrived before it was released, and request ``i + requests``
cannot be granted (so cannot arrive) before ``release(i) + per_seconds``. Network latency and
its jitter therefore never squeeze ``requests + 1`` arrivals into one server window.

Priority rule (the part that makes sends come first):

* waiters are served strictly by priority, HIGH before NORMAL before LOW, and first come first
  served within one priority; a waiter never takes a slot while a waiter of a higher priority
  (or an earlier one of the same priority) is queued;
* HIGH and NORMAL may use every slot of the window;
* LOW may take a slot only while fewer than ``max(1, floor(0.8 * requests))`` slots are in use in
  the current window, so that background work (tracking, reconciliation) always leaves about a
  fifth of the window for sends and polls that arrive while it runs.

Use ``with limiter.slot(): send()`` around a request; ``acquire()`` takes a slot and releases it
at once (a request that takes no time). Callers set a priority without touching the Gateway
interface::

    with priority(Priority.LOW):
        gateway.list_messages(...)   # every request made here waits as LOW

Stopping: a caller passes the process's stop event (``slot(stop=...)``); once it is set, a
waiter gives up at once with :class:`~as2sync.errors.ShuttingDown` instead of taking a slot,
so no new request starts after SIGTERM. A pause (429, Retry-After) is waited on that event and
ends the moment it is set; waiters queued behind others are woken by :meth:`wake`.

The clock and the sleep function are injectable so that tests run on a fake clock.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from as2sync.backends.http.pausing import pause
from as2sync.errors import ShuttingDown

LOW_SHARE = 0.8
# A sleep shorter than this is rounded up: it spares a busy loop when float rounding leaves a
# waiter a few ULPs short of the moment its slot frees up.
_MIN_SLEEP = 0.001
# Upper bound for one wait of a queued (non-head) waiter. It is woken by notify_all whenever the
# queue moves; the timeout only guards against a missed wake-up.
_IDLE_WAIT = 1.0


class Priority(enum.IntEnum):
    """Lower value is served first."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


_current: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "as2sync_request_priority", default=Priority.NORMAL
)


def current_priority() -> Priority:
    """The priority set by the innermost :func:`priority` block of this context (NORMAL)."""
    return _current.get()


@contextlib.contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Make every gateway request of this thread/context inside the block wait as ``level``."""
    token = _current.set(level)
    try:
        yield
    finally:
        _current.reset(token)


@dataclass(order=True)
class _Waiter:
    level: int
    seq: int
    granted: bool = field(default=False, compare=False)


class RateLimiter:
    """Thread-safe sliding-window limiter: at most ``requests`` grants per ``per_seconds``.

    ``clock`` must be monotonic (it is compared with itself only); ``sleep`` is called without
    the internal lock held. Without an injected ``sleep``, pauses are real time and end early
    when the caller's stop event is set.
    """

    def __init__(
        self,
        requests: int = 50,
        per_seconds: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if requests < 1:
            raise ValueError("requests must be at least 1")
        if per_seconds <= 0:
            raise ValueError("per_seconds must be positive")
        self.requests = requests
        self.per_seconds = per_seconds
        self.low_limit = max(1, math.floor(requests * LOW_SHARE))
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight = 0
        self._released: deque[float] = deque()  # release times within the window, in order
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._paused_until = -math.inf

    # -- public ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def slot(
        self, level: Priority | None = None, *, stop: threading.Event | None = None
    ) -> Iterator[None]:
        """Hold a slot for the duration of the block (one HTTP request, until its answer).

        Raises ShuttingDown, without a slot, once ``stop`` is set (before or while waiting).
        """
        self._take(level, stop)
        try:
            yield
        finally:
            self._release()

    def acquire(
        self, level: Priority | None = None, *, stop: threading.Event | None = None
    ) -> None:
        """Block until a request may be made, and count it as made now."""
        with self.slot(level, stop=stop):
            pass

    def wake(self) -> None:
        """Wake every waiter to look at its stop event again (call after setting it)."""
        with self._cond:
            self._cond.notify_all()

    def pause_until(self, when: float) -> None:
        """Grant nothing before ``when`` (a value of ``clock``). Never shortens a pause."""
        with self._cond:
            self._paused_until = max(self._paused_until, when)
            self._cond.notify_all()

    def penalise(self, seconds: float | None = None) -> None:
        """After a 429/503: pause for ``seconds`` (Retry-After), or a whole window if unknown."""
        wait = self.per_seconds if seconds is None else max(0.0, seconds)
        self.pause_until(self._clock() + wait)

    def in_use(self) -> int:
        """Slots held now: requests in flight plus those released within the window."""
        with self._cond:
            self._expire(self._clock())
            return self._in_flight + len(self._released)

    def waiting(self) -> int:
        """Requests currently queued for a slot (for metrics and tests)."""
        with self._cond:
            return len(self._waiters)

    # -- internals ----------------------------------------------------------------------------

    def _take(self, level: Priority | None, stop: threading.Event | None) -> None:
        me = _Waiter(int(level if level is not None else current_priority()), next(self._seq))
        with self._cond:
            heapq.heappush(self._waiters, me)
            try:
                while True:
                    if stop is not None and stop.is_set():
                        raise ShuttingDown("as2sync is stopping: the request was not made")
                    now = self._clock()
                    self._expire(now)
                    if self._waiters[0] is not me:
                        # Someone ahead of us (higher priority or earlier) goes first.
                        self._cond.wait(_IDLE_WAIT)
                        continue
                    delay = self._delay(me.level, now)
                    if delay is None:
                        # Full of requests still in flight: the next release wakes us.
                        self._cond.wait(_IDLE_WAIT)
                    elif delay <= 0:
                        self._in_flight += 1
                        heapq.heappop(self._waiters)
                        me.granted = True
                        return
                    else:
                        self._cond.release()
                        try:
                            self._pause(max(delay, _MIN_SLEEP), stop)
                        finally:
                            self._cond.acquire()
            finally:
                if not me.granted:  # interrupted while waiting: leave the queue
                    self._waiters.remove(me)
                    heapq.heapify(self._waiters)
                self._cond.notify_all()

    def _pause(self, seconds: float, stop: threading.Event | None) -> None:
        pause(seconds, stop, self._sleep)

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._released.append(self._clock())
            self._cond.notify_all()

    def _expire(self, now: float) -> None:
        horizon = now - self.per_seconds
        while self._released and self._released[0] <= horizon:
            self._released.popleft()

    def _delay(self, level: int, now: float) -> float | None:
        """Seconds until a waiter of ``level`` at the head of the queue may take a slot;
        None when that depends on a request still in flight."""
        if now < self._paused_until:
            return self._paused_until - now
        limit = self.low_limit if level == Priority.LOW else self.requests
        used = self._in_flight + len(self._released)
        if used < limit:
            return 0.0
        must_leave = used - limit + 1
        if must_leave > len(self._released):
            return None
        # Released slots leave the window in release order (the clock is monotonic).
        return self._released[must_leave - 1] + self.per_seconds - now


_shared_lock = threading.Lock()
_shared: RateLimiter | None = None


def shared_limiter(requests: int, per_seconds: float) -> RateLimiter:
    """The process-wide limiter: every client built by the factory shares it.

    A new one is made only when the configured rate changes (e.g. on a config reload).
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.requests != requests or _shared.per_seconds != per_seconds:
            _shared = RateLimiter(requests, per_seconds)
        return _shared
