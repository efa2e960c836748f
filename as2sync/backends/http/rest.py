"""The request machinery both REST gateways' clients share: one place for how a call is sent.

Every API request goes the same way (:meth:`RestCaller.attempt`):

1. a token from the client's token source (login, or a renewal, when due);
2. a slot from the shared :class:`~.ratelimit.RateLimiter`, at the request's priority, held
   until the response headers arrive (by then the gateway has counted the request);
3. the request, sent with ``stream=True`` so bodies flow between disk and socket, with
   ``Authorization: <token>`` (no scheme);
4. a refused token (the API's statuses for it) invalidates it and the request is repeated
   once with a new one (a refusal before acting, so this is safe even for a send);
5. a 429/503 pauses the limiter for Retry-After (or a whole window);
6. every failure is translated by the API's ``from_status`` and the shared
   :func:`~as2sync.backends.http.errors_map.from_exception`.

Idempotent requests go through the :class:`~.retrying.RetryPolicy` (:meth:`RestCaller.call`);
a send never does (its unknown outcome is the caller's to reconcile). What differs between
the APIs (paths, parameters, headers, parsing, the error table, how tokens are obtained) stays
in each client.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from as2sync import __version__
from as2sync.backends.http.errors_map import from_exception, retry_after
from as2sync.backends.http.ratelimit import Priority, RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.config.loader import is_loopback
from as2sync.errors import (
    ConfigError,
    ConfigProblem,
    GatewayError,
    ProtocolError,
    TransientError,
    UnknownOutcome,
)
from as2sync.log import register_secret

T = TypeVar("T")
Observer = Callable[[str, int | None, float], None]
BodyFactory = Callable[[contextlib.ExitStack], dict[str, Any]]

DOWNLOAD_HEADERS: Mapping[str, str] = {"Accept-Encoding": "identity"}
"""Zips and EDI files gain nothing from gzip, and identity lets us check Content-Length."""


class StatusMap(Protocol):
    """An API's ``errors_map.from_status``."""

    def __call__(
        self, response: httpx.Response, *, endpoint: str, idempotent: bool, authorize: bool = ...
    ) -> GatewayError: ...


class TokenSource(Protocol):
    """Hands out the current token (logging in when due) and forgets a refused one."""

    def token(self) -> str: ...

    def invalidate(self, stale: str) -> None: ...


@dataclass(frozen=True)
class Call:
    """One logical request. ``body`` builds fresh content for every attempt."""

    endpoint: str
    method: str
    path: tuple[str, ...]
    params: Mapping[str, str] = field(default_factory=dict)
    json: object = None
    body: BodyFactory | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = True
    priority: Priority | None = None  # None: the caller's context priority
    authorize: bool = False  # a login or session refresh: sent without a token
    credentials: bool = False  # carries username and password: a refusal means they are wrong


