"""The one place where MFT Gateway's statuses become :mod:`as2sync.errors`.

The rules shared with every REST backend — transport errors, 429/503 and Retry-After, 5xx,
404, the ``{"message"}`` text, scrubbing secrets — are
:mod:`as2sync.backends.http.errors_map`'s, used as they are. What differs here:

========================================  ===================================================
API answer                                error
========================================  ===================================================
401/403 (any call but the login)          the token was refused: the client renews and
                                          repeats once, then :class:`AuthError`
401/403/400 from ``/authorize``           :class:`AuthError` (check username and password)
422 from submit                           :class:`PermanentError`: unknown station or partner
413 from submit                           :class:`PermanentError`: the message is too large
500 from ``/refresh-session``             handled by :mod:`.session` (log in again)
========================================  ===================================================

The object store (signed attachment URLs) answers S3's way: 403 is an expired (or otherwise
refused) URL, for which the client asks the API for fresh ones (:class:`UrlRefused`); 400
means the request carried a second credential, a client bug (:class:`ProtocolError`); 404 is
:class:`NotFound`; 5xx and 429 are transient.
"""

from __future__ import annotations

import httpx

from as2sync.backends.http.errors_map import (
    from_exception,
    gateway_message,
    json_body,
    retry_after,
)
from as2sync.backends.http.errors_map import (
    from_status as rest_from_status,
)
from as2sync.errors import (
    AuthError,
    GatewayError,
    PermanentError,
    ProtocolError,
    RateLimited,
)

TOKEN_REFUSED = frozenset({401, 403})

__all__ = ["from_exception", "from_status", "json_body", "object_error", "retry_after"]


class UrlRefused(PermanentError):
    """The object store refused a signed URL (403: most likely expired). Repeating the same
    URL will not help (so no retry policy repeats it): the client asks for fresh URLs."""


def from_status(
    response: httpx.Response, *, endpoint: str, idempotent: bool, authorize: bool = False
) -> GatewayError:
    """The error for an API response whose status is not 2xx (see the module table)."""
    status = response.status_code
    if authorize and status in (400, 401, 403):
        detail = gateway_message(response)
        return AuthError(
            f"{endpoint}: HTTP {status}: {detail} (check gateway.username and the password)",
            status=status,
        )
    if status in TOKEN_REFUSED:
        detail = gateway_message(response)
        return AuthError(
            f"{endpoint}: HTTP {status}: {detail} (a renewed token was refused too)", status=status
        )
    if status == 422:
        detail = gateway_message(response)
        return PermanentError(
            f"{endpoint}: HTTP 422: {detail} (unknown station or partner on MFT Gateway)",
            status=status,
        )
    if status == 413:
        detail = gateway_message(response)
        return PermanentError(
            f"{endpoint}: HTTP 413: {detail} (the message is larger than MFT Gateway accepts)",
            status=status,
        )
    return rest_from_status(response, endpoint=endpoint, idempotent=idempotent)


def object_error(response: httpx.Response, *, endpoint: str) -> GatewayError:
    """The error for an object-store download whose status is not 2xx."""
    status = response.status_code
    if status not in (400, 403, 429, 503):
        return rest_from_status(response, endpoint=endpoint, idempotent=True)
    # The body can be read once: only for the statuses decided here.
    detail = gateway_message(response)
    what = f"{endpoint}: object store HTTP {status}" + (f": {detail}" if detail else "")
    if status == 403:
        return UrlRefused(what, status=status)
    if status == 400:
        return ProtocolError(what, status=status)
    return RateLimited(what, status=status, retry_after=retry_after(response))
