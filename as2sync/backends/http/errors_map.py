"""The one place where httpx exceptions and HTTP statuses become :mod:`as2sync.errors`.

The question every rule answers is "may the gateway have acted on this request?":

==============================  ==========================  ================================
what happened                   idempotent request          send (POST message)
==============================  ==========================  ================================
ConnectError, ConnectTimeout,   TransientError              TransientError (never sent)
PoolTimeout
any other transport error       TransientError              UnknownOutcome (may have arrived)
(ReadTimeout, WriteError, ...)
429                             RateLimited                 RateLimited (refused first)
503                             RateLimited(status=503)     UnknownOutcome
other 5xx, 408                  TransientError              UnknownOutcome
401                             renewed and repeated once by the client, then AuthError
400/401/403 from /authorize     AuthError                   -
404                             NotFound                    NotFound
other 3xx/4xx                   PermanentError              PermanentError
==============================  ==========================  ================================

3xx: the client never follows redirects (the spec's http->https 307 would re-send a message to
another URL behind our back); a redirect means ``gateway.url`` is wrong, which no retry fixes.

Messages carry the gateway's ``{"message"}`` text, passed through :func:`as2sync.log.scrub`, and
never the request body or headers, so neither the password nor the token can end up in one.
"""

from __future__ import annotations

import email.utils
import json
import time

import httpx

from as2sync.errors import (
    AuthError,
    GatewayError,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)
from as2sync.log import scrub

# Transport errors raised before a single byte of the request left this host.
_NEVER_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Errors in how we built the request; the gateway saw nothing and a repeat will not help.
_OUR_FAULT: tuple[type[Exception], ...] = (httpx.UnsupportedProtocol, httpx.InvalidURL)

MAX_RETRY_AFTER = 600.0  # a bogus Retry-After must not stall the daemon for days
_ERROR_BODY_LIMIT = 16 * 1024
_MESSAGE_LIMIT = 300


def from_exception(exc: Exception, *, endpoint: str, idempotent: bool) -> GatewayError:
    """Classify an exception raised by httpx while sending or reading a response."""
    kind = type(exc).__name__
    if isinstance(exc, _OUR_FAULT):
        return PermanentError(f"{endpoint}: invalid request ({kind}): {scrub(str(exc))}")
    if isinstance(exc, _NEVER_SENT):
        return TransientError(f"{endpoint}: gateway not reachable ({kind}): {scrub(str(exc))}")
    if isinstance(exc, httpx.TooManyRedirects | httpx.DecodingError) and idempotent:
        return ProtocolError(f"{endpoint}: unreadable response ({kind}): {scrub(str(exc))}")
    if idempotent:
        return TransientError(f"{endpoint}: request failed ({kind}): {scrub(str(exc))}")
    return UnknownOutcome(
        f"{endpoint}: the request may have reached the gateway ({kind}): {scrub(str(exc))}"
    )


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the gateway asked us to wait (delta-seconds or HTTP-date), capped; None if unset."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is GMT by definition
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def gateway_message(response: httpx.Response) -> str:
    """The gateway's ``{"message": ...}`` text of an error response, else a short excerpt.

    Reads at most a few KB, so a huge error page cannot fill memory.
    """
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass  # the status is what matters; an unreadable error body is no extra error
    text = bytes(body).decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        text = payload["message"]
    text = " ".join(text.split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "..."
    return scrub(text)


def from_status(
    response: httpx.Response, *, endpoint: str, idempotent: bool, authorize: bool = False
) -> GatewayError:
    """The error for a response whose status is not 2xx.

    ``authorize`` marks the login request itself, where a refusal means bad credentials.
    401 on any other request is handled by the client (renew once, repeat) before this is asked,
    so here it means the renewed token was refused too.
    """
    status = response.status_code
    detail = gateway_message(response)
    what = f"{endpoint}: HTTP {status}" + (f": {detail}" if detail else "")
    if authorize and status in (400, 401, 403):
        return AuthError(f"{what} (check gateway.username and the password)", status=status)
    if status == 401:
        return AuthError(f"{what} (a renewed token was refused too)", status=status)
    if status == 429:
        # Refused before acting, even for a send: the request was rate limited, not processed.
        return RateLimited(what, status=status, retry_after=retry_after(response))
    if status >= 500 or status == 408:
        if not idempotent:
            return UnknownOutcome(f"{what} (the gateway may have accepted it)", status=status)
        if status == 503:
            return RateLimited(what, status=status, retry_after=retry_after(response))
        return TransientError(what, status=status)
    if status == 404:
        return NotFound(what, status=status)
    if 300 <= status < 400:
        where = response.headers.get("Location", "?")
        return PermanentError(f"{what}: redirected to {where}; check gateway.url", status=status)
    return PermanentError(what, status=status)


def json_body(response: httpx.Response, *, endpoint: str) -> object:
    """The parsed JSON of a 2xx response; ProtocolError if it is not JSON."""
    raw = response.read()  # httpx errors here are translated by the caller
    try:
        return json.loads(raw)
    except ValueError as exc:
        excerpt = scrub(raw[:80].decode("utf-8", errors="replace"))
        raise ProtocolError(
            f"{endpoint}: response is not JSON: {excerpt!r}", status=response.status_code
        ) from exc
