"""Records every request's query parameter names and headers in the journal as it arrives
(:class:`~as2sync.emulator.journal.Exchange`), so tests can check the names a client actually
sent: a removed query parameter is silently ignored by the server, and only such a record
shows that a client still sends one."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from as2sync.emulator.journal import Exchange, Journal


class Recording:
    """ASGI middleware: ``journal.log_exchange`` for each HTTP request, then ``app``."""

    def __init__(self, app: ASGIApp, journal: Journal, *, origin: str = "api") -> None:
        self.app = app
        self.journal = journal
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and not path.startswith("/_admin"):
            query = scope.get("query_string", b"").decode("latin-1")
            self.journal.log_exchange(
                Exchange(
                    method=scope["method"],
                    path=path,
                    query=tuple(parse_qsl(query, keep_blank_values=True)),
                    headers=tuple(
                        (k.decode("latin-1").lower(), v.decode("latin-1"))
                        for k, v in scope.get("headers", [])
                    ),
                    origin=self.origin,
                )
            )
        await self.app(scope, receive, send)
