"""The shared rate limiter: never a burst beyond the window, sends first, 429s honoured."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from as2sync.backends.http.ratelimit import (
    Priority,
    RateLimiter,
    current_priority,
    priority,
)


class FakeClock:
    """Single-threaded fake time: sleeping advances the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class SteppedClock:
    """Fake time for threads: a sleeper blocks until the test advances the clock far enough."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers = 0
        self._cond = threading.Condition()

    def __call__(self) -> float:
        with self._cond:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            target = self.now + seconds
            self.sleepers += 1
            try:
                assert self._cond.wait_for(lambda: self.now >= target, timeout=10)
            finally:
                self.sleepers -= 1

    def advance(self, seconds: float) -> None:
        with self._cond:
            self.now += seconds
            self._cond.notify_all()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def queued(limiter: RateLimiter, count: int) -> Callable[[], bool]:
    return lambda: limiter.waiting() == count


def has_length(items: list[Priority], count: int) -> Callable[[], bool]:
    return lambda: len(items) == count


def assert_no_burst(grants: list[float], requests: int, per_seconds: float) -> None:
    """No half-open interval of length ``per_seconds`` holds more than ``requests`` grants.

    (Up to float rounding: 1e-9 s is far below anything a server could measure.)"""
    grants = sorted(grants)
    for first, later in zip(grants, grants[requests:], strict=False):
        assert later - first >= per_seconds - 1e-9, (first, later)


def test_first_requests_of_a_window_are_granted_without_waiting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == []
    assert limiter.in_use() == 5


def test_a_steady_stream_never_exceeds_the_limit_in_any_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    grants = []
    for _ in range(300):
        if rng.random() < 0.3:
            clock.now += rng.uniform(0, 0.4)  # irregular arrivals
        limiter.acquire()
        grants.append(clock.now)
    assert_no_burst(grants, 5, 1.0)


def test_a_burst_is_spread_over_windows_without_wasting_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    grants = []
    for _ in range(200):
        limiter.acquire()
        grants.append(clock.now)
    assert_no_burst(grants, 50, 10.0)
    # 200 requests at 50 per 10 s: the last one goes out in the fourth window, not later.
    assert grants[-1] - start == pytest.approx(30.0, abs=0.01)


def test_slot_frees_exactly_when_its_grant_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 4.0
    limiter.acquire()
    limiter.acquire()  # must wait until the first grant is 10 s old: 6 s from now
    assert sum(clock.sleeps) == pytest.approx(6.0, abs=0.002)


def test_low_priority_uses_at_most_eighty_percent_of_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    grants = []
    with priority(Priority.LOW):
        for _ in range(100):
            limiter.acquire()
            grants.append(clock.now)
    assert_no_burst(grants, 8, 1.0)
    # ...and it does use those 8: 100 requests take 13 windows (0..12 s), not more.
    assert grants[-1] - grants[0] == pytest.approx(12.0, abs=0.01)


def test_sends_still_get_slots_after_low_priority_work_filled_its_share() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(8):
        limiter.acquire(Priority.LOW)
    limiter.acquire(Priority.HIGH)
    limiter.acquire(Priority.HIGH)
    assert clock.sleeps == []
    limiter.acquire(Priority.HIGH)  # now the window really is full
    assert clock.sleeps


def test_waiters_are_served_high_then_normal_then_low() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(1, 1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # the window is full from now on
    order: list[Priority] = []

    def worker(level: Priority) -> None:
        with priority(level):
            limiter.acquire()
        order.append(level)

    threads = []
    # Arrival order is the reverse of the expected service order.
    for count, level in enumerate((Priority.LOW, Priority.NORMAL, Priority.HIGH), start=1):
        thread = threading.Thread(target=worker, args=(level,))
        thread.start()
        threads.append(thread)
        wait_until(queued(limiter, count))
    for served in range(1, 4):
        clock.advance(1.0)
        wait_until(has_length(order, served))
    for thread in threads:
        thread.join(5)
    assert order == [Priority.HIGH, Priority.NORMAL, Priority.LOW]


def test_low_waits_while_a_higher_priority_request_is_queued() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    order: list[str] = []

    def worker(name: str, level: Priority) -> None:
        limiter.acquire(level)
        order.append(name)

    high = threading.Thread(target=worker, args=("high", Priority.HIGH))
    high.start()
    wait_until(lambda: limiter.waiting() == 1)
    low = threading.Thread(target=worker, args=("low", Priority.LOW))
    low.start()
    wait_until(lambda: limiter.waiting() == 2)
    clock.advance(1.0)  # the window is empty again: room for both
    wait_until(lambda: len(order) == 2)
    high.join(5)
    low.join(5)
    assert order == ["high", "low"]


def test_real_threads_never_burst_beyond_the_limit() -> None:
    local = threading.local()

    def clock() -> float:
        # The value the limiter read last in this thread is the moment it granted the slot.
        local.now = time.monotonic()
        return float(local.now)

    limiter = RateLimiter(4, 0.02, clock=clock)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(8):
            limiter.acquire(random.choice(list(Priority)))
            with lock:
                grants.append(local.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(grants) == 32
    assert_no_burst(grants, 4, 0.02)


def test_a_request_in_flight_holds_its_slot_until_released_and_a_window_after() -> None:
    clock = SteppedClock()
    limiter = RateLimiter(1, 10.0, clock=clock, sleep=clock.sleep)
    granted: list[float] = []

    def next_request() -> None:
        limiter.acquire()
        granted.append(clock())

    with limiter.slot():  # a slow upload
        thread = threading.Thread(target=next_request)
        thread.start()
        wait_until(lambda: limiter.waiting() == 1)
        clock.advance(100.0)  # far beyond the window: the slot is still in flight
        time.sleep(0.02)
        assert granted == []
        assert limiter.in_use() == 1
    # Released at t=100: the next request may go at t=110, not before.
    wait_until(lambda: clock.sleepers == 1)
    assert granted == []
    clock.advance(10.0)
    thread.join(5)
    assert granted == [110.0]


def test_the_gateway_never_sees_a_burst_whatever_the_latency() -> None:
    """Arrival at the server lies anywhere between grant and release; counting the window from
    the release keeps the server's view within the limit even with jittery latency."""
    rng = random.Random(3)
    limiter = RateLimiter(4, 0.02)
    arrivals: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(8):
            with limiter.slot():
                time.sleep(local.uniform(0, 0.004))  # on the way to the server
                with lock:
                    arrivals.append(time.monotonic())
                time.sleep(local.uniform(0, 0.004))  # the answer on its way back

    threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(arrivals) == 32
    assert_no_burst(arrivals, 4, 0.02)


