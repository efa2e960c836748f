"""The emulated MFT Gateway REST API as a Starlette application (no version prefix).

Routes follow seed 003 and the fact sheet (``../shared/MFT-GATEWAY-API.md``). Choices where
they are silent, each what a client is tested against:

- Names (seed 003 section 7): responses carry only the new names. Requests are read by their
  new names (``stationIdentifier``, ``partnerIdentifier``, ``identifier``,
  ``messageIdentifiers``); an old name is ignored, as today's server is expected to (its filter
  is silently dropped), unless ``MftSettings.legacy_names``. ``service`` is accepted and
  ignored (its values are undocumented).
- Auth: ``/authorize`` answers ``{apiToken, refreshToken}``; a bad login is 401. Every other
  call needs ``Authorization: <apiToken>`` with no scheme (401 otherwise, also for
  ``Bearer <token>``). ``/refresh-session`` with a bad refresh token, or while
  ``refresh_fails`` is on, is 500 ``{"message": "Error occurred while refreshing the user
  session"}``, as the OpenAPI documents.
- Submit: ``AS2-From`` and ``AS2-To`` are required (400); an unknown station or partner is 422;
  a body over the send limit is 413. One file is the raw body named by ``Attachment-Name``
  (absent: ``attachment``); several are ``multipart/form-data`` parts named ``File``. 202 with
  ``{"message", <submit_id_key>: id}`` and ``Link: <base>/message/outbox/<id>`` (a bare URL).
- Lists: ``{"messages": [ids]}``; invalid ``sortDir``/``pageOffset``/``pageLength``/
  ``fetchAll`` is 400. ``/message/outbox/incomplete`` is 404 while ``incomplete_list`` is off.
- ``GET /message/inbox/{identifier}`` marks read unless ``markAsRead=false`` (the JSON shows
  ``apiFetched`` as it was before the call).
- Attachment and MDN URLs point at the object store listener (see :mod:`.objectstore`).
- Certificates: see :mod:`.certificates`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from as2sync.emulator.account import Account
from as2sync.emulator.admin import admin_routes
from as2sync.emulator.apierror import ApiError, bad_request
from as2sync.emulator.app import _api_error, _http_error  # the same error bodies as /v1
from as2sync.emulator.endpoint import Endpoint
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.httputil import (
    decode_header,
    guess_content_type,
    message,
    multipart_files,
    parse_bool,
    parse_int,
    read_limited,
)
from as2sync.emulator.journal import Journal
from as2sync.emulator.mft import certificates
from as2sync.emulator.mft.admin import mft_admin_routes
from as2sync.emulator.mft.boxes import Boxes, ListQuery
from as2sync.emulator.mft.keys import Box, OutBox
from as2sync.emulator.mft.objectstore import Signer
from as2sync.emulator.mft.recording import Recording
from as2sync.emulator.mft.sessions import RefreshTokens
from as2sync.emulator.mft.settings import Switches
from as2sync.emulator.middleware import GatewayMiddleware
from as2sync.emulator.store import MessageStore

Handler = Callable[[Request], Awaitable[Response]]

REFRESH_FAILED = "Error occurred while refreshing the user session"
MAX_IDS = 100

# (new name, old name) of every renamed request parameter (seed 003 section 7).
PARAM_NAMES = {
    "station": ("stationIdentifier", "stationAS2Id"),
    "partner": ("partnerIdentifier", "partnerAS2Id"),
    "identifier": ("identifier", "as2MessageId"),
}
BODY_IDS = ("messageIdentifiers", "as2MessageIds")


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise bad_request(f"{what}: request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise bad_request(f"{what}: request body must be a JSON object")
    return parsed


def _marks_read(request: Request) -> bool:
    """Whether this request marks an inbox message read (the ``markread`` fault target): an
    inbox GET unless ``markAsRead=false``."""
    path = request.url.path
    if request.method != "GET" or not path.startswith("/message/inbox/"):
        return False
    if path.endswith(("/attachments", "/mdn")):
        return False
    raw = request.query_params.get("markAsRead")
    return raw is None or raw.strip().lower() not in ("false", "0", "no", "off")


class MftApi:
    """The MFT Gateway handlers; each returns a Response or raises ApiError."""

    def __init__(
        self,
        account: Account,
        store: MessageStore,
        boxes: Boxes,
        switches: Switches,
        refresh: RefreshTokens,
        signer: Signer,
    ) -> None:
        self.account = account
        self.store = store
        self.boxes = boxes
        self.switches = switches
        self.refresh = refresh
        self.signer = signer
        self.settings = store.settings

    def _param(self, request: Request, what: str) -> str | None:
        new, old = PARAM_NAMES[what]
        value = request.query_params.get(new)
        if not value and self.switches.current.legacy_names:
            value = request.query_params.get(old)
        return value or None

    # -- section 2: authorization

    def _tokens(self, username: str, api_token: str) -> Response:
        return JSONResponse({"apiToken": api_token, "refreshToken": self.refresh.issue(username)})

    async def authorize(self, request: Request) -> Response:
        body = _json_object(await request.body(), "authorize")
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise bad_request("username and password are required")
        issued = self.account.authorize(username, password)
        if issued is None:
            raise ApiError(401, "Authentication Failed: Bad credentials")
        return self._tokens(username, issued[0])

    async def refresh_session(self, request: Request) -> Response:
        body = _json_object(await request.body(), "refresh-session")
        username, token = body.get("username"), body.get("refreshToken")
        if (
            self.switches.current.refresh_fails
            or not isinstance(username, str)
            or not isinstance(token, str)
            or not self.refresh.check(token, username)
        ):
            raise ApiError(500, REFRESH_FAILED)
        issued = self.account.reissue(username)
        if issued is None:
            raise ApiError(500, REFRESH_FAILED)
        return self._tokens(username, issued[0])

    # -- section 3.1: submit

    async def submit(self, request: Request) -> Response:
        station = decode_header(request, "AS2-From")
        partner = decode_header(request, "AS2-To")
        if not station or not partner:
            raise bad_request("AS2-From and AS2-To headers are required")
        subject = decode_header(request, "Subject") or None
        limit = self.settings.send_limit_bytes
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            files = await multipart_files(
                request, part="File", limit=limit, max_files=self.settings.max_files
            )
        else:
            name = decode_header(request, "Attachment-Name") or "attachment"
            data = await read_limited(request, limit, "Message")
            media = content_type.split(";")[0].strip() or guess_content_type(name, data)
            files = [(name, media, data)]
        if not self.account.has_station(station):
            raise ApiError(422, f"Unable to find station with AS2 identifier: {station}")
        spec = self.account.partner(partner)
        if spec is None:
            raise ApiError(422, f"Unable to find partner with AS2 identifier: {partner}")
        mid = await run_in_threadpool(
            lambda: self.store.submit(
                station,
                partner,
                files,
                subject=subject,
                partner_type=spec.partner_type.lower(),
                profile=None,
            )
        )
        body: dict[str, str] = {"message": "Message queued successfully"}
        key = self.switches.current.submit_id_key
        if key is not None:
            body[key] = mid
        link = f"{request.url.scheme}://{request.url.netloc}/message/outbox/{mid}"
        return JSONResponse(body, status_code=202, headers={"Link": link})

    # -- section 3.2: lists

    def _list_query(self, request: Request, box: Box) -> ListQuery:
        q = request.query_params
        sort_dir = (q.get("sortDir") or "desc").lower()
        if sort_dir not in ("asc", "desc"):
            raise bad_request(f"Invalid sortDir: {q.get('sortDir')} (expected asc or desc)")
        return ListQuery(
            descending=sort_dir == "desc",
            page=parse_int(request, "pageOffset", 0, 0, None),
            page_length=parse_int(request, "pageLength", 10, 1, 100),
            fetch_all=box == "inbox" and parse_bool(request, "fetchAll"),
            station=self._param(request, "station"),
            partner=self._param(request, "partner"),
            identifier=self._param(request, "identifier"),
            subject=q.get("subject") or None,
        )

    def list_handler(self, box: Box) -> Handler:
        async def handler(request: Request) -> Response:
            if box == "incomplete" and not self.switches.current.incomplete_list:
                raise ApiError(404, "Coming soon")
            query = self._list_query(request, box)
            ids = await run_in_threadpool(self.boxes.list_ids, box, query)
            return JSONResponse({"messages": ids})

        return handler

    # -- section 3.3: one message, attachments, MDN

    async def get_inbox(self, request: Request) -> Response:
        raw = request.query_params.get("markAsRead")
        mark = True if raw is None or raw == "" else parse_bool(request, "markAsRead")
        identifier = request.path_params["identifier"]
        entity = await run_in_threadpool(
            lambda: self.boxes.inbox_message(identifier, mark_read=mark)
        )
        return JSONResponse(entity)

    def get_outbox(self, box: OutBox) -> Handler:
        async def handler(request: Request) -> Response:
            identifier = request.path_params["identifier"]
            entity = await run_in_threadpool(self.boxes.outbox_message, box, identifier)
            return JSONResponse(entity)

        return handler

    def attachments_handler(self, box: Box) -> Handler:
        async def handler(request: Request) -> Response:
            identifier = request.path_params["identifier"]
            found = await run_in_threadpool(self.boxes.attachments, box, identifier)
            return JSONResponse(
                {
                    "total": len(found),
                    "attachments": [{"name": a.name, "url": self.signer.url(a.key)} for a in found],
                }
            )

        return handler

    def mdn_handler(self, box: Box) -> Handler:
        async def handler(request: Request) -> Response:
            key = await run_in_threadpool(self.boxes.mdn, box, request.path_params["identifier"])
            return JSONResponse({"url": self.signer.url(key)})

        return handler

    async def mark_unread(self, request: Request) -> Response:
        identifier = request.path_params["identifier"]
        await run_in_threadpool(self.boxes.mark_unread, identifier)
        return message(200, f"Successfully marked message {identifier} as unread")

    # -- section 6: certificates

    async def certificates(self, request: Request) -> Response:
        certs = self.switches.current.certificates
        return JSONResponse(certificates.listing(certs, request.query_params.get("certType")))

    async def certificate(self, request: Request) -> Response:
        certs = self.switches.current.certificates
        return JSONResponse(certificates.metadata(certs, request.path_params["alias"]))

    # -- sections 3.4-3.5: delete

    def delete_one(self, box: Literal["inbox", "outbox"]) -> Handler:
        async def handler(request: Request) -> Response:
            identifier = request.path_params["identifier"]
            deleted = await run_in_threadpool(self.boxes.delete, box, [identifier])
            if not deleted:
                raise ApiError(404, "Unable to find message")
            return JSONResponse({"deleted": deleted[0]})

        return handler

    def delete_many(self, box: Literal["inbox", "outbox"]) -> Handler:
        async def handler(request: Request) -> Response:
            body = _json_object(await request.body(), "delete")
            ids = body.get(BODY_IDS[0])
            if ids is None and self.switches.current.legacy_names:
                ids = body.get(BODY_IDS[1])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
                raise bad_request(f"{BODY_IDS[0]} must be a non-empty array of message IDs")
            if len(ids) > MAX_IDS:
                raise bad_request(f"At most {MAX_IDS} message IDs per request ({len(ids)} given)")
            deleted = await run_in_threadpool(self.boxes.delete, box, ids)
            if not deleted:
                raise ApiError(404, "Unable to find messages")
            return JSONResponse({"deleted": deleted})

        return handler


def mft_routes(api: MftApi, injector: FaultInjector) -> list[BaseRoute]:
    """Every API route, most specific first (``{identifier:path}`` is greedy)."""

    def route(path: str, name: str, handler: Handler, method: str, *, auth: bool = True) -> Route:
        endpoint = Endpoint(name, handler, api.account, injector, auth=auth, marks_read=_marks_read)
        return Route(path, endpoint, methods=[method], name=name)

    def box_path(box: Box) -> str:
        return {"inbox": "/message/inbox", "sent": "/message/outbox"}.get(
            box, f"/message/outbox/{box}"
        )

    routes: list[BaseRoute] = [
        route("/authorize", "authorize", api.authorize, "POST", auth=False),
        route("/refresh-session", "refresh", api.refresh_session, "POST", auth=False),
        route("/message/submit", "send", api.submit, "POST"),
        route("/certificate", "certificate", api.certificates, "GET"),
        route("/certificate/{alias:path}", "certificate", api.certificate, "GET"),
        route("/message/inbox/delete", "delete", api.delete_many("inbox"), "POST"),
        route("/message/outbox/delete", "delete", api.delete_many("outbox"), "POST"),
    ]
    boxes: tuple[Box, ...] = ("inbox", "queued", "failed", "incomplete", "sent")
    for box in boxes:
        routes.append(route(box_path(box), "list", api.list_handler(box), "GET"))
    # Sub-boxes before the plain outbox: "/message/outbox/{identifier:path}" would take
    # "failed/<id>" as an identifier.
    for box in boxes:
        base = f"{box_path(box)}/{{identifier:path}}"
        routes += [
            # Named "urls": these hand out signed URLs; the bytes come from the object store,
            # whose downloads are the "attachment" endpoint (and so the truncation target).
            route(f"{base}/attachments", "urls", api.attachments_handler(box), "GET"),
            route(f"{base}/mdn", "urls", api.mdn_handler(box), "GET"),
        ]
        if box == "inbox":
            routes += [
                route(f"{base}/markUnread", "markunread", api.mark_unread, "POST"),
                route(base, "get", api.get_inbox, "GET"),
                route(base, "delete", api.delete_one("inbox"), "DELETE"),
            ]
        else:
            routes += [
                route(base, "get", api.get_outbox(box), "GET"),
                route(base, "delete", api.delete_one("outbox"), "DELETE"),
            ]
    return routes


def _is_api(path: str) -> bool:
    return not (path == "/_admin" or path.startswith("/_admin/"))


def create_mft_app(api: MftApi, injector: FaultInjector, journal: Journal) -> ASGIApp:
    """The complete ASGI app: the API at the root (behind the shared gateway middleware:
    request log, latency, rate limit) and ``/_admin`` (the shared admin routes plus MFT's)."""
    app = Starlette(
        routes=[
            Mount(
                "/_admin",
                routes=admin_routes(api.account, api.store, injector, journal)
                + mft_admin_routes(api.switches, journal),
            ),
            *mft_routes(api, injector),
        ],
        exception_handlers={HTTPException: _http_error, ApiError: _api_error},
    )
    gated = GatewayMiddleware(app, api.account, injector, journal, is_api=_is_api)
    return Recording(gated, journal)
