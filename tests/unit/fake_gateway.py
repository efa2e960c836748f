"""A scripted AS2 Gateway behind ``httpx.MockTransport`` for the client's unit tests.

``/authorize`` issues numbered tokens; every other request is answered by the next item of
the script (a response, an exception to raise, or a function of the request), then by
``default``. Requests are recorded with their bodies read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy

USER = "robot@example.com"
PASSWORD = "pw-Secret-hunter2"
BASE = "https://gw.example/v1"

Item = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def ok(body: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={} if body is None else body, headers=headers)


class ScriptedGateway:
    def __init__(
        self,
        *script: Item,
        default: Item | None = None,
        clock: Callable[[], float] = time.time,
        lifetime: float = 86400.0,
    ) -> None:
        self.script: list[Item] = list(script)
        self.default = default
        self.auth_script: list[Item] = []
        self.clock = clock
        self.lifetime = lifetime
        self.requests: list[httpx.Request] = []
        self.logins: list[httpx.Request] = []
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith("/authorize"):
            self.logins.append(request)
            if self.auth_script:
                return self._answer(self.auth_script.pop(0), request)
            token = f"tok-{len(self.logins)}-0123456789abcdef"
            self.tokens.append(token)
            expiry_ms = int((self.clock() + self.lifetime) * 1000)
            return httpx.Response(200, json={"token": token, "expiry": expiry_ms})
        self.requests.append(request)
        if self.script:
            return self._answer(self.script.pop(0), request)
        if self.default is None:
            raise AssertionError(f"unscripted request {request.method} {request.url}")
        return self._answer(self.default, request)

    @staticmethod
    def _answer(item: Item, request: httpx.Request) -> httpx.Response:
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return item(request)


class FakeTime:
    """Monotonic fake time for limiters: sleeping only advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(
    gateway: ScriptedGateway,
    *,
    sleeps: list[float] | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] = time.time,
    renew_seconds: float = 300.0,
    observer: Callable[[str, int | None, float], None] | None = None,
    attempts: int = 6,
) -> As2GatewayClient:
    """A client on the scripted gateway whose retries and limiter never really sleep."""
    recorded = sleeps if sleeps is not None else []
    if limiter is None:
        fake = FakeTime()
        limiter = RateLimiter(10_000, 1.0, clock=fake, sleep=fake.sleep)
    return As2GatewayClient(
        BASE,
        USER,
        PASSWORD,
        transport=httpx.MockTransport(gateway),
        limiter=limiter,
        retry=RetryPolicy(attempts=attempts, sleep=recorded.append),
        clock=clock,
        observer=observer,
        token_renew_seconds=renew_seconds,
    )