def test_penalty_pauses_every_request_for_the_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.penalise(3.0)
    before = clock.now
    limiter.acquire(Priority.HIGH)
    assert clock.now - before == pytest.approx(3.0)


def test_penalty_without_retry_after_waits_a_whole_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    limiter.penalise()
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(10.0)


def test_a_shorter_pause_never_cuts_a_longer_one() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    limiter.pause_until(clock.now + 20.0)
    limiter.penalise(1.0)
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(20.0)


def test_in_use_counts_only_the_current_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    clock.now += 5.0
    limiter.acquire()
    assert limiter.in_use() == 4
    clock.now += 5.0
    assert limiter.in_use() == 1
    clock.now += 5.0
    assert limiter.in_use() == 0


def test_priority_block_sets_and_restores_the_context_priority() -> None:
    assert current_priority() is Priority.NORMAL
    with priority(Priority.LOW):
        assert current_priority() is Priority.LOW
        with priority(Priority.HIGH):
            assert current_priority() is Priority.HIGH
        assert current_priority() is Priority.LOW
    assert current_priority() is Priority.NORMAL


def test_priority_of_one_thread_does_not_leak_into_another() -> None:
    seen: list[Priority] = []
    with priority(Priority.LOW):
        thread = threading.Thread(target=lambda: seen.append(current_priority()))
        thread.start()
        thread.join()
    assert seen == [Priority.NORMAL]


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)
