"""The AS2 Gateway REST API v1 client: the
:class:`~as2sync.backends.as2gateway.model.Gateway` over HTTP.

Every HTTP request goes the same way (:class:`~as2sync.backends.http.rest.RestCaller`, shared
with the MFT Gateway client; what is v1's is named here):

1. a token from the :class:`TokenManager` (login through POST /authorize when due);
2. a slot from the shared :class:`RateLimiter`, at the request's priority, held until the
   response headers arrive;
3. the request, sent with ``stream=True`` so bodies flow between disk and socket;
4. a 401 invalidates the token and the request is repeated once with a new one (a 401 is a
   refusal before acting, so this is safe even for a send);
5. a 429/503 pauses the limiter for Retry-After (or a whole window);
6. every failure is translated by :mod:`~as2sync.backends.http.errors_map`, the one place that maps
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TypeVar

import httpx
import structlog

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
)
from as2sync.backends.as2gateway.parsing import (
    message_id_from_link,
    parse_message,
    parse_page,
    parse_partners,
    parse_stations,
    parse_truncation,
)
from as2sync.backends.base import bare_message_id
from as2sync.backends.http import rest, transfer
from as2sync.backends.http.auth import Token, TokenManager, parse_token
from as2sync.backends.http.errors_map import from_status, json_body
from as2sync.backends.http.ratelimit import Priority
from as2sync.backends.http.rest import (
    DOWNLOAD_HEADERS,
    Call,
    RestClient,
    accepted_without_id,
    drain,
)
from as2sync.errors import InvalidRequest, NotFound, ProtocolError

log = structlog.get_logger(__name__)

T = TypeVar("T")
Observer = rest.Observer

MAX_FILES: Final = 10
MAX_BATCH: Final = 100


class As2GatewayClient(RestClient):
    """Thread-safe client of the AS2 Gateway v1 API (one instance per process is enough).

    ``limiter`` should be the process-wide one (:func:`~.http.ratelimit.shared_limiter`,
    as the factory does); without one the client gets a private 50-per-10-s limiter. The
    options are :class:`~as2sync.backends.http.rest.RestClient`'s.
    """

    from_status = staticmethod(from_status)
    token_refused = frozenset({401})
    log = log

    def _token_source(self, clock: Callable[[], float], renew_seconds: float) -> TokenManager:
        self._clock = clock
        self._renew_seconds = renew_seconds
        return TokenManager(self._login, clock=clock)

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
        transfer.check_message_files(files, MAX_FILES)
        params = {"partnerType": str(partner_type)}
        if subject:
            params["subject"] = subject
        raw = len(files) == 1 and transfer.header_safe(files[0].name)
        call = Call(
            endpoint="send",
            method="POST",
            path=("message", station, partner),
            params=params,
            body=(lambda s: transfer.raw_body(s, files[0]))
            if raw
            else (lambda s: transfer.multipart_body(s, files)),
            idempotent=False,
            priority=Priority.HIGH,
        )
        return self._rest.attempt(call, _accepted_message_id)

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
        call = Call(f"list_{folder}", "GET", ("message", str(folder)), params)
        page = self._call(call, lambda r: parse_page(json_body(r, endpoint=call.endpoint)))
        if folder is Folder.QUEUED:
            page = Page(page.total, tuple(m for m in page.records if _matches(m, query)))
        return page

    def get_received(self, message_id: str, *, mark_read: bool = False) -> MessageInfo:
        call = Call(
            "get_received",
            "GET",
            ("message", "received", message_id),
            {"markAsRead": "true"} if mark_read else {},
        )
        return self._call(call, lambda r: parse_message(json_body(r, endpoint=call.endpoint)))

    def stations(self) -> list[Station]:
        call = Call("stations", "GET", ("station",))
        return self._call(call, lambda r: parse_stations(json_body(r, endpoint=call.endpoint)))

    def partners(self) -> list[Partner]:
        call = Call("partners", "GET", ("partner",))
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
        call = Call(
            "batch",
            "POST",
            ("message", "received", "batch", "attachments"),
            {"markAsRead": "true"} if mark_read else {},
            json=ids,
            headers=DOWNLOAD_HEADERS,
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
            size = transfer.stream_to(response, dest, call.endpoint)
            return BatchDownload(zip_path=dest, truncation=truncation, size=size)

        return self._call(call, handle, cleanup=dest)

    def download_attachment(
        self, message_id: str, index: int, dest: Path, *, mark_read: bool = False
    ) -> int:
        """Stream attachment ``index`` of a received message into ``dest``; its size."""
        if index < 0:
            raise InvalidRequest("attachment index must be >= 0")
        call = Call(
            "attachment",
            "GET",
            ("message", "received", message_id, "attachments", str(index)),
            {"markAsRead": "true"} if mark_read else {},
            headers=DOWNLOAD_HEADERS,
        )
        return self._call(call, lambda r: transfer.stream_to(r, dest, call.endpoint), cleanup=dest)

    def sent_attachment_digest(self, message_id: str, index: int) -> Digest:
        """SHA-256 and size of attachment ``index`` of a sent message (spec 7.2), hashed as it
        streams in: reconciliation compares it with what the ledger claimed."""
        if index < 0:
            raise InvalidRequest("attachment index must be >= 0")
        call = Call(
            "sent_attachment",
            "GET",
            ("message", "sent", message_id, "attachments", str(index)),
            headers=DOWNLOAD_HEADERS,
        )
        return self._call(call, lambda r: transfer.digest_of(r, call.endpoint))

    # -- marking and deleting ---------------------------------------------------------------

    def mark_read(self, message_id: str) -> None:
        # The spec has no dedicated endpoint: retrieving with markAsRead=true marks it.
        call = Call("mark_read", "GET", ("message", "received", message_id), {"markAsRead": "true"})
        self._call(call, drain)

    def mark_unread(self, message_id: str) -> None:
        call = Call("mark_unread", "POST", ("message", "received", message_id, "markUnread"))
        self._call(call, drain)

    def delete(self, folder: Folder, message_ids: Sequence[str]) -> None:
        """Bulk DELETE /message/<folder>; a 404 (some ID already gone) counts as done."""
        ids = list(message_ids)
        if not ids:
            return
        if len(ids) > MAX_BATCH:
            raise InvalidRequest(f"at most {MAX_BATCH} IDs per delete, not {len(ids)}")
        call = Call("delete", "DELETE", ("message", str(folder)), json=ids)
        try:
            self._call(call, drain)
        except NotFound as exc:
            log.info(
                "gateway.delete_not_found", folder=str(folder), count=len(ids), detail=str(exc)
            )

    # -- the request pipeline -----------------------------------------------------------------

    def _call(
        self, call: Call, handle: Callable[[httpx.Response], T], *, cleanup: Path | None = None
    ) -> T:
        """An idempotent request through the retry policy; ``cleanup`` is removed on failure."""
        if cleanup is None:
            return self._rest.call(call, handle)
        with transfer.removed_on_failure(cleanup):
            return self._rest.call(call, handle)

    def _login(self) -> Token:
        return self._rest.attempt(
            self._login_call(),
            lambda r: parse_token(
                json_body(r, endpoint="authorize"),
                now=self._clock(),
                renew_seconds=self._renew_seconds,
            ),
        )


# -- helpers ---------------------------------------------------------------------------------


def _accepted_message_id(response: httpx.Response) -> str:
    link = response.headers.get("Link")
    message_id = message_id_from_link(link)
    # The ID is in the header; the body is only read so the connection can be reused.
    with contextlib.suppress(httpx.HTTPError):
        response.read()
    if message_id is None:
        raise accepted_without_id(response, f"the Link header ({link!r}) holds no message ID")
    return message_id


def _matches(info: MessageInfo, query: ListQuery) -> bool:
    sides = (info.sender_id, info.receiver_id)
    if query.message_id and bare_message_id(info.message_id) != bare_message_id(query.message_id):
        return False
    if query.partner and query.partner not in sides:
        return False
    return not (query.station and query.station not in sides)
