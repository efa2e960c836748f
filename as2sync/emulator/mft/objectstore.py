"""The object store behind MFT Gateway's attachment and MDN URLs, on a listener of its own.

The real service hands out S3 presigned URLs, valid 10 minutes (seed 003 sections 3.3.4-5).
This one signs ``key + date + validity`` with HMAC-SHA256 under a per-process secret and
answers as S3 would:

- a request that carries an ``Authorization`` header: 400 ``InvalidArgument`` ("Only one auth
  mechanism allowed"), since the signature in the query is already one (a client must fetch
  these URLs without its API token);
- a bad signature: 403 ``SignatureDoesNotMatch``; an expired URL: 403 ``AccessDenied``
  ("Request has expired"), after which a client asks the API for fresh URLs;
- an unknown key: 404 ``NoSuchKey``;
- one ``Range: bytes=a-b`` is honoured (206 with ``Content-Range``), which is how a client
  learns an object's size without downloading it (a presigned GET URL is not valid for HEAD).

Errors are S3's XML, not the API's JSON. The clock is the emulator's (tests move it to expire
URLs). Its downloads are the fault endpoint ``attachment`` (the shared
:class:`~as2sync.emulator.endpoint.Endpoint`, without its token check): 5xx, drops, and
truncated bodies (a download endpoint, so ``truncate`` applies to it by default); the API's
``.../attachments`` and ``.../mdn`` calls that hand out the URLs are ``urls``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from as2sync.emulator.account import Account
from as2sync.emulator.endpoint import Endpoint
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.mft.boxes import Boxes

_DATE = "%Y%m%dT%H%M%SZ"
_RANGE = re.compile(r"^bytes=(?P<first>\d+)-(?P<last>\d*)$")


def _error(status: int, code: str, text: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{text}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _ranged(header: str | None, data: bytes, content_type: str) -> Response:
    """The body, or the one ``bytes=a-b`` range asked for (206 with ``Content-Range``), as
    S3 answers a ranged GET; another form of Range is ignored (200, the whole body)."""
    match = _RANGE.match(header or "")
    if match is None or not data:
        return Response(data, media_type=content_type)
    first = int(match["first"])
    last = min(int(match["last"]) if match["last"] else len(data) - 1, len(data) - 1)
    if first > last:
        return _error(416, "InvalidRange", "The requested range is not satisfiable")
    return Response(
        data[first : last + 1],
        status_code=206,
        media_type=content_type,
        headers={"Content-Range": f"bytes {first}-{last}/{len(data)}"},
    )


class Signer:
    """Presigns object URLs and checks them. ``validity`` is read at signing time."""

    def __init__(
        self, validity: Callable[[], float], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self._validity = validity
        self._clock = clock
        self.base_url = ""  # set once the listener has its port

    def _signature(self, key: str, date: str, expires: str) -> str:
        text = f"{key}\n{date}\n{expires}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def url(self, key: str) -> str:
        date = datetime.fromtimestamp(self._clock(), UTC).strftime(_DATE)
        expires = str(max(1, int(self._validity())))
        query = (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={date}&X-Amz-Expires={expires}"
            f"&X-Amz-Signature={self._signature(key, date, expires)}"
            "&X-Amz-SignedHeaders=host"
        )
        return f"{self.base_url}/{quote(key, safe='/')}?{query}"

    def problem(self, key: str, date: str, expires: str, signature: str) -> Response | None:
        """The S3 error for this signed request, None if it is valid now."""
        if not hmac.compare_digest(signature, self._signature(key, date, expires)):
            return _error(403, "SignatureDoesNotMatch", "The request signature does not match")
        try:
            signed_at = datetime.strptime(date, _DATE).replace(tzinfo=UTC).timestamp()
            valid_until = signed_at + int(expires)
        except ValueError:
            return _error(403, "AccessDenied", "Invalid date")
        if self._clock() >= valid_until:
            return _error(403, "AccessDenied", "Request has expired")
        return None


def object_store_app(
    boxes: Boxes, signer: Signer, account: Account, injector: FaultInjector
) -> ASGIApp:
    """The object store's ASGI app: ``GET /{key}`` with a presigned query."""

    async def get_object(request: Request) -> Response:
        if "authorization" in request.headers:
            return _error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
            )
        key = request.path_params["key"]
        q = request.query_params
        problem = signer.problem(
            key, q.get("X-Amz-Date", ""), q.get("X-Amz-Expires", "0"), q.get("X-Amz-Signature", "")
        )
        if problem is not None:
            return problem
        found = await run_in_threadpool(boxes.object, key)
        if found is None:
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        content_type, data = found
        return _ranged(request.headers.get("range"), data, content_type)

    endpoint = Endpoint("attachment", get_object, account, injector, auth=False)
    return Starlette(routes=[Route("/{key:path}", endpoint, methods=["GET"])])
