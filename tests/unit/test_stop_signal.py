"""One stop event ends every gateway-side wait at once: rate-limit pauses, queues, retry back-offs.

Each wait below would last minutes if it were not interrupted; the joins have a generous
liveness bound (a thread still waiting then is the defect), and the asserts are about what
happened: the error raised, how many attempts were made, that no slot was taken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.errors import ShuttingDown, TransientError

LIVENESS = 30.0  # seconds; every wait here would otherwise last at least 300 s


def run_in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def wait_for(predicate: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(LIVENESS / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def test_a_request_waiting_out_a_rate_limit_pause_gives_up_when_stopped() -> None:
    limiter = RateLimiter(50, 10.0)
    limiter.penalise(600.0)  # a 429 with Retry-After: 600
    stop = threading.Event()
    thread, errors = run_in_thread(lambda: limiter.acquire(stop=stop))
    wait_for(lambda: limiter.waiting() == 1)
    stop.set()
    thread.join(LIVENESS)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ShuttingDown)
    assert limiter.in_use() == 0 and limiter.waiting() == 0  # no slot was taken


def test_requests_queued_behind_a_request_in_flight_give_up_when_woken() -> None:
    limiter = RateLimiter(1, 600.0)
    stop = threading.Event()
    with limiter.slot():  # a slow upload holds the only slot
        waiters = [run_in_thread(lambda: limiter.acquire(stop=stop)) for _ in range(3)]
        wait_for(lambda: limiter.waiting() == 3)
        stop.set()
        limiter.wake()
        for thread, _errors in waiters:
            thread.join(LIVENESS)
            assert not thread.is_alive()
        assert all(len(e) == 1 and isinstance(e[0], ShuttingDown) for _t, e in waiters)
        assert limiter.in_use() == 1  # only the request already in flight
    with pytest.raises(ShuttingDown):
        limiter.acquire(stop=stop)  # once stopped, nothing more is granted


def test_a_retry_back_off_ends_when_stopped_and_no_attempt_follows() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def fails() -> None:
        calls.append(1)
        raise TransientError("503 from the gateway")

    policy = RetryPolicy(attempts=6, initial=600.0, maximum=600.0)
    thread, errors = run_in_thread(lambda: policy.call(fails, endpoint="list", stop=stop))
    wait_for(lambda: len(calls) == 1)
    stop.set()  # during (or just before) the 300-600 s back-off
    thread.join(LIVENESS)
    assert not thread.is_alive()
    assert calls == [1]
    assert len(errors) == 1 and isinstance(errors[0], TransientError)


def test_a_failure_after_the_stop_is_raised_at_once_without_a_back_off() -> None:
    stop = threading.Event()
    sleeps: list[float] = []

    def fails() -> None:
        stop.set()  # SIGTERM arrives while the request is in flight
        raise TransientError("connection reset")

    policy = RetryPolicy(attempts=6, sleep=sleeps.append)
    with pytest.raises(TransientError, match="connection reset"):
        policy.call(fails, endpoint="list", stop=stop)
    assert sleeps == []