class _Unauthorized(Exception):
    """Internal signal: the token was refused. Never leaves this module."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(str(error))
        self.error = error


class RestCaller:
    """Sends :class:`Call`\\ s to one API (thread-safe).

    ``tokens`` obtains and forgets tokens; ``from_status`` is the API's error table and
    ``token_refused`` the statuses meaning "this token is refused". ``log`` is the client's
    logger (its events keep their logger name). ``observer(endpoint, status, seconds)`` is
    called once per HTTP request, with ``status`` None when no response arrived. ``verify`` is
    True or the path of an extra CA bundle. ``stop``: once set no request starts any more and
    back-offs and pauses end. Raises ``ConfigError`` for a base URL that is not https (plain
    http only for loopback hosts, i.e. the emulator).
    """

    def __init__(
        self,
        base_url: str,
        *,
        tokens: TokenSource,
        from_status: StatusMap,
        token_refused: Collection[int],
        log: Any,
        limiter: RateLimiter,
        retry: RetryPolicy,
        timeout: float,
        transport: httpx.BaseTransport | None,
        verify: bool | str,
        observer: Observer | None,
        stop: threading.Event | None,
    ) -> None:
        self.base = checked_base_url(base_url)
        self._tokens = tokens
        self._from_status = from_status
        self._token_refused = frozenset(token_refused)
        self._log = log
        self._limiter = limiter
        self.retry = retry
        self._observer = observer
        self.stop = stop
        self.http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            verify=_ssl_context(verify),
            follow_redirects=False,
            headers={"User-Agent": f"as2sync/{__version__}"},
        )

    def close(self) -> None:
        self.http.close()

    def call(self, call: Call, handle: Callable[[httpx.Response], T]) -> T:
        """An idempotent request through the retry policy."""
        return self.retry.call(
            lambda: self.attempt(call, handle),
            endpoint=call.endpoint,
            limiter=self._limiter,
            stop=self.stop,
        )

    def attempt(self, call: Call, handle: Callable[[httpx.Response], T]) -> T:
        """One attempt, including the single repeat after the token was refused."""
        if call.authorize:
            return self._once(call, handle, None)
        for repeat in (False, True):
            token = self._token_for(call)
            try:
                return self._once(call, handle, token)
            except _Unauthorized as refused:
                if repeat:
                    raise refused.error from None
                self._tokens.invalidate(token)
                self._log.info("gateway.token_refused", endpoint=call.endpoint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_for(self, call: Call) -> str:
        try:
            return self._tokens.token()
        except ProtocolError as exc:
            if call.idempotent:
                raise
            # Nothing was sent yet: for the send's contract this is transient, not unknown.
            raise TransientError(f"{call.endpoint}: login failed: {exc}") from exc

    def _once(self, call: Call, handle: Callable[[httpx.Response], T], token: str | None) -> T:
        with contextlib.ExitStack() as stack:
            kwargs = call.body(stack) if call.body is not None else {}
            headers: dict[str, str] = {**call.headers, **kwargs.pop("headers", {})}
            if token is not None:
                headers["Authorization"] = token  # the bare token: no scheme, per both specs
            if call.json is not None:
                kwargs["json"] = call.json
            request = self.http.build_request(
                call.method, self._url(call.path), params=call.params, headers=headers, **kwargs
            )
            # The slot is held until the response headers are in: by then the gateway has
            # counted the request (see the window rule in ratelimit).
            with self._limiter.slot(call.priority, stop=self.stop):
                started = time.monotonic()
                try:
                    response = self.http.send(request, stream=True)
                except (httpx.HTTPError, OSError) as exc:
                    self.observe(call.endpoint, call.method, None, started)
                    raise from_exception(
                        exc, endpoint=call.endpoint, idempotent=call.idempotent
                    ) from exc
            try:
                return self._handle(call, response, handle)
            finally:
                # Closing a response we are done with must not turn a result (a message ID!)
                # into an error.
                with contextlib.suppress(httpx.HTTPError, OSError):
                    response.close()
                self.observe(call.endpoint, call.method, response.status_code, started)

    def _handle(
        self, call: Call, response: httpx.Response, handle: Callable[[httpx.Response], T]
    ) -> T:
        status = response.status_code
        if status in self._token_refused and not call.authorize:
            raise _Unauthorized(
                self._from_status(response, endpoint=call.endpoint, idempotent=call.idempotent)
            )
        if status in (429, 503):
            self._limiter.penalise(retry_after(response))
        if not 200 <= status < 300:
            raise self._from_status(
                response,
                endpoint=call.endpoint,
                idempotent=call.idempotent,
                authorize=call.credentials,
            )
        try:
            return handle(response)
        except (httpx.HTTPError, OSError) as exc:
            raise from_exception(exc, endpoint=call.endpoint, idempotent=call.idempotent) from exc
        except ProtocolError as exc:
            if call.idempotent:
                raise
            # A 2xx to a send means it was accepted, whatever else is wrong with the answer.
            raise UnknownOutcome(f"{call.endpoint}: accepted, but {exc}", status=status) from exc

    def _url(self, segments: tuple[str, ...]) -> str:
        # Message IDs hold <, >, @, +, / ...: every segment is fully percent-encoded, and httpx
        # keeps the escapes as they are.
        return self.base + "/" + "/".join(quote(s, safe="") for s in segments)

    def observe(self, endpoint: str, method: str, status: int | None, started: float) -> None:
        """Log and report one finished HTTP request (``status`` None: no response)."""
        seconds = time.monotonic() - started
        self._log.debug(
            "gateway.request",
            endpoint=endpoint,
            method=method,
            status=status,
            seconds=round(seconds, 4),
        )
        if self._observer is None:
            return
        try:
            self._observer(endpoint, status, seconds)
        except Exception as exc:  # a metrics bug must never change the outcome of a request
            self._log.warning("gateway.observer_failed", error=type(exc).__name__, detail=str(exc))


class RestClient:
    """What every REST gateway client is made of: the options they all take, the credentials,
    the :class:`RestCaller` and closing. A subclass names its API: ``from_status``,
    ``token_refused``, ``log``, ``default_limit`` and its token source (:meth:`_token_source`).

    ``limiter`` should be the process-wide one; without one the client gets a private
    ``default_limit``. ``clock`` is wall-clock epoch seconds (token expiry);
    ``observer(endpoint, status, seconds)`` is called once per HTTP request, with ``status``
    None when no response arrived. ``verify`` is True or the path of an extra CA bundle.
    ``stop`` is the process's stop event: once it is set no request starts any more
    (``ShuttingDown``) and retry back-offs and rate-limit pauses end; a request already sent
    may finish. Raises ``ConfigError`` for a base URL that is not https (plain http only for
    loopback hosts, i.e. the emulator).
    """

    from_status: ClassVar[StatusMap]
    token_refused: ClassVar[frozenset[int]]
    log: ClassVar[Any]
    default_limit: ClassVar[tuple[int, float]] = (50, 10.0)

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        limiter: RateLimiter | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
        token_renew_seconds: float = 300.0,
        stop: threading.Event | None = None,
    ) -> None:
        self._limiter = limiter if limiter is not None else RateLimiter(*self.default_limit)
        self._rest = RestCaller(
            base_url,
            # Built before the URL is checked: a token source only keeps what it is given.
            tokens=self._token_source(clock, token_renew_seconds),
            from_status=type(self).from_status,
            token_refused=self.token_refused,
            log=self.log,
            limiter=self._limiter,
            retry=retry if retry is not None else RetryPolicy(),
            timeout=timeout,
            transport=transport,
            verify=verify,
            observer=observer,
            stop=stop,
        )
        self._username = username
        self._password = password
        register_secret(password)

    def _token_source(self, clock: Callable[[], float], renew_seconds: float) -> TokenSource:
        """The API's token source (it logs in through this client when due)."""
        raise NotImplementedError

    def _login_call(self) -> Call:
        """POST /authorize with the credentials: the same login on both APIs."""
        return Call(
            "authorize",
            "POST",
            ("authorize",),
            json={"username": self._username, "password": self._password},
            priority=Priority.HIGH,  # every other request waits for it
            authorize=True,
            credentials=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._rest.close()


def accepted_without_id(response: httpx.Response, where: str) -> UnknownOutcome:
    """The error for a 2xx to a send whose answer names no message ID (``where`` says what
    was looked at): the message may well have been accepted."""
    return UnknownOutcome(
        f"send: HTTP {response.status_code} accepted it, but {where}",
        status=response.status_code,
    )


def checked_base_url(url: str) -> str:
    """``url`` without a trailing slash; ConfigError unless https (http: loopback only)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError([ConfigProblem("gateway.url", f"not an http(s) URL: {url!r}")])
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            [ConfigProblem("gateway.url", "plain http:// is only allowed for loopback hosts")]
        )
    return url.rstrip("/")


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """``True``: the default trust store; a path: that CA bundle in addition to it."""
    if isinstance(verify, bool):
        return verify
    context = httpx.create_ssl_context()
    context.load_verify_locations(cafile=verify)
    return context


def drain(response: httpx.Response) -> None:
    """A handler for answers whose body says nothing: read so the connection can be reused."""
    response.read()
