"""The emulator is a real server: concurrent clients, real time, small delays."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from as2sync.emulator.server import RunningEmulator
from tests.emulator.conftest import plain_client, token_for


def test_concurrent_sends_are_all_recorded_with_distinct_ids(emulator: RunningEmulator) -> None:
    token = token_for(emulator)

    def send(i: int) -> str:
        with plain_client(emulator.base_url, {"Authorization": token}) as api:
            response = api.post(
                "/message/MYSTATION/ACME", content=f"{i}".encode(), headers={"Name": f"{i}.txt"}
            )
            assert response.status_code == 202
            return response.headers["Link"].rsplit("/", 1)[1]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(send, range(40)))
    assert len(set(ids)) == 40
    assert sorted(ids) == sorted(s.message_id for s in emulator.state.submissions())
    assert emulator.state.duplicate_submissions() == 0


def test_echo_round_trip_in_real_time(emulator: RunningEmulator, api: httpx.Client) -> None:
    api.post("/message/MYSTATION/LOOP", content=b"ISA*rt", headers={"Name": "rt.edi"})
    deadline = time.monotonic() + 5
    records: list[dict[str, object]] = []
    while time.monotonic() < deadline and not records:
        records = api.get("/message/received", params={"unreadOnly": "true"}).json()["records"]
        time.sleep(0.02)
    assert [r["attachments"] for r in records] == [[{"name": "rt.edi", "size": 6}]]
    assert api.get("/message/sent").json()["totalRecords"] == 1
