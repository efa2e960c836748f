"""Login token: no scheme, reused, renewed before expiry and once after a 401, never leaked."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from as2sync.backends.as2gateway.model import OutboundFile
from as2sync.backends.http.auth import MIN_REUSE_SECONDS, Token, TokenManager, expiry_seconds
from as2sync.errors import AuthError, TransientError
from tests.unit.fake_gateway import PASSWORD, USER, ScriptedGateway, make_client, ok


class WallClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stations_ok(_request: httpx.Request | None = None) -> httpx.Response:
    return ok([{"as2Identifier": "ST1"}])


def test_login_posts_credentials_and_sends_the_token_without_a_scheme() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    with make_client(gateway) as client:
        client.stations()
    (login,) = gateway.logins
    assert login.method == "POST"
    assert login.url.raw_path == b"/v1/authorize"
    assert json.loads(login.content) == {"username": USER, "password": PASSWORD}
    assert "authorization" not in login.headers
    assert gateway.requests[0].headers["Authorization"] == gateway.tokens[0]


def test_token_is_reused_across_requests() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    with make_client(gateway) as client:
        for _ in range(5):
            client.stations()
    assert len(gateway.logins) == 1
    assert {r.headers["Authorization"] for r in gateway.requests} == {gateway.tokens[0]}


def test_token_is_renewed_the_configured_time_before_expiry() -> None:
    clock = WallClock()
    gateway = ScriptedGateway(default=stations_ok, clock=clock, lifetime=3600.0)
    with make_client(gateway, clock=clock, renew_seconds=300.0) as client:
        client.stations()
        clock.now += 3300.0 - 1.0
        client.stations()
        assert len(gateway.logins) == 1
        clock.now += 1.0
        client.stations()
    assert len(gateway.logins) == 2
    assert gateway.requests[-1].headers["Authorization"] == gateway.tokens[1]


def test_expiry_in_seconds_is_understood_as_well_as_milliseconds() -> None:
    assert expiry_seconds(1_700_000_000_000) == 1_700_000_000.0
    assert expiry_seconds(1_700_000_000) == 1_700_000_000.0
    assert expiry_seconds("1700000000000") == 1_700_000_000.0
    assert expiry_seconds(None) is None
    assert expiry_seconds(True) is None
    assert expiry_seconds("soon") is None


def test_expiry_given_in_seconds_renews_on_time() -> None:
    clock = WallClock()
    gateway = ScriptedGateway(default=stations_ok)
    gateway.auth_script = [ok({"token": "tok-in-seconds", "expiry": int(clock.now) + 3600})]
    with make_client(gateway, clock=clock, renew_seconds=300.0) as client:
        client.stations()
        clock.now += 3299.0
        client.stations()
        assert len(gateway.logins) == 1
        clock.now += 1.0
        client.stations()
    assert len(gateway.logins) == 2


def test_short_lived_token_is_renewed_at_half_life_not_before_every_request() -> None:
    clock = WallClock()
    gateway = ScriptedGateway(default=stations_ok, clock=clock, lifetime=120.0)
    with make_client(gateway, clock=clock, renew_seconds=300.0) as client:
        client.stations()
        clock.now += 59.0
        client.stations()
        assert len(gateway.logins) == 1
        clock.now += 1.0
        client.stations()
    assert len(gateway.logins) == 2


def test_expiry_in_the_past_does_not_turn_every_request_into_a_login() -> None:
    clock = WallClock()
    gateway = ScriptedGateway(default=stations_ok, clock=clock, lifetime=-600.0)  # skewed clock
    with make_client(gateway, clock=clock) as client:
        for _ in range(3):
            client.stations()
        assert len(gateway.logins) == 1
        clock.now += MIN_REUSE_SECONDS
        client.stations()
    assert len(gateway.logins) == 2


def test_missing_expiry_still_yields_a_usable_token() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    gateway.auth_script = [ok({"token": "tok-without-expiry"})]
    with make_client(gateway) as client:
        client.stations()
        client.stations()
    assert len(gateway.logins) == 1
    assert gateway.requests[1].headers["Authorization"] == "tok-without-expiry"


def test_401_renews_the_token_once_and_repeats_the_request() -> None:
    gateway = ScriptedGateway(ok({"message": "token expired"}, 401), stations_ok())
    with make_client(gateway) as client:
        stations = client.stations()
    assert [s.as2_id for s in stations] == ["ST1"]
    assert len(gateway.logins) == 2
    assert [r.headers["Authorization"] for r in gateway.requests] == gateway.tokens


def test_second_401_is_an_auth_error_without_a_loop() -> None:
    gateway = ScriptedGateway(default=ok({"message": "no"}, 401))
    with make_client(gateway) as client, pytest.raises(AuthError):
        client.stations()
    assert len(gateway.requests) == 2
    assert len(gateway.logins) == 2


def test_401_from_authorize_is_an_auth_error_and_not_retried() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    gateway.auth_script = [ok({"message": "Invalid credentials"}, 401)] * 5
    sleeps: list[float] = []
    with make_client(gateway, sleeps=sleeps) as client, pytest.raises(AuthError) as raised:
        client.stations()
    assert len(gateway.logins) == 1
    assert gateway.requests == []
    assert sleeps == []
    assert "Invalid credentials" in str(raised.value)


def test_login_that_cannot_connect_is_retried_like_any_idempotent_request() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    gateway.auth_script = [httpx.ConnectError("connection refused")]
    sleeps: list[float] = []
    with make_client(gateway, sleeps=sleeps) as client:
        client.stations()
    assert len(gateway.logins) == 2
    assert len(sleeps) == 1


def test_failed_login_of_a_send_is_transient_because_nothing_was_sent(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    gateway = ScriptedGateway()
    gateway.auth_script = [ok(None, 502), httpx.Response(200, content=b"<html>")]
    with make_client(gateway) as client:
        for _ in range(2):
            with pytest.raises(TransientError):
                client.submit("ST", "PA", [OutboundFile(path, "a.txt", "text/plain", 5)])
    assert gateway.requests == []


def test_concurrent_requests_share_one_login() -> None:
    gateway = ScriptedGateway(default=stations_ok)
    slow_login = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        slow_login.wait(0.05)  # hold the login open while the other threads pile up
        return ok({"token": "tok-shared-0123456789", "expiry": int((time.time() + 3600) * 1000)})

    gateway.auth_script = [slow] * 10
    with make_client(gateway) as client:
        threads = [threading.Thread(target=client.stations) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert len(gateway.logins) == 1
    assert len(gateway.requests) == 8


def test_a_401_seen_late_does_not_discard_a_token_renewed_meanwhile() -> None:
    issued: list[str] = []

    def login() -> Token:
        issued.append(f"tok-{len(issued)}")
        return Token(issued[-1], expires_at=time.time() + 3600, renew_at=time.time() + 3000)

    manager = TokenManager(login)
    stale = manager.token()
    manager.invalidate(stale)  # thread A: 401 with the first token, renews
    fresh = manager.token()
    manager.invalidate(stale)  # thread B: its 401 with the same old token arrives late
    assert manager.token() == fresh
    assert issued == ["tok-0", "tok-1"]


def test_password_and_token_never_appear_in_errors_or_logs() -> None:
    # The gateway echoes secrets back in its error texts; they must be masked anyway.
    gateway = ScriptedGateway(
        lambda r: ok({"message": f"token {r.headers['Authorization']} expired"}, 401)
    )
    gateway.auth_script = [
        ok({"token": "tok-a-0123456789", "expiry": int((time.time() + 3600) * 1000)}),
        ok({"message": f"password {PASSWORD} is wrong"}, 401),
    ]
    with capture_logs() as logs, make_client(gateway) as client, pytest.raises(AuthError) as raised:
        client.stations()
    text = str(raised.value) + repr(raised.value) + json.dumps(logs, default=str)
    assert "is wrong" in str(raised.value)  # the gateway's text is there...
    assert PASSWORD not in text  # ...without the secret
    assert "tok-a-0123456789" not in text
