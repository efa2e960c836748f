"""Spec section 9: deleting messages, single and bulk."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from tests.emulator.conftest import ManualClock


def _received(emu: RunningEmulator, n: int) -> list[str]:
    return [emu.state.seed_received("MYSTATION", "ACME", [("a", b"1")]) for _ in range(n)]


@pytest.mark.parametrize("prefix", ["/message", ""])
def test_delete_single_received_message(
    emulator: RunningEmulator, api: httpx.Client, prefix: str
) -> None:
    mid, keep = _received(emulator, 2)
    response = api.delete(f"{prefix}/received/{quote(mid)}")
    assert response.status_code == 200
    assert response.json()["message"]
    assert emulator.state.received_ids() == [keep]
    assert api.get(f"/message/received/{quote(mid)}").status_code == 404


def test_delete_single_unknown_message_is_404(api: httpx.Client) -> None:
    assert api.delete("/message/received/%3Cnope%3E").status_code == 404


@pytest.mark.parametrize("prefix", ["/message", ""])
def test_bulk_delete_reports_how_many_were_deleted(
    emulator: RunningEmulator, api: httpx.Client, prefix: str
) -> None:
    ids = _received(emulator, 3)
    response = api.request("DELETE", f"{prefix}/received", json=[*ids[:2], "<unknown@x>"])
    assert response.status_code == 200
    assert response.json() == {"message": "Deleted 2 messages"}
    assert emulator.state.received_ids() == ids[2:]


def test_bulk_delete_of_more_than_100_ids_is_400(api: httpx.Client) -> None:
    ids = [f"<{i}@x>" for i in range(101)]
    assert api.request("DELETE", "/message/received", json=ids).status_code == 400


def test_delete_sent_message_hides_it_from_the_sent_list(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    link = capi.post("/message/MYSTATION/ACME", content=b"1", headers={"Name": "a"}).headers["Link"]
    mid = link.rsplit("/", 1)[1]
    clock.advance(1.0)
    assert capi.delete(f"/message/sent/{quote(mid)}").status_code == 200
    assert capi.get("/message/sent").json()["totalRecords"] == 0
    # The submission itself is still visible to tests.
    assert [s.message_id for s in clocked.state.submissions()] == [mid]


def test_delete_queued_entry_means_it_is_never_sent(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    link = capi.post("/message/MYSTATION/ACME", content=b"1", headers={"Name": "a"}).headers["Link"]
    mid = link.rsplit("/", 1)[1]
    assert capi.delete(f"/message/queued/{quote(mid)}").status_code == 200
    clock.advance(5.0)
    assert capi.get("/message/sent").json()["totalRecords"] == 0
    assert capi.get("/message/queued").json()["totalRecords"] == 0


def test_delete_stopped_and_failed_entries(capi: httpx.Client, clock: ManualClock) -> None:
    link = capi.post("/message/MYSTATION/DOWN", content=b"1", headers={"Name": "a"}).headers["Link"]
    mid = link.rsplit("/", 1)[1]
    clock.advance(5.0)
    assert capi.request("DELETE", "/message/failed", json=[mid]).json()["message"] == (
        "Deleted 1 messages"
    )
    assert capi.get("/message/failed").json()["totalRecords"] == 0
    assert capi.delete(f"/message/stopped/{quote(mid)}").status_code == 200
    assert capi.get(f"/message/queued/{quote(mid)}").status_code == 404
