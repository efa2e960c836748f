"""The outermost ASGI layer of ``/v1``: request log, injected latency, the rate limit, and the
hook that lets an endpoint drop its connection.

Order per ``/v1`` request: latency (``Faults.latency``), then the account's sliding-window
rate limit (429 with ``Retry-After`` in whole seconds; unknown routes and ``/authorize`` count
too, as "API calls are rate-limited"), then the routed endpoint. Every request is logged as
``(method, path, status)``: status 0 when the connection was dropped before a response
started, the announced status when a response was cut short (truncate); the time each request
arrived is kept beside it (``/_admin/requests?times=true``).
Requests outside ``/v1`` (the ``/_admin`` namespace) pass straight through.

Dropping a connection: a test of exactly-once needs "the request arrived, no response came
back". ASGI has no portable way to say that, so the hook reaches for the server's transport
(uvicorn's protocol object is the bound ``send``'s ``__self__``) and aborts it. Where that is
not available, :func:`abort_connection` raises instead, which makes uvicorn close the
connection (after a 500 if nothing was sent yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from as2sync.emulator.account import Account
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.httputil import message
from as2sync.emulator.journal import Journal

ABORT_KEY = "as2sync.abort"
API_PREFIX = "/v1"


class ConnectionDropped(Exception):
    """Raised to make the server close the connection when the transport is unreachable."""


def _find_abort(send: Send) -> Callable[[], None] | None:
    protocol: Any = getattr(send, "__self__", None)
    transport: Any = getattr(protocol, "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


async def abort_connection(scope: Scope) -> None:
    """Close the client connection at once, without (the rest of) a response."""
    abort: Callable[[], bool] = scope[ABORT_KEY]
    if not abort():
        raise ConnectionDropped
    # Let the server's connection_lost callback run, so it knows not to answer a 500 itself.
    await anyio.sleep(0.005)


def _is_v1(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class GatewayMiddleware:
    """Wraps ``app``: ``/v1`` requests are logged to ``journal``, delayed and counted by
    ``injector``, and admitted by ``account``'s rate limit."""

    def __init__(
        self,
        app: ASGIApp,
        account: Account,
        injector: FaultInjector,
        journal: Journal,
        *,
        is_api: Callable[[str], bool] | None = None,
        rate_limited: bool = True,
    ) -> None:
        self.app = app
        self.account = account
        self.injector = injector
        self.journal = journal
        # Which paths are API calls (the rest, /_admin, passes straight through): /v1 here;
        # an API without a version prefix (MFT Gateway) passes its own rule.
        self.is_api = is_api or _is_v1
        # False for a listener that is not the account's API (MFT's object store): logged,
        # delayed and droppable like the API, but not counted against its rate limit.
        self.rate_limited = rate_limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not self.is_api(path):
            await self.app(scope, receive, send)
            return
        status = 0
        logged = False
        arrived = time.time()
        transport_abort = _find_abort(send)

        def log(final_status: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                self.journal.log_request(scope["method"], path, final_status, started_at=arrived)

        def abort() -> bool:
            # Logged before the connection goes, so a client that sees the drop also sees
            # the log entry (status 0, or the status of a response cut short).
            log(status)
            if transport_abort is None:
                return False
            transport_abort()
            return True

        scope[ABORT_KEY] = abort

        async def logging_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            latency = self.injector.current.latency
            if latency > 0:
                await anyio.sleep(latency)
            retry_after = self.account.admit_request() if self.rate_limited else None
            if retry_after is not None:
                self.injector.count("rate_limited")
                limit = self.account.settings.rate_limit
                assert limit is not None  # a limiter exists only with a limit
                response = message(
                    429,
                    f"Rate limit exceeded: {limit[0]} requests per {limit[1]:g} seconds",
                    {"Retry-After": str(retry_after)},
                )
                await response(scope, receive, logging_send)
                return
            await self.app(scope, receive, logging_send)
        finally:
            log(status)
