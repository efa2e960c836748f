"""Spec section 2: token authentication."""

from __future__ import annotations

import time

import httpx

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import PASSWORD, USER, ClientFor, ManualClock, plain_client, token_for


def test_authorize_returns_token_and_expiry_in_epoch_milliseconds(anon: httpx.Client) -> None:
    before_ms = time.time() * 1000
    response = anon.post("/authorize", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["token"], str) and body["token"]
    # ~24 hours by default, in milliseconds like persistedTimestamp.
    assert before_ms + 86_000_000 < body["expiry"] < before_ms + 86_500_000


def test_authorize_with_wrong_password_is_401_with_message(anon: httpx.Client) -> None:
    response = anon.post("/authorize", json={"username": USER, "password": "wrong"})
    assert response.status_code == 401
    assert response.json()["message"]


def test_authorize_with_malformed_body_is_400(anon: httpx.Client) -> None:
    response = anon.post("/authorize", content=b"not json")
    assert response.status_code == 400
    assert "message" in response.json()


def test_token_without_scheme_is_accepted(api: httpx.Client) -> None:
    assert api.get("/message/received").status_code == 200


def test_missing_authorization_header_is_401(anon: httpx.Client) -> None:
    response = anon.get("/message/received")
    assert response.status_code == 401
    assert response.json()["message"]


def test_bearer_scheme_on_authorization_header_is_401(
    emulator: RunningEmulator, anon: httpx.Client
) -> None:
    token = token_for(emulator)
    response = anon.get("/message/received", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_forged_token_is_401(emulator: RunningEmulator, anon: httpx.Client) -> None:
    head, payload, _ = token_for(emulator).split(".")
    response = anon.get("/message/received", headers={"Authorization": f"{head}.{payload}.AAAA"})
    assert response.status_code == 401


def test_token_expires_after_ttl_and_a_new_one_works(
    make_emulator: MakeEmulator, clock: ManualClock
) -> None:
    emu = make_emulator(clock=clock, token_ttl=60.0)
    token = token_for(emu)
    with plain_client(emu.base_url) as http:
        clock.advance(59.0)
        assert http.get("/message/received", headers={"Authorization": token}).status_code == 200
        clock.advance(1.0)
        expired = http.get("/message/received", headers={"Authorization": token})
        assert expired.status_code == 401
        assert "expired" in expired.json()["message"].lower()
        fresh = token_for(emu)
        assert http.get("/message/received", headers={"Authorization": fresh}).status_code == 200


def test_expire_tokens_invalidates_every_issued_token(
    emulator: RunningEmulator, client_for: ClientFor
) -> None:
    first, second = client_for(emulator), client_for(emulator)
    emulator.state.expire_tokens()
    assert first.get("/message/received").status_code == 401
    assert second.get("/station").status_code == 401
    assert client_for(emulator).get("/message/received").status_code == 200


def test_issued_tokens_are_recorded_for_leak_checks(emulator: RunningEmulator) -> None:
    first, second = token_for(emulator), token_for(emulator)
    assert first != second
    assert emulator.state.issued_tokens() == [first, second]
