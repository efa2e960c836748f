"""The emulated AS2 Gateway REST API v1 as a Starlette application.

Routes follow the spec's sections 2-11 under ``/v1``. Decisions where the spec is silent
(each is the most plausible behaviour of the real service, and what clients are tested against):

- ``expiry`` from ``/authorize`` is epoch milliseconds, like every other timestamp (3.2).
- Message IDs in paths are matched exactly as listed, angle brackets included; clients must
  percent-encode them (``<`` ``>`` ``+`` ...). Paths accept IDs containing ``/`` when encoded.
- ``Link`` (4.5) carries the ID verbatim, angle brackets and all, exactly as the spec example:
  ``Link: http://127.0.0.1:PORT/v1/message/sent/<90766548.41.1573209810390@as2gateway.com>``.
- Send: unknown station or partner (for the given ``partnerType``) is 404; no ``Name`` header on
  a single-file send, no ``file`` part, a ``file`` part without filename, more than 10 files or
  duplicate file names is 400; more than 10 MB is 413. ``Name`` is decoded as UTF-8 when valid.
- Lists: ``subject`` matches case-insensitively as a substring, the ID filters exactly; the
  queued list's ``query`` matches any of ID, station, partner or subject as a substring. Invalid
  ``sortCol``, ``sortDir``, ``partnerType``, ``pageOffset`` or ``pageLength`` is 400.
- There is no "processing" phase (spec 5.4): an entry is listed as queued until the moment
  it is sent or its attempt fails.
- ``GET /message/queued/{id}`` also finds stopped entries (they can be retried under that
  path); the queued *list* shows only entries still waiting.
- ``/attachments/all`` is a zip with the attachments at its root.
- MDN downloads (7.4 "same as attachment download") are ``application/octet-stream`` with the
  raw multipart/report MDN and ``Content-Disposition: attachment; filename="mdn.txt"``.
- Batch: a JSON array of 1..100 distinct IDs (anything else is 400); see
  :meth:`Folders.batch` for the aggregation rule and the ``(i, -1)`` case.
- Delete (9): ``DELETE /v1/message/{type}/{id}`` and ``DELETE /v1/message/{type}`` with a JSON
  array of at most 100 IDs; the spec's literal ``/{type}/{id}`` and ``/{type}`` paths are
  accepted too. Single delete of an unknown ID is 404; bulk delete counts what it deleted.
- Unknown routes are 404 ``{"message": ...}`` (405 for a known path with another method).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast, get_args

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from as2sync.emulator import entities, zipbatch
from as2sync.emulator.account import Account
from as2sync.emulator.admin import admin_routes
from as2sync.emulator.apierror import ApiError, bad_request
from as2sync.emulator.endpoint import Endpoint
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.folders import (
    DeleteFolder,
    Folders,
    ListFolder,
    ListParams,
    SortCol,
    contains,
)
from as2sync.emulator.httputil import (
    content_disposition,
    decode_header,
    guess_content_type,
    message,
    multipart_files,
    parse_bool,
    parse_int,
    parse_partner_type,
    read_limited,
)
from as2sync.emulator.middleware import GatewayMiddleware
from as2sync.emulator.state import EmulatorState
from as2sync.emulator.store import MessageStore

LIST_FOLDERS: tuple[ListFolder, ...] = ("received", "sent", "failed", "queued")
DELETE_FOLDERS: tuple[DeleteFolder, ...] = ("received", "sent", "queued", "stopped", "failed")
SORT_COLUMNS: tuple[str, ...] = get_args(SortCol)
MAX_IDS = 100


def _json_body(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise bad_request(f"{what}: request body is not valid JSON") from None


def _id_list(body: bytes) -> list[str]:
    ids = _json_body(body, "message IDs")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("Request body must be a JSON array of AS2 message IDs")
    if not ids:
        raise bad_request("Request body must contain at least one AS2 message ID")
    if len(ids) > MAX_IDS:
        raise bad_request(f"At most {MAX_IDS} AS2 message IDs per request ({len(ids)} given)")
    return cast(list[str], ids)


def _octets(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": content_disposition(filename)},
    )


class Api:
    """The ``/v1`` handlers; each returns a Response or raises ApiError."""

    def __init__(self, account: Account, store: MessageStore, folders: Folders) -> None:
        self.account = account
        self.store = store
        self.folders = folders
        self.settings = store.settings

    # -- section 2
    async def authorize(self, request: Request) -> Response:
        body = _json_body(await request.body(), "authorize")
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object with username and password")
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise bad_request("username and password are required")
        issued = self.account.authorize(username, password)
        if issued is None:
            raise ApiError(401, "Invalid username or password")
        token, expiry = issued
        return JSONResponse({"token": token, "expiry": expiry})

    # -- section 4
    async def send(self, request: Request) -> Response:
        station = request.path_params["station"]
        partner = request.path_params["partner"]
        partner_type = parse_partner_type(request)
        subject = request.query_params.get("subject") or None
        profile = request.query_params.get("profile") or None
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            files = await self._multipart_files(request)
        else:
            name = decode_header(request, "Name")
            if not name:
                raise bad_request("Missing Name header: the name of the file being sent")
            data = await read_limited(request, self.settings.send_limit_bytes, "File")
            media = content_type.split(";")[0].strip() or guess_content_type(name, data)
            files = [(name, media, data)]
        mid = await run_in_threadpool(
            lambda: self.store.submit(
                station,
                partner,
                files,
                subject=subject,
                partner_type=partner_type,
                profile=profile,
            )
        )
        base = f"{request.url.scheme}://{request.url.netloc}/v1"
        return message(
            202, "Successfully added a new outbound entry", {"Link": f"{base}/message/sent/{mid}"}
        )

    async def _multipart_files(self, request: Request) -> list[tuple[str, str, bytes]]:
        return await multipart_files(
            request,
            part="file",
            limit=self.settings.send_limit_bytes,
            max_files=self.settings.max_files,
        )

    # -- section 5
    def _list_params(self, request: Request, folder: ListFolder) -> ListParams:
        q = request.query_params
        sort_col = q.get("sortCol") or "persistedTimestamp"
        if sort_col not in SORT_COLUMNS:
            raise bad_request(f"Invalid sortCol: {sort_col} (expected one of {SORT_COLUMNS})")
        sort_dir = (q.get("sortDir") or "desc").lower()
        if sort_dir not in ("asc", "desc"):
            raise bad_request(f"Invalid sortDir: {q.get('sortDir')} (expected asc or desc)")
        common: dict[str, Any] = {
            "sort_col": sort_col,
            "descending": sort_dir == "desc",
            "partner_type": parse_partner_type(request),
            "page_offset": parse_int(request, "pageOffset", 0, 0, None),
            "page_length": parse_int(request, "pageLength", 10, 1, 100),
        }
        if folder == "queued":
            return ListParams(**common, query=q.get("query") or None)
        return ListParams(
            **common,
            partner=q.get("partnerAS2Id") or None,
            station=q.get("stationAS2Id") or None,
            message_id=q.get("as2MessageId") or None,
            subject=q.get("subject") or None,
            unread_only=folder == "received" and parse_bool(request, "unreadOnly"),
        )

    def list_handler(self, folder: ListFolder) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            total, records = self.folders.list_messages(folder, self._list_params(request, folder))
            return JSONResponse({"totalRecords": total, "records": records})

        return handler

    # -- section 6
    def get_handler(self, folder: ListFolder) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            mark = folder == "received" and parse_bool(request, "markAsRead")
            entity = await run_in_threadpool(
                lambda: self.folders.get_message(
                    folder, request.path_params["message_id"], mark_read=mark
                )
            )
            return JSONResponse(entity)

        return handler

    async def mark_unread(self, request: Request) -> Response:
        mid = request.path_params["message_id"]
        await run_in_threadpool(self.folders.mark_unread, mid)
        return message(200, f"Successfully marked message {mid} as unread")

    # -- section 7
    def attachment_handler(
        self, folder: str, *, index_param: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            index = 0
            if index_param:
                raw = request.path_params["index"]
                try:
                    index = int(raw)
                except ValueError:
                    raise bad_request(f"Invalid attachment index: {raw}") from None
            mark = folder == "received" and parse_bool(request, "markAsRead")
            name, data = await run_in_threadpool(
                lambda: self.folders.attachment(
                    folder, request.path_params["message_id"], index, mark_read=mark
                )
            )
            return _octets(data, name)

        return handler

    def all_attachments_handler(self, folder: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            mid = request.path_params["message_id"]
            mark = folder == "received" and parse_bool(request, "markAsRead")
            files = await run_in_threadpool(
                lambda: self.folders.all_attachments(folder, mid, mark_read=mark)
            )
            fh, size = await run_in_threadpool(zipbatch.write_flat, files)
            return StreamingResponse(
                zipbatch.iter_file(fh),
                media_type="application/octet-stream",
                headers={
                    "Content-Length": str(size),
                    "Content-Disposition": content_disposition("attachments.zip"),
                },
            )

        return handler

    async def batch(self, request: Request) -> Response:
        mark = parse_bool(request, "markAsRead")
        ids = _id_list(await request.body())
        if len(set(ids)) != len(ids):
            raise bad_request("Each AS2 message ID may appear only once in a batch")
        plan = await run_in_threadpool(lambda: self.folders.batch(ids, mark_read=mark))
        fh, size = await run_in_threadpool(zipbatch.write_batch, plan)
        headers = {
            "Content-Length": str(size),
            "Content-Disposition": content_disposition("attachments.zip"),
        }
        status = 200
        if plan.truncation is not None:
            status = 206
            headers["X-Batch-Truncation-Index"] = "({},{})".format(*plan.truncation)
        return StreamingResponse(
            zipbatch.iter_file(fh),
            status_code=status,
            media_type="application/octet-stream",
            headers=headers,
        )

    def mdn_handler(self, folder: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            data = self.folders.mdn(folder, request.path_params["message_id"])
            return _octets(data, "mdn.txt")

        return handler

    # -- section 8
    async def stop(self, request: Request) -> Response:
        mid = request.path_params["message_id"]
        await run_in_threadpool(self.folders.stop, mid)
        return message(200, f"Successfully stopped retrying AS2 message with ID {mid}")

    async def retry(self, request: Request) -> Response:
        mid = request.path_params["message_id"]
        await run_in_threadpool(self.folders.retry, mid)
        return message(200, f"Successfully started retrying AS2 message with ID {mid}")

    # -- section 9
    def delete_one(self, folder: DeleteFolder) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            mid = request.path_params["message_id"]
            count = await run_in_threadpool(self.folders.delete, folder, [mid])
            if not count:
                raise ApiError(404, f"No {folder} AS2 message found with ID {mid}")
            return message(200, "Deleted 1 messages")

        return handler

    def delete_many(self, folder: DeleteFolder) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            ids = _id_list(await request.body())
            count = await run_in_threadpool(self.folders.delete, folder, ids)
            return message(200, f"Deleted {count} messages")

        return handler

    # -- sections 10, 11
    async def partners(self, request: Request) -> Response:
        query = request.query_params.get("query")
        timeout = self.settings.partner_send_timeout
        return JSONResponse(
            [
                entities.partner(spec, number, timeout)
                for spec, number in self.account.numbered_partners()
                if not query or contains(spec.as2_id, query) or contains(spec.name, query)
            ]
        )

    async def stations(self, request: Request) -> Response:
        query = request.query_params.get("query")
        return JSONResponse(
            [
                entities.station(as2_id, number)
                for as2_id, number in self.account.numbered_stations()
                if not query or contains(as2_id, query)
            ]
        )


def v1_routes(
    account: Account, store: MessageStore, folders: Folders, injector: FaultInjector
) -> list[BaseRoute]:
    """Every ``/v1`` route, most specific first (``{message_id:path}`` is greedy)."""
    api = Api(account, store, folders)

    def route(path: str, name: str, handler: Any, method: str, *, auth: bool = True) -> Route:
        endpoint = Endpoint(name, handler, account, injector, auth=auth)
        return Route(path, endpoint, methods=[method], name=name)

    routes: list[BaseRoute] = [
        route("/authorize", "authorize", api.authorize, "POST", auth=False),
        route("/partner", "partner", api.partners, "GET"),
        route("/station", "station", api.stations, "GET"),
        route("/message/received/batch/attachments", "batch", api.batch, "POST"),
    ]
    for folder in ("received", "sent"):
        base = f"/message/{folder}/{{message_id:path}}"
        routes += [
            route(
                f"{base}/attachments/all", "attachment", api.all_attachments_handler(folder), "GET"
            ),
            route(
                f"{base}/attachments/{{index}}",
                "attachment",
                api.attachment_handler(folder, index_param=True),
                "GET",
            ),
            route(
                f"{base}/attachments",
                "attachment",
                api.attachment_handler(folder, index_param=False),
                "GET",
            ),
            route(f"{base}/mdn", "mdn", api.mdn_handler(folder), "GET"),
        ]
    routes += [
        route(
            "/message/received/{message_id:path}/markUnread", "markunread", api.mark_unread, "POST"
        ),
        route("/message/queued/{message_id:path}/stop", "stop", api.stop, "POST"),
        route("/message/queued/{message_id:path}/retry", "retry", api.retry, "POST"),
    ]
    for list_folder in LIST_FOLDERS:
        routes += [
            route(f"/message/{list_folder}", "list", api.list_handler(list_folder), "GET"),
            route(
                f"/message/{list_folder}/{{message_id:path}}",
                "get",
                api.get_handler(list_folder),
                "GET",
            ),
        ]
    for delete_folder in DELETE_FOLDERS:
        for prefix in ("/message", ""):
            routes += [
                route(
                    f"{prefix}/{delete_folder}/{{message_id:path}}",
                    "delete",
                    api.delete_one(delete_folder),
                    "DELETE",
                ),
                route(
                    f"{prefix}/{delete_folder}", "delete", api.delete_many(delete_folder), "DELETE"
                ),
            ]
    routes.append(route("/message/{station}/{partner}", "send", api.send, "POST"))
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = {404: "Resource not found", 405: "Method not allowed"}.get(exc.status_code, exc.detail)
    return message(exc.status_code, f"{text}: {request.method} {request.url.path}")


async def _api_error(request: Request, exc: Exception) -> Response:
    del request
    assert isinstance(exc, ApiError)
    return message(exc.status, exc.message, exc.headers)


def create_app(state: EmulatorState) -> ASGIApp:
    """The complete ASGI app: ``/v1`` (behind the gateway middleware) and ``/_admin``, each
    given the parts of ``state`` it uses."""
    account, store, injector = state.account, state.store, state.fault_injector
    app = Starlette(
        routes=[
            Mount("/v1", routes=v1_routes(account, store, state.folders, injector)),
            Mount("/_admin", routes=admin_routes(account, store, injector, state.journal)),
        ],
        exception_handlers={HTTPException: _http_error, ApiError: _api_error},
    )
    return GatewayMiddleware(app, account, injector, state.journal)
