"""The AS2 Gateway REST API v1 client: the
:class:`~as2sync.backends.as2gateway.model.Gateway` over HTTP.

Every HTTP request goes the same way (:meth:`As2GatewayClient._attempt`):

1. a token from the :class:`TokenManager` (login through POST /authorize when due);
2. a slot from the shared :class:`RateLimiter`, at the request's priority, held until the
   response headers arrive;
3. the request, sent with ``stream=True`` so bodies flow between disk and socket;
4. a 401 invalidates the token and the request is repeated once with a new one (a 401 is a
   refusal before acting, so this is safe even for a send);
5. a 429/503 pauses the limiter for Retry-After (or a whole window);
6. every failure is translated by :mod:`.errors_map`, the only place that maps
   httpx exceptions and statuses.

Idempotent requests are wrapped in the :class:`RetryPolicy`; a send (POST message) never is.

Choices where the spec leaves room:

* ``partnerType`` is always sent explicitly (also ``production``), so a change of the gateway's
  default cannot redirect traffic.
* One file whose name is printable ASCII goes as a raw body with a ``Name`` header; several
  files, or a name that an HTTP header cannot carry (non-ASCII, control characters), go as
  ``multipart/form-data`` with one ``file`` part each (the filename is UTF-8 in the part header).
* Redirects are never followed (a 307 to another URL would re-send a message behind our back).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import structlog

from as2sync import __version__
from as2sync.backends.as2gateway.auth import Token, TokenManager, parse_token
from as2sync.backends.as2gateway.errors_map import (
    from_exception,
    from_status,
    json_body,
    retry_after,
)
from as2sync.backends.as2gateway.model import (
    BatchDownload,
    Digest,
    Folder,
    ListQuery,
    MessageInfo,
    OutboundFile,
    Page,
    Partner,
    PartnerType,
    Station,
    normalise_message_id,
)
from as2sync.backends.as2gateway.parsing import (
    message_id_from_link,
    parse_message,
    parse_page,
    parse_partners,
    parse_stations,
    parse_truncation,
)
from as2sync.backends.http.ratelimit import Priority, RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.http.transfer import (
    digest_of,
    header_safe,
    multipart_body,
    raw_body,
    stream_to,
)
from as2sync.config.loader import is_loopback
from as2sync.errors import (
    ConfigError,
    ConfigProblem,
    GatewayError,
    InvalidRequest,
    NotFound,
    ProtocolError,
    TransientError,
    UnknownOutcome,
)
from as2sync.log import register_secret

log = structlog.get_logger(__name__)

T = TypeVar("T")
Observer = Callable[[str, int | None, float], None]
BodyFactory = Callable[[contextlib.ExitStack], dict[str, Any]]

MAX_FILES: Final = 10
MAX_BATCH: Final = 100
# Zips and EDI files gain nothing from gzip, and identity lets us check Content-Length.
_DOWNLOAD_HEADERS: Final = {"Accept-Encoding": "identity"}


@dataclass(frozen=True)
class _Call:
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
    authorize: bool = False  # the login request itself: no token, 401 means bad credentials


class _Unauthorized(Exception):
    """Internal signal: the token was refused. Never leaves this module."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(str(error))
        self.error = error


