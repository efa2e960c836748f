"""Retry policy: what is retried, how long it waits, and that it gives up with the real error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.errors import (
    AuthError,
    GatewayError,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
)


def failing(errors: list[GatewayError], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A function raising ``errors`` one per call, then returning ``result``."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


@pytest.mark.parametrize(
    "error", [TransientError("down"), ProtocolError("garbage"), RateLimited("slow down")]
)
def test_transient_and_protocol_errors_are_retried_until_success(error: GatewayError) -> None:
    sleeps: list[float] = []
    fn, calls = failing([error, error])
    assert RetryPolicy(sleep=sleeps.append).call(fn, endpoint="list") == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "error", [PermanentError("bad request"), NotFound("gone"), AuthError("wrong password")]
)
def test_permanent_errors_are_raised_at_once(error: GatewayError) -> None:
    sleeps: list[float] = []
    fn, calls = failing([error])
    with pytest.raises(type(error)) as raised:
        RetryPolicy(sleep=sleeps.append).call(fn, endpoint="list")
    assert raised.value is error
    assert len(calls) == 1
    assert sleeps == []


def test_gives_up_after_the_attempts_with_the_last_error_itself() -> None:
    sleeps: list[float] = []
    errors: list[GatewayError] = [TransientError(f"down {n}") for n in range(10)]
    fn, calls = failing(errors)
    with pytest.raises(TransientError) as raised:
        RetryPolicy(attempts=4, sleep=sleeps.append).call(fn, endpoint="list")
    assert raised.value is errors[3]
    assert len(calls) == 4
    assert len(sleeps) == 3


def test_backoff_doubles_with_equal_jitter_and_is_capped() -> None:
    low = RetryPolicy(initial=0.5, maximum=4.0, jitter=lambda: 0.0)
    high = RetryPolicy(initial=0.5, maximum=4.0, jitter=lambda: 1.0)
    assert [low.backoff(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [high.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_waits_grow_between_attempts() -> None:
    sleeps: list[float] = []
    fn, _ = failing([TransientError("down")] * 5)
    RetryPolicy(attempts=6, initial=1.0, maximum=60.0, sleep=sleeps.append).call(fn, endpoint="x")
    for n, slept in enumerate(sleeps, start=1):
        base = 2.0 ** (n - 1)
        assert base / 2 <= slept <= base


def test_rate_limited_waits_in_the_limiter_not_in_the_policy() -> None:
    sleeps: list[float] = []
    fn, calls = failing([RateLimited("slow down", retry_after=30.0)])
    limiter = RateLimiter(50, 10.0)
    RetryPolicy(sleep=sleeps.append).call(fn, endpoint="list", limiter=limiter)
    assert len(calls) == 2
    assert all(s == 0 for s in sleeps)


def test_rate_limited_without_a_limiter_waits_retry_after() -> None:
    sleeps: list[float] = []
    fn, _ = failing([RateLimited("slow down", retry_after=7.0)])
    RetryPolicy(sleep=sleeps.append).call(fn, endpoint="list")
    assert sleeps == [7.0]


def test_each_retry_is_logged_as_a_warning_with_the_endpoint() -> None:
    fn, _ = failing([TransientError("down", status=503)])
    with capture_logs() as logs:
        RetryPolicy(sleep=lambda _s: None).call(fn, endpoint="list_received")
    retries = [e for e in logs if e["event"] == "gateway.retry"]
    assert len(retries) == 1
    assert retries[0]["log_level"] == "warning"
    assert retries[0]["endpoint"] == "list_received"
    assert retries[0]["status"] == 503
    assert retries[0]["attempt"] == 1


def test_a_single_attempt_policy_does_not_retry() -> None:
    fn, calls = failing([TransientError("down")])
    with pytest.raises(TransientError):
        RetryPolicy(attempts=1, sleep=lambda _s: None).call(fn, endpoint="x")
    assert len(calls) == 1
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
