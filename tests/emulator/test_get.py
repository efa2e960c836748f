"""Spec section 6: retrieving single messages, markAsRead and markUnread."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from tests.emulator.conftest import ManualClock


def _unread(api: httpx.Client) -> list[str]:
    records = api.get("/message/received", params={"unreadOnly": "true"}).json()["records"]
    return [r["as2MessageId"] for r in records]


def test_get_received_returns_the_message_entity(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"123")], subject="Hi")
    response = api.get(f"/message/received/{quote(mid)}")
    assert response.status_code == 200
    entity = response.json()
    assert entity["as2MessageId"] == mid
    assert entity["subject"] == "Hi"
    assert entity["attachments"] == [{"name": "a.edi", "size": 3}]
    assert emulator.state.is_read(mid) is False


def test_get_with_mark_as_read_hides_the_message_from_unread_lists(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"1")])
    assert _unread(api) == [mid]
    assert api.get(f"/message/received/{quote(mid)}", params={"markAsRead": "true"}).is_success
    assert emulator.state.is_read(mid) is True
    assert _unread(api) == []


def test_mark_unread_restores_the_message_to_unread_lists(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"1")], read=True)
    response = api.post(f"/message/received/{quote(mid)}/markUnread")
    assert response.status_code == 200
    assert response.json() == {"message": f"Successfully marked message {mid} as unread"}
    assert emulator.state.is_read(mid) is False
    assert _unread(api) == [mid]


def test_mark_unread_of_unknown_message_is_404(api: httpx.Client) -> None:
    assert api.post("/message/received/%3Cnope%3E/markUnread").status_code == 404


@pytest.mark.parametrize("folder", ["received", "sent", "failed", "queued"])
def test_get_unknown_message_is_404_with_message(api: httpx.Client, folder: str) -> None:
    response = api.get(f"/message/{folder}/%3Cnobody@nowhere%3E")
    assert response.status_code == 404
    assert "<nobody@nowhere>" in response.json()["message"]


def test_ids_with_reserved_characters_work_when_percent_encoded(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received(
        "MYSTATION", "ACME", [("a", b"1")], message_id="<AS2-a+b/c==$7@ACME>"
    )
    response = api.get(f"/message/received/{quote(mid, safe='')}")
    assert response.status_code == 200
    assert response.json()["as2MessageId"] == mid


def test_message_ids_are_matched_exactly_including_brackets(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    assert api.get(f"/message/received/{quote(mid.strip('<>'))}").status_code == 404


def test_get_failed_returns_the_latest_attempt(capi: httpx.Client, clock: ManualClock) -> None:
    link = capi.post("/message/MYSTATION/DOWN", content=b"1", headers={"Name": "a"}).headers["Link"]
    mid = link.rsplit("/", 1)[1]
    clock.advance(10.0)
    entity = capi.get(f"/message/failed/{quote(mid)}").json()
    assert entity["as2MessageId"] == mid
    assert entity["persistedTimestamp"] == int((clock.now - 10.0 + 3.0) * 1000)
    assert entity["deliveryStatus"] == "Not Delivered"
