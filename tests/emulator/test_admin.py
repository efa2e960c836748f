"""The ``/_admin`` namespace: seeding, configuration and inspection over HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from tests.emulator.conftest import plain_client


@pytest.fixture
def admin(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with plain_client(emulator.admin_url) as client:
        yield client


def test_seed_received_message_over_http(
    emulator: RunningEmulator, admin: httpx.Client, api: httpx.Client
) -> None:
    response = admin.post(
        "/received",
        json={
            "station": "MYSTATION",
            "partner": "ACME",
            "subject": "seeded",
            "attachments": [{"name": "a.edi", "content_base64": base64.b64encode(b"ISA").decode()}],
        },
    )
    assert response.status_code == 201
    mid = response.json()["message_id"]
    assert emulator.state.received(mid).attachments == [("a.edi", b"ISA")]
    assert api.get("/message/received").json()["records"][0]["subject"] == "seeded"


def test_seed_for_unknown_partner_is_400(admin: httpx.Client) -> None:
    response = admin.post(
        "/received", json={"station": "MYSTATION", "partner": "NOPE", "attachments": []}
    )
    assert response.status_code == 400


def test_submissions_and_state_show_what_clients_did(
    emulator: RunningEmulator, admin: httpx.Client, api: httpx.Client
) -> None:
    api.post("/message/MYSTATION/ACME", content=b"OUT", headers={"Name": "o.edi"})
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], read=True)
    (sub,) = admin.get("/submissions", params={"content": "true"}).json()
    assert sub["partner"] == "ACME"
    assert sub["attachments"] == [
        {"name": "o.edi", "size": 3, "content_base64": base64.b64encode(b"OUT").decode()}
    ]
    state = admin.get("/state").json()
    assert state["received"][0]["message_id"] == mid
    assert state["received"][0]["read"] is True
    assert state["submissions"] == 1
    assert state["duplicate_submissions"] == []
    assert ["POST", "/v1/message/MYSTATION/ACME", 202] in admin.get("/requests").json()


def test_admin_requests_are_not_logged_or_rate_limited_as_api_calls(
    emulator: RunningEmulator, admin: httpx.Client
) -> None:
    for _ in range(5):
        admin.get("/state")
    assert emulator.state.request_log() == []


def test_faults_and_token_expiry_over_http(
    emulator: RunningEmulator, admin: httpx.Client, api: httpx.Client
) -> None:
    assert admin.post("/faults", json={"error_before": 1.0, "endpoints": ["list"]}).is_success
    assert emulator.state.faults == Faults(error_before=1.0, endpoints=("list",))
    assert api.get("/message/received").status_code >= 500
    assert admin.post("/faults", json={}).is_success
    assert admin.post("/expire-tokens").is_success
    assert api.get("/message/received").status_code == 401


def test_invalid_faults_are_400(admin: httpx.Client) -> None:
    assert admin.post("/faults", json={"drop": 2}).status_code == 400
    assert admin.post("/faults", json={"nonsense": 1}).status_code == 400


def test_add_station_and_partner_over_http(
    emulator: RunningEmulator, admin: httpx.Client, api: httpx.Client
) -> None:
    assert admin.post("/stations", json={"as2_id": "ST2"}).status_code == 201
    assert admin.post("/partners", json={"as2_id": "NEW", "behaviour": "fail"}).status_code == 201
    assert "ST2" in [s["as2Identifier"] for s in api.get("/station").json()]
    assert "NEW" in [p["as2Identifier"] for p in api.get("/partner").json()]
    assert api.post("/message/ST2/NEW", content=b"x", headers={"Name": "a"}).status_code == 202


def test_set_read_over_http(emulator: RunningEmulator, admin: httpx.Client) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    assert admin.post("/read", json={"message_id": mid, "read": True}).is_success
    assert emulator.state.is_read(mid)
