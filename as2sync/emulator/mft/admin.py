"""The MFT front-end's additions to ``/_admin`` (the shared routes of
:mod:`as2sync.emulator.admin` are mounted beside them):

    POST /_admin/mft             MftSettings fields to change, e.g. {"list_marks_read": true}
                                 -> the switches now in force
    GET  /_admin/mft             the switches in force
    GET  /_admin/exchanges       every request as it arrived: [{"method", "path", "origin",
                                 "query": [[name, value], ...], "headers": [[name, value], ...]}]
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from as2sync.emulator.admin import _guarded, _json_object
from as2sync.emulator.journal import Journal
from as2sync.emulator.mft.settings import Switches


def mft_admin_routes(switches: Switches, journal: Journal) -> list[BaseRoute]:
    async def get_switches(request: Request) -> Response:
        del request
        return JSONResponse(dataclasses.asdict(switches.current))

    async def set_switches(request: Request) -> Response:
        body = await _json_object(request)
        return JSONResponse(dataclasses.asdict(switches.update(**body)))

    async def exchanges(request: Request) -> Response:
        del request
        return JSONResponse(
            [
                {
                    "method": e.method,
                    "path": e.path,
                    "origin": e.origin,
                    "query": [list(p) for p in e.query],
                    "headers": [list(h) for h in e.headers],
                }
                for e in journal.exchanges()
            ]
        )

    return [
        Route("/mft", _guarded(get_switches), methods=["GET"]),
        Route("/mft", _guarded(set_switches), methods=["POST"]),
        Route("/exchanges", _guarded(exchanges), methods=["GET"]),
    ]
