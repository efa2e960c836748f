"""One ``/v1`` endpoint as an ASGI app: token check and fault injection around its handler.

The order of checks and faults (see :class:`~as2sync.emulator.settings.Faults`)::

    spurious 429 -> token check (+ forced expiry) -> drop -> 5xx before
        -> handler (the action takes effect) -> drop after -> 5xx after -> truncated body

Faults other than latency apply only to targeted endpoints and never to an error the handler
itself answered (a 404 stays a 404). Injected 500/503 carry the usual JSON body; 502/504 carry
an HTML page, as a load balancer in front of the real service would, because clients must not
depend on a 5xx body being JSON.

Authorization: the header carries the bare token (spec section 2: "Do not include any scheme
part"), so ``Bearer <token>`` is refused with 401 like any other invalid token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Receive, Scope, Send

from as2sync.emulator.account import Account
from as2sync.emulator.apierror import ApiError
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.httputil import error_response, message, parse_bool
from as2sync.emulator.middleware import abort_connection

Handler = Callable[[Request], Awaitable[Response]]

_SCHEMES = ("bearer ", "basic ", "token ", "jwt ")


class _Truncated(Exception):
    """Stops a response after the cut-off point of an injected truncation."""


def _error_page(status: int) -> Response:
    if status in (502, 504):
        title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
        return HTMLResponse(
            f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
            "</center></body></html>",
            status_code=status,
        )
    text = "Service Unavailable" if status == 503 else "Internal Server Error"
    return message(status, text)


class Endpoint:
    """ASGI app of one route: ``name`` is the fault-targeting endpoint name; ``account`` checks
    tokens and ``injector`` decides which faults fire."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        account: Account,
        injector: FaultInjector,
        *,
        auth: bool = True,
        marks_read: Callable[[Request], bool] | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.account = account
        self.injector = injector
        self.auth = auth
        # Whether a request marks a message read (the ``markread`` fault target): by default
        # an explicit ``markAsRead=true``, as in /v1; another API passes its own rule.
        self.marks_read = marks_read or (lambda request: parse_bool(request, "markAsRead"))

    def _auth_problem(self, request: Request, targeted: bool) -> str | None:
        header = request.headers.get("authorization")
        if not header:
            return "Missing Authorization header"
        if header.lower().startswith(_SCHEMES):
            return "Invalid token: send the token without a scheme (no 'Bearer ')"
        checked = self.account.check_token(header)
        if isinstance(checked, str):
            return checked
        if targeted and self.injector.roll(self.injector.current.token_expiry):
            self.injector.count("token_expiry")
            return "Token expired"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        injector = self.injector
        faults = injector.current
        try:
            marks_read = self.marks_read(request)
        except ApiError:
            marks_read = False  # the handler answers the 400
        targeted = faults.targets(self.name, marks_read=marks_read)

        if targeted and injector.roll(faults.rate_limit_burst):
            injector.count("rate_limit_burst")
            limited = message(429, "Rate limit exceeded", {"Retry-After": "1"})
            await limited(scope, receive, send)
            return
        if self.auth:
            problem = self._auth_problem(request, targeted)
            if problem is not None:
                await message(401, problem)(scope, receive, send)
                return
        if targeted and injector.roll(faults.drop):
            injector.count("drop")
            await abort_connection(scope)
            return
        if targeted and injector.roll(faults.error_before):
            injector.count("error_before")
            await _error_page(injector.choose_error_status())(scope, receive, send)
            return

        try:
            response = await self.handler(request)
        except ApiError as exc:
            response = error_response(exc)
        except ClientDisconnect:
            # The client gave up (its timeout ran out during injected latency) before its body
            # arrived: nobody is left to answer, and nothing was done.
            return

        ok = 200 <= response.status_code < 300
        if targeted and ok and injector.roll(faults.drop_after):
            injector.count("drop_after")
            await abort_connection(scope)
            return
        if targeted and ok and injector.roll(faults.error_after):
            injector.count("error_after")
            await _error_page(injector.choose_error_status())(scope, receive, send)
            return
        if (
            ok
            and faults.truncates(self.name, marks_read=marks_read)
            and injector.roll(faults.truncate)
            and await self._send_truncated(response, scope, receive, send)
        ):
            return
        await response(scope, receive, send)

    async def _send_truncated(
        self, response: Response, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Send headers and part of the body, then drop the connection. False if the response
        has no announced length to fall short of (then nothing was sent)."""
        length = int(response.headers.get("content-length") or 0)
        if length <= 0:
            return False
        self.injector.count("truncate")
        cut = self.injector.randrange(length)
        sent = 0

        async def cutting_send(msg: Message) -> None:
            nonlocal sent
            if msg["type"] == "http.response.body":
                body: bytes = msg.get("body", b"")
                if sent + len(body) > cut:
                    await send(
                        {
                            "type": "http.response.body",
                            "body": body[: cut - sent],
                            "more_body": True,
                        }
                    )
                    raise _Truncated
                sent += len(body)
            await send(msg)

        try:
            await response(scope, receive, cutting_send)
        except* _Truncated:
            pass
        await abort_connection(scope)
        return True
