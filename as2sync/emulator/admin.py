"""The admin namespace ``/_admin``: seed, configure and inspect the emulator over HTTP.

It lives outside ``/v1`` so it is never rate-limited, faulted or logged as an API call. It
needs no token but answers only loopback clients (403 otherwise), because the CLI can bind to
other interfaces. Bodies are JSON; attachment contents are base64.

    POST /_admin/received        {"station","partner","attachments":[{"name","content_base64"}],
                                  "subject"?, "partner_type"?, "message_id"?, "read"?}
                                 -> {"message_id"}
    GET  /_admin/submissions     [?content=true to include content_base64]
    GET  /_admin/state           stations, partners, received (with read flags), counters
    GET  /_admin/requests        the /v1 request log [[method, path, status], ...]; with
                                 ?times=true [[method, path, status, arrived_at], ...]
    POST /_admin/read            {"message_id", "read": bool}
    POST /_admin/faults          Faults fields, e.g. {"error_after": 0.5, "endpoints": ["send"]}
    POST /_admin/expire-tokens   every issued token becomes invalid
    POST /_admin/stations        {"as2_id"}
    POST /_admin/partners        {"as2_id", "behaviour"?: ok|echo|fail, "name"?, "partner_type"?,
                                  "pause_outgoing"?}
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from as2sync.emulator.account import Account
from as2sync.emulator.apierror import ApiError, bad_request
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.httputil import message
from as2sync.emulator.journal import Journal
from as2sync.emulator.settings import Faults, PartnerSpec
from as2sync.emulator.store import MessageStore

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

AdminHandler = Callable[[Request], Awaitable[Response]]


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise bad_request("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def _guarded(handler: AdminHandler) -> AdminHandler:
    async def wrapped(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK and not client.startswith("127."):
            return message(403, "The admin interface answers loopback clients only")
        try:
            return await handler(request)
        except ApiError as exc:
            return message(exc.status, exc.message)
        except (ValueError, KeyError, TypeError) as exc:
            return message(400, f"{type(exc).__name__}: {exc}")

    return wrapped


def admin_routes(
    account: Account, store: MessageStore, injector: FaultInjector, journal: Journal
) -> list[BaseRoute]:
    """The ``/_admin`` routes over the parts they seed, configure and inspect."""

    async def seed(request: Request) -> Response:
        body = await _json_object(request)
        try:
            attachments = [
                (a["name"], base64.b64decode(a["content_base64"], validate=True))
                for a in body["attachments"]
            ]
        except (binascii.Error, KeyError, TypeError) as exc:
            raise bad_request(f"attachments: {exc}") from None
        mid = await run_in_threadpool(
            lambda: store.seed_received(
                body["station"],
                body["partner"],
                attachments,
                subject=body.get("subject"),
                partner_type=body.get("partner_type", "production"),
                message_id=body.get("message_id"),
                read=bool(body.get("read", False)),
            )
        )
        return JSONResponse({"message_id": mid}, status_code=201)

    async def submissions(request: Request) -> Response:
        content = request.query_params.get("content", "").lower() in ("1", "true", "yes")
        rows = []
        for sub in journal.submissions():
            row = dataclasses.asdict(sub)
            row["attachments"] = [
                {"name": name, "size": len(data)}
                | ({"content_base64": base64.b64encode(data).decode()} if content else {})
                for name, data in sub.attachments
            ]
            rows.append(row)
        return JSONResponse(rows)

    async def snapshot(request: Request) -> Response:
        del request
        return JSONResponse(journal.snapshot())

    async def requests(request: Request) -> Response:
        if request.query_params.get("times") == "true":
            return JSONResponse([list(r) for r in journal.request_starts()])
        return JSONResponse([list(r) for r in journal.request_log()])

    async def read(request: Request) -> Response:
        body = await _json_object(request)
        store.set_read(body["message_id"], bool(body["read"]))
        return message(200, "ok")

    async def faults(request: Request) -> Response:
        body = await _json_object(request)
        if "endpoints" in body and body["endpoints"] is not None:
            body["endpoints"] = tuple(body["endpoints"])
        if "error_statuses" in body:
            body["error_statuses"] = tuple(body["error_statuses"])
        injector.set(Faults(**body))
        return message(200, "faults updated")

    async def expire_tokens(request: Request) -> Response:
        del request
        account.expire_tokens()
        return message(200, "all tokens expired")

    async def add_station(request: Request) -> Response:
        body = await _json_object(request)
        account.add_station(str(body["as2_id"]))
        return message(201, f"station {body['as2_id']} added")

    async def add_partner(request: Request) -> Response:
        body = await _json_object(request)
        spec = PartnerSpec(
            str(body["as2_id"]),
            body.get("behaviour", "ok"),
            body.get("name", ""),
            body.get("partner_type", "Production"),
            bool(body.get("pause_outgoing", False)),
        )
        account.add_partner(spec)
        return message(201, f"partner {spec.as2_id} added")

    table: list[tuple[str, str, AdminHandler]] = [
        ("/received", "POST", seed),
        ("/submissions", "GET", submissions),
        ("/state", "GET", snapshot),
        ("/requests", "GET", requests),
        ("/read", "POST", read),
        ("/faults", "POST", faults),
        ("/expire-tokens", "POST", expire_tokens),
        ("/stations", "POST", add_station),
        ("/partners", "POST", add_partner),
    ]
    return [Route(path, _guarded(handler), methods=[method]) for path, method, handler in table]
