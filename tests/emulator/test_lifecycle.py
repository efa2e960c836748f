"""Spec 4.7 (queueing), 5.3 (failed), 8 (stop/retry) and the echo partner, on a manual clock."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import httpx

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor, ManualClock


def _send(api: httpx.Client, partner: str, name: str = "po.edi", data: bytes = b"ISA*1") -> str:
    response = api.post(f"/message/MYSTATION/{partner}", content=data, headers={"Name": name})
    assert response.status_code == 202
    return unquote(response.headers["Link"].rsplit("/", 1)[1])


def _ids(api: httpx.Client, folder: str) -> list[str]:
    response = api.get(f"/message/{folder}")
    assert response.status_code == 200
    return [r["as2MessageId"] for r in response.json()["records"]]


def test_submitted_message_is_queued_until_the_delivery_delay(
    capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "ACME")
    assert _ids(capi, "queued") == [mid]
    assert _ids(capi, "sent") == []
    # The Link target is not available yet (spec 4.5.1).
    assert capi.get(f"/message/sent/{quote(mid)}").status_code == 404
    clock.advance(0.999)
    assert _ids(capi, "queued") == [mid]


def test_delivered_message_is_sent_with_delivered_status_and_mdn(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "ACME")
    clock.advance(1.0)
    assert _ids(capi, "queued") == []
    entity = capi.get(f"/message/sent/{quote(mid)}").json()
    assert entity["as2MessageId"] == mid
    assert entity["deliveryStatus"] == "Delivered"
    assert entity["mdnStatus"] == "Received"
    assert entity["transportStatusReceived"] == 200
    assert entity["mdnMessage"]["mdnError"] is False
    assert entity["mdnMessage"]["content"]
    assert entity["attachments"] == [{"name": "po.edi", "size": 5}]
    assert (entity["senderId"], entity["receiverId"]) == ("MYSTATION", "ACME")
    assert clocked.state.submissions()[0].status == "sent"


def test_fail_partner_gives_one_failed_record_per_attempt_then_stops(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "DOWN")
    clock.advance(1.0)
    assert _ids(capi, "failed") == [mid]
    assert _ids(capi, "queued") == [mid]  # still retrying
    clock.advance(2.0)
    failed = capi.get("/message/failed").json()
    assert failed["totalRecords"] == 3
    assert {r["as2MessageId"] for r in failed["records"]} == {mid}
    assert all(r["deliveryStatus"] == "Not Delivered" for r in failed["records"])
    assert _ids(capi, "queued") == []
    assert _ids(capi, "sent") == []
    assert capi.get(f"/message/sent/{quote(mid)}").status_code == 404
    assert capi.get(f"/message/failed/{quote(mid)}").status_code == 200
    assert clocked.state.submissions()[0].status == "stopped"


def test_stop_keeps_a_queued_message_from_being_sent(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "ACME")
    response = capi.post(f"/message/queued/{quote(mid)}/stop")
    assert response.status_code == 200
    assert response.json()["message"] == f"Successfully stopped retrying AS2 message with ID {mid}"
    clock.advance(5.0)
    assert _ids(capi, "sent") == []
    assert _ids(capi, "queued") == []
    assert clocked.state.submissions()[0].status == "stopped"


def test_retry_resumes_a_stopped_message(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "ACME")
    capi.post(f"/message/queued/{quote(mid)}/stop")
    response = capi.post(f"/message/queued/{quote(mid)}/retry")
    assert response.status_code == 200
    assert response.json()["message"] == f"Successfully started retrying AS2 message with ID {mid}"
    assert _ids(capi, "queued") == [mid]
    clock.advance(1.0)
    assert _ids(capi, "sent") == [mid]


def test_retry_of_an_exhausted_fail_partner_message_fails_again(
    capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "DOWN")
    clock.advance(3.0)
    assert capi.post(f"/message/queued/{quote(mid)}/retry").status_code == 200
    clock.advance(3.0)
    assert capi.get("/message/failed").json()["totalRecords"] == 6


def test_stop_and_retry_of_unknown_ids_are_404(capi: httpx.Client) -> None:
    assert capi.post("/message/queued/%3Cnope%3E/stop").status_code == 404
    assert capi.post("/message/queued/%3Cnope%3E/retry").status_code == 404


def test_stop_of_a_sent_message_is_404(capi: httpx.Client, clock: ManualClock) -> None:
    mid = _send(capi, "ACME")
    clock.advance(1.0)
    assert capi.post(f"/message/queued/{quote(mid)}/stop").status_code == 404


def test_echo_partner_sends_the_attachments_back_as_a_received_message(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    sent_id = _send(capi, "LOOP", name="order.edi", data=b"ISA*echo")
    clock.advance(1.0)
    assert _ids(capi, "sent") == [sent_id]
    assert _ids(capi, "received") == []
    clock.advance(1.0)
    (record,) = capi.get("/message/received").json()["records"]
    assert record["as2MessageId"] != sent_id
    assert re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", record["as2MessageId"])
    assert record["attachments"] == [{"name": "order.edi", "size": 8}]
    assert record["persistedTimestamp"] == int(clock.now * 1000)
    (view,) = [clocked.state.received(m) for m in clocked.state.received_ids()]
    assert (view.station, view.partner, view.attachments) == (
        "MYSTATION",
        "LOOP",
        [("order.edi", b"ISA*echo")],
    )
    assert clocked.state.submissions()[0].echo_id == record["as2MessageId"]


def test_echo_happens_once_per_sent_message(capi: httpx.Client, clock: ManualClock) -> None:
    _send(capi, "LOOP")
    clock.advance(10.0)
    assert len(_ids(capi, "received")) == 1
    clock.advance(10.0)
    assert len(_ids(capi, "received")) == 1


def test_queued_entity_has_pending_status_and_no_attachments_by_default(
    capi: httpx.Client,
) -> None:
    mid = _send(capi, "ACME")
    entity = capi.get(f"/message/queued/{quote(mid)}").json()
    assert entity["as2MessageId"] == mid
    assert entity["mdnStatus"] == "Pending"
    assert "attachments" not in entity  # spec 6.4: "may be missing"


def test_stopped_entry_is_still_found_under_queued_by_id(
    capi: httpx.Client, clock: ManualClock
) -> None:
    mid = _send(capi, "DOWN")
    clock.advance(3.0)
    assert _ids(capi, "queued") == []
    assert capi.get(f"/message/queued/{quote(mid)}").status_code == 200


def test_queued_attachments_can_be_switched_on(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> None:
    emu = make_emulator(queued_attachments=True, delivery_delay=60.0)
    api = client_for(emu)
    mid = _send(api, "ACME", name="q.edi", data=b"123")
    assert api.get(f"/message/queued/{quote(mid)}").json()["attachments"] == [
        {"name": "q.edi", "size": 3}
    ]