class As2GatewayClient:
    """Thread-safe client of the AS2 Gateway v1 API (one instance per process is enough).

    ``limiter`` should be the process-wide one (:func:`~.http.ratelimit.shared_limiter`,
    as the factory does); without one the client gets a private 50-per-10-s limiter.
    ``clock`` is wall-clock epoch seconds (token expiry); ``observer(endpoint, status, seconds)``
    is called once per HTTP request, with ``status`` None when no response arrived.
    ``verify`` is True or the path of an extra CA bundle. ``stop`` is the process's stop event:
    once it is set no request starts any more (``ShuttingDown``) and retry back-offs and
    rate-limit pauses end; a request already sent may finish. Raises ``ConfigError`` for a base
    URL that is not https (plain http only for loopback hosts, i.e. the emulator).
    """

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
        self._base = _checked_base_url(base_url)
        self._username = username
        self._password = password
        register_secret(password)
        self._limiter = limiter if limiter is not None else RateLimiter()
        self._retry = retry if retry is not None else RetryPolicy()
        self._clock = clock
        self._observer = observer
        self._renew_seconds = token_renew_seconds
        self._stop = stop
        self._auth = TokenManager(self._login, clock=clock)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            verify=_ssl_context(verify),
            follow_redirects=False,
            headers={"User-Agent": f"as2sync/{__version__}"},
        )

    def __enter__(self) -> As2GatewayClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- sending --------------------------------------------------------------------------

    def submit(
        self,
        station: str,
        partner: str,
        files: Sequence[OutboundFile],
        *,
        subject: str | None = None,
        partner_type: PartnerType = PartnerType.PRODUCTION,
    ) -> str:
        """Enqueue one message; see :meth:`Gateway.submit` for the error contract.

        Raises ``InvalidRequest`` for no files, more than 10, empty or duplicate names (before
        anything is sent: the only refusal that does not come from the gateway), and
        ``StorageError`` when a file cannot be opened (nothing was sent then). Exactly each
        file's ``size`` bytes are sent; ``ContentChanged`` when they are not the recorded
        bytes any more: before the request (``partial`` False, nothing sent) or during the
        upload, which is then cut off before its last byte (``partial`` True).

        Crash safety is the caller's: if the process dies while this call is in flight, nobody
        knows whether the gateway accepted the message, so the caller must record the attempt
        durably *before* calling and reconcile it after a restart (the returned ID exists only
        in memory until the caller stores it).
        """
        files = list(files)
        if not 1 <= len(files) <= MAX_FILES:
            raise InvalidRequest(f"a message carries 1 to {MAX_FILES} files, not {len(files)}")
        if not all(f.name for f in files):
            raise InvalidRequest("every file needs a name")
        if len({f.name for f in files}) != len(files):
            raise InvalidRequest("file names within one message must be unique")
        params = {"partnerType": str(partner_type)}
        if subject:
            params["subject"] = subject
        raw = len(files) == 1 and header_safe(files[0].name)
        call = _Call(
            endpoint="send",
            method="POST",
            path=("message", station, partner),
            params=params,
            body=(lambda s: raw_body(s, files[0])) if raw else (lambda s: multipart_body(s, files)),
            idempotent=False,
            priority=Priority.HIGH,
        )
        return self._attempt(call, _accepted_message_id)

    # -- reading --------------------------------------------------------------------------

    def list_messages(self, folder: Folder, query: ListQuery) -> Page:
        """One page. For QUEUED the API has a single ``query`` filter: the most selective of
        message ID, partner, station is sent and the others are applied here, so such a page
        may hold fewer records than ``page_length`` while ``total`` is the gateway's count."""
        if not 1 <= query.page_length <= 100:
            raise InvalidRequest("page_length must be 1..100")
        if query.page < 0:
            raise InvalidRequest("page must be >= 0")
        params = {
            "sortCol": "persistedTimestamp",
            "sortDir": "asc" if query.ascending else "desc",
            "partnerType": str(query.partner_type),
            "pageOffset": str(query.page),
            "pageLength": str(query.page_length),
        }
        if folder is Folder.QUEUED:
            single = query.message_id or query.partner or query.station
            if single:
                params["query"] = single
        else:
            for key, value in (
                ("stationAS2Id", query.station),
                ("partnerAS2Id", query.partner),
                ("as2MessageId", query.message_id),
            ):
                if value:
                    params[key] = value
        if folder is Folder.RECEIVED and query.unread_only:
            params["unreadOnly"] = "true"
        call = _Call(f"list_{folder}", "GET", ("message", str(folder)), params)
        page = self._call(call, lambda r: parse_page(json_body(r, endpoint=call.endpoint)))
        if folder is Folder.QUEUED:
            page = Page(page.total, tuple(m for m in page.records if _matches(m, query)))
        return page

    def get_received(self, message_id: str, *, mark_read: bool = False) -> MessageInfo:
        call = _Call(
            "get_received",
            "GET",
            ("message", "received", message_id),
            {"markAsRead": "true"} if mark_read else {},
        )
        return self._call(call, lambda r: parse_message(json_body(r, endpoint=call.endpoint)))

    def stations(self) -> list[Station]:
        call = _Call("stations", "GET", ("station",))
        return self._call(call, lambda r: parse_stations(json_body(r, endpoint=call.endpoint)))

    def partners(self) -> list[Partner]:
        call = _Call("partners", "GET", ("partner",))
        return self._call(call, lambda r: parse_partners(json_body(r, endpoint=call.endpoint)))

    # -- downloads ------------------------------------------------------------------------

    def download_batch(
        self, message_ids: Sequence[str], dest: Path, *, mark_read: bool
    ) -> BatchDownload:
        """Stream the batch zip into ``dest`` (created or truncated; removed on failure).

        200 is a complete zip; 206 is truncated and must carry ``X-Batch-Truncation-Index``
        (else ``ProtocolError``). A body shorter than its Content-Length is a ``TransientError``.
        """
        ids = list(message_ids)
        if not 1 <= len(ids) <= MAX_BATCH:
            raise InvalidRequest(f"a batch holds 1 to {MAX_BATCH} message IDs, not {len(ids)}")
        call = _Call(
            "batch",
            "POST",
            ("message", "received", "batch", "attachments"),
            {"markAsRead": "true"} if mark_read else {},
            json=ids,
            headers=_DOWNLOAD_HEADERS,
        )

        def handle(response: httpx.Response) -> BatchDownload:
            truncation = None
            if response.status_code == 206:
                header = response.headers.get("X-Batch-Truncation-Index")
                truncation = parse_truncation(header)
                if truncation is None:
                    raise ProtocolError(
                        f"batch: 206 without a valid X-Batch-Truncation-Index ({header!r})",
                        status=206,
                    )
            elif response.status_code != 200:
                raise ProtocolError(f"batch: unexpected HTTP {response.status_code}")
            size = stream_to(response, dest, call.endpoint)
            return BatchDownload(zip_path=dest, truncation=truncation, size=size)

        return self._call(call, handle, cleanup=dest)

    def download_attachment(
        self, message_id: str, index: int, dest: Path, *, mark_read: bool = False
    ) -> int:
        """Stream attachment ``index`` of a received message into ``dest``; its size."""
        if index < 0:
            raise InvalidRequest("attachment index must be >= 0")
        call = _Call(
            "attachment",
            "GET",
            ("message", "received", message_id, "attachments", str(index)),
            {"markAsRead": "true"} if mark_read else {},
            headers=_DOWNLOAD_HEADERS,
        )
        return self._call(call, lambda r: stream_to(r, dest, call.endpoint), cleanup=dest)

    def sent_attachment_digest(self, message_id: str, index: int) -> Digest:
        """SHA-256 and size of attachment ``index`` of a sent message (spec 7.2), hashed as it
        streams in: reconciliation compares it with what the ledger claimed."""
        if index < 0:
            raise InvalidRequest("attachment index must be >= 0")
        call = _Call(
            "sent_attachment",
            "GET",
            ("message", "sent", message_id, "attachments", str(index)),
            headers=_DOWNLOAD_HEADERS,
        )
        return self._call(call, lambda r: digest_of(r, call.endpoint))

    # -- marking and deleting ---------------------------------------------------------------

    def mark_read(self, message_id: str) -> None:
        # The spec has no dedicated endpoint: retrieving with markAsRead=true marks it.
        call = _Call(
            "mark_read", "GET", ("message", "received", message_id), {"markAsRead": "true"}
        )
        self._call(call, _drain)

    def mark_unread(self, message_id: str) -> None:
        call = _Call("mark_unread", "POST", ("message", "received", message_id, "markUnread"))
        self._call(call, _drain)

    def delete(self, folder: Folder, message_ids: Sequence[str]) -> None:
        """Bulk DELETE /message/<folder>; a 404 (some ID already gone) counts as done."""
        ids = list(message_ids)
        if not ids:
            return
        if len(ids) > MAX_BATCH:
            raise InvalidRequest(f"at most {MAX_BATCH} IDs per delete, not {len(ids)}")
        call = _Call("delete", "DELETE", ("message", str(folder)), json=ids)
        try:
            self._call(call, _drain)
        except NotFound as exc:
            log.info(
                "gateway.delete_not_found", folder=str(folder), count=len(ids), detail=str(exc)
            )

    # -- the request pipeline -----------------------------------------------------------------

    def _call(
        self, call: _Call, handle: Callable[[httpx.Response], T], *, cleanup: Path | None = None
    ) -> T:
        """An idempotent request through the retry policy; ``cleanup`` is removed on failure."""
        try:
            return self._retry.call(
                lambda: self._attempt(call, handle),
                endpoint=call.endpoint,
                limiter=self._limiter,
                stop=self._stop,
            )
        except BaseException:
            if cleanup is not None:
                with contextlib.suppress(OSError):
                    cleanup.unlink(missing_ok=True)
            raise

    def _attempt(self, call: _Call, handle: Callable[[httpx.Response], T]) -> T:
        """One attempt, including the single repeat after a 401."""
        if call.authorize:
            return self._once(call, handle, None)
        for repeat in (False, True):
            token = self._token_for(call)
            try:
                return self._once(call, handle, token)
            except _Unauthorized as refused:
                if repeat:
                    raise refused.error from None
                self._auth.invalidate(token)
                log.info("gateway.token_refused", endpoint=call.endpoint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_for(self, call: _Call) -> str:
        try:
            return self._auth.token()
        except ProtocolError as exc:
            if call.idempotent:
                raise
            # Nothing was sent yet: for the send's contract this is transient, not unknown.
            raise TransientError(f"{call.endpoint}: login failed: {exc}") from exc

    def _once(self, call: _Call, handle: Callable[[httpx.Response], T], token: str | None) -> T:
        with contextlib.ExitStack() as stack:
            kwargs = call.body(stack) if call.body is not None else {}
            headers: dict[str, str] = {**call.headers, **kwargs.pop("headers", {})}
            if token is not None:
                headers["Authorization"] = token  # no scheme, per the spec
            if call.json is not None:
                kwargs["json"] = call.json
            request = self._http.build_request(
                call.method, self._url(call.path), params=call.params, headers=headers, **kwargs
            )
            # The slot is held until the response headers are in: by then the gateway has
            # counted the request (see the window rule in ratelimit).
            with self._limiter.slot(call.priority, stop=self._stop):
                started = time.monotonic()
                try:
                    response = self._http.send(request, stream=True)
                except (httpx.HTTPError, OSError) as exc:
                    self._observe(call, None, started)
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
                self._observe(call, response.status_code, started)

    def _handle(
        self, call: _Call, response: httpx.Response, handle: Callable[[httpx.Response], T]
    ) -> T:
        status = response.status_code
        if status == 401 and not call.authorize:
            raise _Unauthorized(
                from_status(response, endpoint=call.endpoint, idempotent=call.idempotent)
            )
        if status in (429, 503):
            self._limiter.penalise(retry_after(response))
        if not 200 <= status < 300:
            raise from_status(
                response,
                endpoint=call.endpoint,
                idempotent=call.idempotent,
                authorize=call.authorize,
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

    def _login(self) -> Token:
        call = _Call(
            "authorize",
            "POST",
            ("authorize",),
            json={"username": self._username, "password": self._password},
            priority=Priority.HIGH,  # every other request waits for it
            authorize=True,
        )
        return self._attempt(
            call,
            lambda r: parse_token(
                json_body(r, endpoint="authorize"),
                now=self._clock(),
                renew_seconds=self._renew_seconds,
            ),
        )

    def _url(self, segments: tuple[str, ...]) -> str:
        # Message IDs hold <, >, @, +, / ...: every segment is fully percent-encoded, and httpx
        # keeps the escapes as they are.
        return self._base + "/" + "/".join(quote(s, safe="") for s in segments)

    def _observe(self, call: _Call, status: int | None, started: float) -> None:
        """Log and report one finished HTTP request (``status`` None: no response)."""
        seconds = time.monotonic() - started
        log.debug(
            "gateway.request",
            endpoint=call.endpoint,
            method=call.method,
            status=status,
            seconds=round(seconds, 4),
        )
        if self._observer is None:
            return
        try:
            self._observer(call.endpoint, status, seconds)
        except Exception as exc:  # a metrics bug must never change the outcome of a request
            log.warning("gateway.observer_failed", error=type(exc).__name__, detail=str(exc))


# -- helpers ---------------------------------------------------------------------------------


def _checked_base_url(url: str) -> str:
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


def _accepted_message_id(response: httpx.Response) -> str:
    link = response.headers.get("Link")
    message_id = message_id_from_link(link)
    # The ID is in the header; the body is only read so the connection can be reused.
    with contextlib.suppress(httpx.HTTPError):
        response.read()
    if message_id is None:
        raise UnknownOutcome(
            f"send: HTTP {response.status_code} accepted it, but the Link header "
            f"({link!r}) holds no message ID",
            status=response.status_code,
        )
    return message_id


def _drain(response: httpx.Response) -> None:
    response.read()


def _matches(info: MessageInfo, query: ListQuery) -> bool:
    sides = (info.sender_id, info.receiver_id)
    if query.message_id and normalise_message_id(info.message_id) != normalise_message_id(
        query.message_id
    ):
        return False
    if query.partner and query.partner not in sides:
        return False
    return not (query.station and query.station not in sides)
