"""Retry policy for idempotent gateway requests (never for a send).

What is retried: :class:`TransientError` (which includes :class:`RateLimited`) and
:class:`ProtocolError` (usually a proxy or an overloaded gateway). Everything else —
``PermanentError``, ``NotFound``, ``AuthError`` — is raised at once. ``UnknownOutcome`` cannot
come out of an idempotent request, and a send is never passed through this policy: it is
reconciled by the caller instead (see :mod:`as2sync.errors`).

Back-off: before retry ``n`` (1-based) the policy waits ``base = min(maximum, initial * 2**(n-1))``
with "equal jitter", i.e. a uniformly random value in ``[base/2, base]``, so that threads that
failed together do not come back together. A ``RateLimited`` error is not waited for here when
a limiter is given: the client has already paused the shared limiter for the Retry-After (or a
whole window), and the next attempt blocks there, together with every other request.

Stopping: with the process's stop event (``call(stop=...)``) a back-off is waited on that event
and ends the moment it is set, and no attempt follows once it is set: the last error is raised
as it is (for a request that never started, :class:`~as2sync.errors.ShuttingDown`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TypeVar

import structlog
import tenacity

from as2sync.backends.http.pausing import pause
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.errors import ProtocolError, RateLimited, ShuttingDown, TransientError

log = structlog.get_logger(__name__)

T = TypeVar("T")

RETRYABLE: tuple[type[Exception], ...] = (TransientError, ProtocolError)


class RetryPolicy:
    """``attempts`` tries in all (1 means no retry); ``sleep`` and ``jitter`` are injectable
    (without ``sleep``, back-offs are real time and end early when the stop event is set)."""

    def __init__(
        self,
        attempts: int = 6,
        initial: float = 0.5,
        maximum: float = 60.0,
        sleep: Callable[[float], None] | None = None,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.initial = initial
        self.maximum = maximum
        self._sleep = sleep
        self._jitter = jitter

    def backoff(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (1 for the first retry)."""
        base = min(self.maximum, self.initial * 2.0 ** (retry_number - 1))
        return base / 2 + base / 2 * self._jitter()

    def call(
        self,
        fn: Callable[[], T],
        *,
        endpoint: str,
        limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
    ) -> T:
        """Run ``fn`` until it succeeds, fails permanently, the attempts are used up, or
        ``stop`` is set.

        The last error is re-raised as it is (no tenacity wrapper).
        """

        def sleep(seconds: float) -> None:
            pause(seconds, stop, self._sleep)

        def attempt() -> T:
            if stop is not None and stop.is_set():  # set during the back-off: no new attempt
                raise ShuttingDown(f"{endpoint}: as2sync is stopping; the request was not made")
            return fn()

        give_up: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.attempts)
        if stop is not None:
            give_up = give_up | tenacity.stop_when_event_set(stop)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                if limiter is not None:
                    return 0.0  # the paused limiter does the waiting
                if exc.retry_after is not None:
                    return exc.retry_after
            return self.backoff(state.attempt_number)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "gateway.retry",
                endpoint=endpoint,
                attempt=state.attempt_number,
                error=type(exc).__name__,
                status=getattr(exc, "status", None),
                detail=str(exc),
                wait=round(state.upcoming_sleep, 3),
            )

        retrying = tenacity.Retrying(
            sleep=sleep,
            stop=give_up,
            wait=wait,
            retry=tenacity.retry_if_exception_type(RETRYABLE),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)
