"""Spec sections 10 and 11: partner and station lists; unknown routes."""

from __future__ import annotations

import httpx

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor


def test_partner_list_has_every_partner_with_spec_fields(api: httpx.Client) -> None:
    partners = api.get("/partner").json()
    assert [p["as2Identifier"] for p in partners] == ["ACME", "LOOP", "DOWN"]
    first = partners[0]
    for key in (
        "partnerId",
        "name",
        "uri",
        "encryptCert",
        "signCert",
        "partnerType",
        "pauseIncoming",
        "pauseOutgoing",
        "requestMdn",
        "customHeaders",
        "flows",
    ):
        assert key in first
    assert first["partnerType"] == "Production"
    assert isinstance(first["encryptCert"]["id"], int)


def test_partners_show_how_long_a_send_may_take_as_send_timeout(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> None:
    # By default, what the emulator really takes (its delivery delay, at least 1 s); else as set.
    for overrides, expected in (
        ({"delivery_delay": 0.05}, 1),
        ({"delivery_delay": 2.5}, 3),
        ({"send_timeout": 300}, 300),
    ):
        partners = client_for(make_emulator(**overrides)).get("/partner").json()
        assert {p["sendTimeout"] for p in partners} == {expected}


def test_partner_query_matches_partially_and_case_insensitively(api: httpx.Client) -> None:
    assert [p["as2Identifier"] for p in api.get("/partner", params={"query": "oo"}).json()] == [
        "LOOP"
    ]
    assert api.get("/partner", params={"query": "nobody"}).json() == []


def test_station_list_and_query(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.state.add_station("OTHER")
    stations = api.get("/station").json()
    assert [s["as2Identifier"] for s in stations] == ["MYSTATION", "OTHER"]
    for key in ("id", "email", "certificate", "name", "pinned", "sftpStructure"):
        assert key in stations[0]
    assert [s["as2Identifier"] for s in api.get("/station", params={"query": "my"}).json()] == [
        "MYSTATION"
    ]


def test_unknown_route_is_404_with_json_message(api: httpx.Client) -> None:
    response = api.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["message"]


def test_wrong_method_is_405_with_json_message(api: httpx.Client) -> None:
    response = api.put("/partner")
    assert response.status_code == 405
    assert response.json()["message"]
