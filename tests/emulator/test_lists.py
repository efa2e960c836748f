"""Spec section 5: listing messages (pagination, sorting, filters, unreadOnly, queued query)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor, ManualClock

BASE_MS = 1_700_000_000_000


def _seed(emu: RunningEmulator, n: int, **kwargs: Any) -> list[str]:
    """``n`` received messages from ACME, 1 s apart, subjects "S0".."Sn"."""
    return [
        emu.state.seed_received(
            "MYSTATION",
            kwargs.get("partner", "ACME"),
            [(f"f{i}.edi", b"x" * (i + 1))],
            subject=f"S{i}",
            persisted_ms=BASE_MS + i * 1000,
        )
        for i in range(n)
    ]


def _ids(api: httpx.Client, folder: str = "received", **params: Any) -> list[str]:
    response = api.get(f"/message/{folder}", params=params)
    assert response.status_code == 200, response.text
    return [r["as2MessageId"] for r in response.json()["records"]]


def test_list_is_a_pagination_of_as2_message_entities(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    (mid,) = _seed(emulator, 1)
    body = api.get("/message/received").json()
    assert body["totalRecords"] == 1
    (record,) = body["records"]
    assert record["as2MessageId"] == mid
    assert record["persistedTimestamp"] == BASE_MS
    assert record["subject"] == "S0"
    assert record["partnerType"] == "Production"
    assert record["attachments"] == [{"name": "f0.edi", "size": 1}]
    for key in ("compressed", "encrypted", "signed"):
        assert isinstance(record[key], bool)
    assert record["mdnStatus"] in ("Pending", "Received", "Not Requested", "No MDN")
    assert {"persistedTimestamp", "mdnError", "content"} <= set(record["mdnMessage"])


def test_subject_is_omitted_when_there_is_none(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], subject=None)
    (record,) = api.get("/message/received").json()["records"]
    assert "subject" not in record


def test_default_page_is_ten_newest_first(emulator: RunningEmulator, api: httpx.Client) -> None:
    ids = _seed(emulator, 12)
    body = api.get("/message/received").json()
    assert body["totalRecords"] == 12
    assert [r["as2MessageId"] for r in body["records"]] == ids[::-1][:10]


def test_page_offset_is_a_page_number(emulator: RunningEmulator, api: httpx.Client) -> None:
    ids = _seed(emulator, 7)
    pages = [_ids(api, pageLength=3, pageOffset=p, sortDir="asc") for p in range(4)]
    assert pages == [ids[0:3], ids[3:6], ids[6:7], []]


@pytest.mark.parametrize("length", ["0", "101", "-1", "ten"])
def test_page_length_outside_1_to_100_is_400(api: httpx.Client, length: str) -> None:
    response = api.get("/message/received", params={"pageLength": length})
    assert response.status_code == 400
    assert response.json()["message"]


def test_page_length_100_is_accepted(api: httpx.Client) -> None:
    assert api.get("/message/received", params={"pageLength": 100}).status_code == 200


def test_negative_page_offset_is_400(api: httpx.Client) -> None:
    assert api.get("/message/received", params={"pageOffset": -1}).status_code == 400


def test_sort_by_subject_ascending(emulator: RunningEmulator, api: httpx.Client) -> None:
    a = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], subject="beta")
    b = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], subject="alpha")
    c = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], subject="gamma")
    assert _ids(api, sortCol="subject", sortDir="asc") == [b, a, c]
    assert _ids(api, sortCol="subject", sortDir="desc") == [c, a, b]


def test_sort_by_sender_id(make_emulator: MakeEmulator, client_for: ClientFor) -> None:
    emu = make_emulator(partners=(PartnerSpec("ZED"), PartnerSpec("ACME"), PartnerSpec("MID")))
    api = client_for(emu)
    ids = {
        p: emu.state.seed_received("MYSTATION", p, [("a", b"1")]) for p in ("ZED", "ACME", "MID")
    }
    assert _ids(api, sortCol="senderId", sortDir="asc") == [ids["ACME"], ids["MID"], ids["ZED"]]


@pytest.mark.parametrize(
    ("param", "value"), [("sortCol", "size"), ("sortDir", "up"), ("partnerType", "staging")]
)
def test_invalid_sort_or_partner_type_is_400(api: httpx.Client, param: str, value: str) -> None:
    assert api.get("/message/received", params={param: value}).status_code == 400


def test_partner_type_defaults_to_production(emulator: RunningEmulator, api: httpx.Client) -> None:
    prod = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    test = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], partner_type="test")
    assert _ids(api) == [prod]
    assert _ids(api, partnerType="test") == [test]
    (record,) = api.get("/message/received", params={"partnerType": "test"}).json()["records"]
    assert record["partnerType"] == "Test"


def test_filters_are_combined_with_and(make_emulator: MakeEmulator, client_for: ClientFor) -> None:
    emu = make_emulator(stations=("ST1", "ST2"))
    api = client_for(emu)
    seed = emu.state.seed_received
    a = seed("ST1", "ACME", [("a", b"1")], subject="Invoice 1")
    b = seed("ST2", "ACME", [("a", b"1")], subject="Invoice 2")
    c = seed("ST1", "LOOP", [("a", b"1")], subject="Order 3")
    assert set(_ids(api, partnerAS2Id="ACME")) == {a, b}
    assert set(_ids(api, stationAS2Id="ST1")) == {a, c}
    assert _ids(api, partnerAS2Id="ACME", stationAS2Id="ST1") == [a]
    assert set(_ids(api, subject="invoice")) == {a, b}
    assert _ids(api, subject="invoice", stationAS2Id="ST2") == [b]
    assert _ids(api, as2MessageId=c) == [c]
    assert _ids(api, as2MessageId=c, partnerAS2Id="ACME") == []


def test_message_id_filter_with_plus_and_equals_signs(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received(
        "MYSTATION", "ACME", [("a", b"1")], message_id="<AS2-ab+cd==$1@ACME>"
    )
    emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    assert _ids(api, as2MessageId=mid) == [mid]


def test_unread_only_skips_messages_marked_read(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    a, b = _seed(emulator, 2)
    emulator.state.set_read(a, True)
    assert _ids(api, unreadOnly="true") == [b]
    assert set(_ids(api, unreadOnly="false")) == {a, b}
    assert set(_ids(api)) == {a, b}


def test_unread_only_with_invalid_boolean_is_400(api: httpx.Client) -> None:
    assert api.get("/message/received", params={"unreadOnly": "maybe"}).status_code == 400


def test_queued_list_uses_a_single_query_parameter(
    clocked: RunningEmulator, capi: httpx.Client
) -> None:
    api, emulator = capi, clocked
    api.post(
        "/message/MYSTATION/ACME", content=b"1", headers={"Name": "a"}, params={"subject": "PO"}
    )
    api.post("/message/MYSTATION/LOOP", content=b"2", headers={"Name": "b"})
    acme, loop = (s.message_id for s in emulator.state.submissions())
    assert _ids(api, "queued", query="ACME") == [acme]
    assert _ids(api, "queued", query=loop) == [loop]
    assert _ids(api, "queued", query="PO") == [acme]
    assert set(_ids(api, "queued")) == {acme, loop}
    # The four per-field filters do not apply to the queued list.
    assert set(_ids(api, "queued", partnerAS2Id="ACME")) == {acme, loop}


@pytest.mark.parametrize("sides", ["spec", "swapped"])
def test_received_sender_and_receiver_follow_the_configured_reading(
    make_emulator: MakeEmulator, client_for: ClientFor, sides: str
) -> None:
    emu = make_emulator(received_sides=sides)
    emu.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    (record,) = client_for(emu).get("/message/received").json()["records"]
    expected = ("MYSTATION", "ACME") if sides == "spec" else ("ACME", "MYSTATION")
    assert (record["senderId"], record["receiverId"]) == expected


def test_sent_list_filters_by_partner(
    clocked: RunningEmulator, capi: httpx.Client, clock: ManualClock
) -> None:
    capi.post("/message/MYSTATION/ACME", content=b"1", headers={"Name": "a"})
    capi.post("/message/MYSTATION/LOOP", content=b"2", headers={"Name": "b"})
    acme = clocked.state.submissions()[0].message_id
    assert _ids(capi, "sent", partnerAS2Id="ACME") == []
    clock.advance(1.0)
    assert _ids(capi, "sent", partnerAS2Id="ACME") == [acme]
    assert len(_ids(capi, "sent")) == 2
