"""Spec section 1: "API calls are rate-limited at 50 requests per each 10-second period"."""

from __future__ import annotations

import time

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ManualClock, plain_client, token_for


def test_default_limit_is_50_per_10_seconds_and_the_51st_is_429(
    make_emulator: MakeEmulator, clock: ManualClock
) -> None:
    emu = make_emulator(clock=clock, rate_limit=(50, 10.0))
    token = token_for(emu)  # request 1
    with plain_client(emu.base_url, {"Authorization": token}) as api:
        statuses = [api.get("/station").status_code for _ in range(49)]
        assert statuses == [200] * 49
        limited = api.get("/station")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "10"
        assert limited.json()["message"]
        clock.advance(9.9)
        assert api.get("/station").status_code == 429
        clock.advance(0.1)
        assert api.get("/station").status_code == 200


def test_window_slides_and_retry_after_is_whole_seconds(
    make_emulator: MakeEmulator, clock: ManualClock
) -> None:
    emu = make_emulator(clock=clock, rate_limit=(5, 1.0))
    with plain_client(emu.base_url) as http:
        for _ in range(3):
            http.get("/station")
        clock.advance(0.5)
        for _ in range(2):
            http.get("/station")
        refused = http.get("/station")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        clock.advance(0.5)  # the first three leave the window
        assert [http.get("/station").status_code for _ in range(4)] == [401, 401, 401, 429]


def test_refused_requests_do_not_extend_the_wait(
    make_emulator: MakeEmulator, clock: ManualClock
) -> None:
    emu = make_emulator(clock=clock, rate_limit=(2, 1.0))
    with plain_client(emu.base_url) as http:
        http.get("/station")
        http.get("/station")
        for _ in range(10):
            assert http.get("/station").status_code == 429
        clock.advance(1.0)
        assert http.get("/station").status_code == 401


def test_429s_are_visible_in_the_request_log(
    make_emulator: MakeEmulator, clock: ManualClock
) -> None:
    emu = make_emulator(clock=clock, rate_limit=(5, 1.0))
    with plain_client(emu.base_url) as http:
        for _ in range(7):
            http.get("/message/received")
    # A request is logged as it ends, which may be just after its client has the answer.
    deadline = time.monotonic() + 5.0
    while len(emu.state.request_log()) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    statuses = [status for _, _, status in emu.state.request_log()]
    assert statuses == [401] * 5 + [429] * 2
    assert emu.state.fault_counts()["rate_limited"] == 2


def test_rate_limit_none_never_refuses(emulator: RunningEmulator) -> None:
    with plain_client(emulator.base_url) as http:
        assert {http.get("/station").status_code for _ in range(60)} == {401}
