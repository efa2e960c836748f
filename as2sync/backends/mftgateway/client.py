"""The MFT Gateway REST API client: the calls the backend makes, over HTTP.

Every API request goes the same way (:class:`~as2sync.backends.http.rest.RestCaller`, shared
with the AS2 Gateway v1 client; what is MFT Gateway's is named here):

1. an API token from the :class:`~.session.Session` (login, or an early refresh, when due);
2. a slot from the shared :class:`~as2sync.backends.http.ratelimit.RateLimiter`, held until
   the response headers arrive (MFT Gateway documents no limit: the configured client-side
   one is all there is, and 429/503 pause it for Retry-After or a whole window);
3. the request, ``stream=True``, with ``Authorization: <token>`` (no scheme);
4. a 401/403 drops the token and the request is repeated once with a renewed one (a refusal
   before acting, so safe even for a submit);
5. every failure is translated by :mod:`.errors_map`.

Idempotent requests go through the :class:`~as2sync.backends.http.retrying.RetryPolicy`; a
submit never does (its unknown outcome is the caller's to reconcile).

Attachments are fetched from the signed URLs the API hands out, **without** the
``Authorization`` header (the object store refuses a second credential) and without a slot of
the API's limiter (it is another service); a refused URL (403, expired) is replaced by asking
the API for fresh URLs, a bounded number of times.

Only the new names of the 2023 renaming are sent (:mod:`.names`).
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import httpx
import structlog

from as2sync.backends import base
from as2sync.backends.http.ratelimit import Priority
from as2sync.backends.http.rest import (
    DOWNLOAD_HEADERS,
    Call,
    RestClient,
    accepted_without_id,
    drain,
)
from as2sync.backends.http.transfer import (
    Digest,
    check_message_files,
    digest_of,
    header_safe,
    multipart_body,
    raw_body,
    removed_on_failure,
    stream_to,
)
from as2sync.backends.mftgateway import names, pagination
from as2sync.backends.mftgateway.capabilities import MAX_FILES
from as2sync.backends.mftgateway.errors_map import (
    TOKEN_REFUSED,
    UrlRefused,
    from_exception,
    from_status,
    json_body,
    object_error,
)
from as2sync.backends.mftgateway.parsing import (
    AttachmentUrls,
    CertificateInfo,
    CertificateRef,
    MessageInfo,
    SessionTokens,
    parse_attachment_urls,
    parse_certificate,
    parse_certificates,
    parse_id_list,
    parse_message,
    parse_session,
    submit_id,
)
from as2sync.backends.mftgateway.session import Session
from as2sync.config.loader import is_loopback
from as2sync.errors import InvalidRequest, NotFound, ProtocolError

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_URL: Final = "https://api.mftgateway.com"
DEFAULT_RATE_LIMIT: Final = (50, 10.0)
"""Requests per seconds when no limiter is given. MFT Gateway documents no limit; this is the
AS2 Gateway's, a pace the vendor's other API is known to accept."""
MAX_PAGE: Final = 100
MAX_IDS: Final = 100
URL_REFRESHES: Final = 2


class Box(enum.StrEnum):
    """A message list, as its path reads."""

    INBOX = "message/inbox"
    SENT = "message/outbox"
    QUEUED = "message/outbox/queued"
    FAILED = "message/outbox/failed"
    INCOMPLETE = "message/outbox/incomplete"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.value.split("/"))


@dataclass(frozen=True)
class Downloaded:
    """One attachment written to its destination."""

    index: int
    name: str
    size: int


class MftClient(RestClient):
    """Thread-safe client of the MFT Gateway REST API (one per process is enough).

    ``limiter`` should be the process-wide one; without one the client gets a private
    :data:`DEFAULT_RATE_LIMIT`. The options are :class:`~as2sync.backends.http.rest.RestClient`'s.
    """

    from_status = staticmethod(from_status)
    token_refused = TOKEN_REFUSED
    log = log
    default_limit = DEFAULT_RATE_LIMIT
    url_refreshes = URL_REFRESHES
    """How often per message refused attachment URLs are replaced by fresh ones."""

    _incomplete_warned = False  # set on the instance once it has warned

    def _token_source(self, clock: Callable[[], float], renew_seconds: float) -> Session:
        return Session(self._login, self._refresh, renew_seconds=renew_seconds, clock=clock)

    def __repr__(self) -> str:
        return f"MftClient({self._rest.base!r}, username={self._username!r})"

    def wake(self) -> None:
        """Once the stop event is set: end the rate limiter's waits at once."""
        self._limiter.wake()

    def requests_in_use(self) -> int:
        """Requests counted against the client-side rate limit now (a metric)."""
        return self._limiter.in_use()

    # -- sending --------------------------------------------------------------------------

    def submit(
        self,
        station: str,
        partner: str,
        files: Sequence[base.OutboundFile],
        *,
        subject: str | None = None,
    ) -> str:
        """Submit one message; its ID (from the body, else the ``Link`` header).

        One file whose name a header can carry goes as the raw body with ``Attachment-Name``;
        several (or one with such a name) as ``multipart/form-data`` with one ``File`` part
        each. ``InvalidRequest`` (nothing sent) for no files or more than
        :data:`~.capabilities.MAX_FILES`, empty or repeated names, or a
        station, partner or subject a header cannot carry. ``PermanentError`` for 422 (unknown
        station or partner) and 413; ``UnknownOutcome`` whenever the message may have been
        accepted, including a 2xx without a readable ID. See :meth:`base.Sender.submit`.
        """
        files = list(files)
        check_message_files(files, MAX_FILES)
        for what, value in (("station", station), ("partner", partner), ("subject", subject)):
            if value is not None and not (value and header_safe(value)):
                raise InvalidRequest(f"the {what} {value!r} cannot travel in an HTTP header")
        headers = {"AS2-From": station, "AS2-To": partner}
        if subject:
            headers["Subject"] = subject
        if len(files) == 1 and header_safe(files[0].name):
            one = files[0]

            def body(stack: contextlib.ExitStack) -> dict[str, Any]:
                return raw_body(stack, one, name_header="Attachment-Name")
        else:

            def body(stack: contextlib.ExitStack) -> dict[str, Any]:
                return multipart_body(stack, files, part="File")

        call = Call(
            "send",  # the endpoint label v1 uses too, so metrics read the same
            "POST",
            ("message", "submit"),
            body=body,
            headers=headers,
            idempotent=False,
            priority=Priority.HIGH,
        )
        return self._rest.attempt(call, _accepted_id)

    # -- lists ----------------------------------------------------------------------------

    def list_page(
        self,
        box: Box,
        *,
        page: int = 0,
        page_length: int = MAX_PAGE,
        ascending: bool = True,
        fetch_all: bool = False,
        station: str | None = None,
        partner: str | None = None,
        identifier: str | None = None,
        subject: str | None = None,
    ) -> list[str]:
        """One page of IDs. Station and partner are the primary filters; ``identifier`` and
        ``subject`` (prefixes) are secondary, ignored by the server next to a primary one, and
        only one of them may be given. A 404 from the incomplete list (documented as "coming
        soon") is an empty list, with one warning per client."""
        if not 1 <= page_length <= MAX_PAGE:
            raise InvalidRequest(f"page_length must be 1..{MAX_PAGE}")
        if page < 0:
            raise InvalidRequest("page must be >= 0")
        if identifier and subject:
            raise InvalidRequest("only one secondary filter (identifier or subject) per list")
        params = {
            "sortDir": "asc" if ascending else "desc",
            "pageOffset": str(page),
            "pageLength": str(page_length),
        }
        if fetch_all:
            params["fetchAll"] = "true"
        for name, value in (
            (names.STATION_PARAM, station),
            (names.PARTNER_PARAM, partner),
            (names.IDENTIFIER_PARAM, identifier),
            (names.SUBJECT_PARAM, subject),
        ):
            if value:
                params[name] = value
        endpoint = "list_" + box.value.rsplit("/", 1)[-1]
        call = Call(endpoint, "GET", box.segments, params)
        try:
            return self._call(
                call, lambda r: parse_id_list(json_body(r, endpoint=endpoint), endpoint)
            )
        except NotFound:
            if box is not Box.INCOMPLETE:
                raise
            if not self._incomplete_warned:
                self._incomplete_warned = True
                log.warning("gateway.incomplete_list_unavailable", endpoint=endpoint)
            return []

    def walk(
        self, box: Box, *, page_length: int = MAX_PAGE, max_requests: int = 1000, **filters: Any
    ) -> Iterator[list[str]]:
        """Every ID of a list, each once, in ascending order, as :mod:`.pagination` walks a
        list that may shrink meanwhile; each batch is read only when the previous one has been
        handled. ``filters`` are :meth:`list_page`'s."""

        def fetch(page: int) -> list[str]:
            return self.list_page(box, page=page, page_length=page_length, **filters)

        return pagination.walk(fetch, page_length=page_length, max_requests=max_requests)

    # -- one message ----------------------------------------------------------------------

    def inbox_message(self, identifier: str, *, mark_read: bool) -> MessageInfo:
        """A received message. ``markAsRead`` is always sent: the server's default marks read."""
        call = Call(
            "mark_read" if mark_read else "inbox_message",
            "GET",
            (*Box.INBOX.segments, identifier),
            {"markAsRead": "true" if mark_read else "false"},
        )
        return self._call(
            call, lambda r: parse_message(json_body(r, endpoint=call.endpoint), call.endpoint)
        )

    def outbox_message(self, box: Box, identifier: str) -> MessageInfo:
        """A submitted message in ``box`` (NotFound if it is not in that box)."""
        if box is Box.INBOX:
            raise InvalidRequest("outbox_message reads an outbox")
        call = Call("outbox_message", "GET", (*box.segments, identifier))
        return self._call(
            call, lambda r: parse_message(json_body(r, endpoint=call.endpoint), call.endpoint)
        )

    def mark_read(self, identifier: str) -> None:
        """Mark a received message read (the API's only way: retrieve it)."""
        self.inbox_message(identifier, mark_read=True)

    def mark_unread(self, identifier: str) -> None:
        call = Call("mark_unread", "POST", (*Box.INBOX.segments, identifier, "markUnread"))
        self._call(call, drain)

    def delete(self, box: Box, identifiers: Sequence[str]) -> list[str]:
        """Delete messages of the inbox or outbox; the IDs the server says it deleted (a 404,
        none of them there any more, is an empty list)."""
        ids = list(dict.fromkeys(identifiers))
        if not ids:
            return []
        if len(ids) > MAX_IDS:
            raise InvalidRequest(f"at most {MAX_IDS} IDs per delete, not {len(ids)}")
        if box not in (Box.INBOX, Box.SENT):
            raise InvalidRequest("delete takes the inbox or the outbox")
        call = Call("delete", "POST", (*box.segments, "delete"), json={names.IDENTIFIERS_BODY: ids})
        try:
            return self._call(call, lambda r: _deleted(json_body(r, endpoint="delete")))
        except NotFound:
            return []

    # -- certificates -------------------------------------------------------------------

    def certificates(self) -> list[CertificateRef]:
        """Every certificate of the account (fetched unfiltered: the two sources name the
        types differently, so filtering is the caller's, on the seed's names)."""
        call = Call("certificates", "GET", ("certificate",))
        return self._call(call, lambda r: parse_certificates(json_body(r, endpoint="certificates")))

    def certificate(self, alias: str) -> CertificateInfo:
        call = Call("certificate", "GET", ("certificate", alias))
        return self._call(call, lambda r: parse_certificate(json_body(r, endpoint="certificate")))

    # -- attachments ----------------------------------------------------------------------

    def attachment_urls(self, box: Box, identifier: str) -> AttachmentUrls:
        call = Call("attachment_urls", "GET", (*box.segments, identifier, "attachments"))
        return self._call(
            call,
            lambda r: parse_attachment_urls(json_body(r, endpoint=call.endpoint), call.endpoint),
        )

    def download_attachments(
        self,
        box: Box,
        identifier: str,
        dest_for: Callable[[int, str], Path],
        *,
        only: Collection[int] | None = None,
        urls: AttachmentUrls | None = None,
    ) -> list[Downloaded]:
        """Download a message's attachments (those at ``only``'s indices, else all) to
        ``dest_for(index, name)`` each (created or truncated; removed on failure). ``urls``:
        a listing the caller already has (and checked). URLs are renewed as
        :meth:`_each_object` says."""

        def download(url: str, index: int, name: str) -> int:
            dest = dest_for(index, name)
            with removed_on_failure(dest):
                return self._object(url, lambda r: stream_to(r, dest, "download"), "download")

        return [
            Downloaded(index, name, size)
            for index, name, size in self._each_object(box, identifier, only, download, urls)
        ]

    def attachment_digests(self, box: Box, identifier: str) -> list[tuple[str, Digest]]:
        """``(name, digest)`` of each attachment, hashed as it streams in and kept nowhere
        (what a reconciliation compares with the files it claimed)."""

        def digest(url: str, index: int, name: str) -> Digest:
            return self._object(url, lambda r: digest_of(r, "digest"), "digest")

        return [(name, d) for _, name, d in self._each_object(box, identifier, None, digest)]

    def attachment_sizes(
        self, box: Box, identifier: str, *, urls: AttachmentUrls | None = None
    ) -> list[tuple[str, int]]:
        """``(name, size)`` of each attachment, from a one-byte ranged GET of its URL (the
        only size the API tells: a presigned GET URL is not valid for HEAD). ``urls``: a
        listing the caller already has."""

        def size(url: str, index: int, name: str) -> int:
            return self._object(url, _object_size, "size", headers={"Range": "bytes=0-0"})

        found = self._each_object(box, identifier, None, size, urls)
        return [(name, n) for _, name, n in found]

    def _each_object(
        self,
        box: Box,
        identifier: str,
        only: Collection[int] | None,
        fetch: Callable[[str, int, str], T],
        urls: AttachmentUrls | None = None,
    ) -> list[tuple[int, str, T]]:
        """``fetch(url, index, name)`` for each attachment (at ``only``'s indices, else all),
        in order. A URL the object store refuses (403, e.g. expired) is replaced by fresh ones
        from the API, up to ``url_refreshes`` times per message, then :class:`UrlRefused`.
        ProtocolError when fresh URLs list other attachments."""
        if urls is None:
            urls = self.attachment_urls(box, identifier)
        refreshes = 0
        done: list[tuple[int, str, T]] = []
        for index in range(urls.total):
            if only is not None and index not in only:
                continue
            while True:
                item = urls.attachments[index]
                try:
                    done.append((index, item.name, fetch(item.url, index, item.name)))
                    break
                except UrlRefused:
                    if refreshes >= self.url_refreshes:
                        raise
                    refreshes += 1
                    log.info("gateway.url_refused", endpoint="download", index=index)
                    fresh = self.attachment_urls(box, identifier)
                    if [a.name for a in fresh.attachments] != [a.name for a in urls.attachments]:
                        raise ProtocolError(
                            f"attachments of {identifier} changed between two listings"
                        ) from None
                    urls = fresh
        return done

    def download_url(self, url: str, dest: Path) -> int:
        """Stream a signed URL's body into ``dest`` (created or truncated, removed on failure);
        the bytes written. Sent without ``Authorization``. UrlRefused for a 403."""
        with removed_on_failure(dest):
            return self._object(url, lambda r: stream_to(r, dest, "download"), "download")

    def _object(
        self,
        url: str,
        handle: Callable[[httpx.Response], T],
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """One object-store GET through the retry policy (UrlRefused is not retried)."""
        _check_object_url(url)
        return self._rest.retry.call(
            lambda: self._object_once(url, handle, endpoint, headers or {}),
            endpoint=endpoint,
            stop=self._rest.stop,
        )

    def _object_once(
        self,
        url: str,
        handle: Callable[[httpx.Response], T],
        endpoint: str,
        headers: Mapping[str, str],
    ) -> T:
        # Built without any credential: the signature in the URL is the only one allowed.
        request = self._rest.http.build_request("GET", url, headers={**DOWNLOAD_HEADERS, **headers})
        request.headers.pop("Authorization", None)
        started = time.monotonic()
        try:
            response = self._rest.http.send(request, stream=True)
        except (httpx.HTTPError, OSError) as exc:
            self._rest.observe(endpoint, "GET", None, started)
            raise from_exception(exc, endpoint=endpoint, idempotent=True) from exc
        try:
            if not 200 <= response.status_code < 300:
                raise object_error(response, endpoint=endpoint)
            try:
                return handle(response)
            except httpx.HTTPError as exc:
                raise from_exception(exc, endpoint=endpoint, idempotent=True) from exc
        finally:
            with contextlib.suppress(httpx.HTTPError, OSError):
                response.close()
            self._rest.observe(endpoint, "GET", response.status_code, started)

    # -- the request pipeline -----------------------------------------------------------------

    def _call(self, call: Call, handle: Callable[[httpx.Response], T]) -> T:
        """An idempotent request through the retry policy."""
        return self._rest.call(call, handle)

    def _login(self) -> SessionTokens:
        return self._rest.attempt(
            self._login_call(), lambda r: parse_session(json_body(r, endpoint="authorize"))
        )

    def _refresh(self, refresh_token: str) -> SessionTokens:
        call = Call(
            "refresh",
            "POST",
            ("refresh-session",),
            json={"username": self._username, "refreshToken": refresh_token},
            priority=Priority.HIGH,
            authorize=True,
        )
        return self._rest.attempt(call, lambda r: parse_session(json_body(r, endpoint="refresh")))


# -- helpers ---------------------------------------------------------------------------------


def _accepted_id(response: httpx.Response) -> str:
    link = response.headers.get("Link")
    try:
        body: object = json_body(response, endpoint="send")
    except (ProtocolError, httpx.HTTPError):
        body = None  # the Link header may still say it
    identifier = submit_id(body, link)
    if identifier is None:
        where = f"neither the body nor the Link header ({link!r}) holds a message ID"
        raise accepted_without_id(response, where)
    return identifier


def _deleted(body: object) -> list[str]:
    deleted = body.get("deleted") if isinstance(body, dict) else None
    if isinstance(deleted, str):
        return [deleted]
    if not isinstance(deleted, list) or not all(isinstance(d, str) for d in deleted):
        raise ProtocolError("delete: 'deleted' is not a list of message IDs")
    return list(deleted)


def _object_size(response: httpx.Response) -> int:
    """The whole object's size from a ranged GET's answer: ``Content-Range: bytes 0-0/N`` on
    206, or the ``Content-Length`` of a 200 from a store that ignored the range (the body is
    then not read)."""
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2].strip()
        if total.isdigit():
            return int(total)
        raise ProtocolError(f"size: 206 without a usable Content-Range ({total!r})")
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit():
        return int(length)
    raise ProtocolError("size: the object store gave no size")


def _check_object_url(url: str) -> None:
    """ProtocolError unless ``url`` is https (http only for a loopback host, the emulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise ProtocolError(f"download: refusing a signed URL that is not https ({parts.scheme}://)")
