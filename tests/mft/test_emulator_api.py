"""The MFT Gateway emulator's API as a client sees it (raw HTTP): what the backend is built
against, following seed 003 and the fact sheet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from as2sync.emulator.mft.keys import INTERNAL_ID_BASE
from as2sync.emulator.mft.server import RunningMftEmulator, running_mft_emulator
from as2sync.emulator.mft.settings import MftSettings
from as2sync.emulator.settings import Faults, PartnerSpec
from tests.conftest import EMULATOR_DEFAULTS
from tests.mft.conftest import PASSWORD, USER, MakeMft, ManualClock, login

SEND = {"AS2-From": "MYSTATION", "AS2-To": "ACME"}


def q(identifier: str) -> str:
    return quote(identifier, safe="")


def seed(emu: RunningMftEmulator, count: int) -> list[str]:
    return [
        emu.state.seed_received(
            "MYSTATION", "ACME", [(f"f{i}.edi", f"data {i}".encode())], persisted_ms=1000 + i
        )
        for i in range(count)
    ]


# -- authorization ---------------------------------------------------------------------------


def test_authorize_gives_new_names_and_a_bad_password_is_401(mft: RunningMftEmulator) -> None:
    body = login(mft)
    assert set(body) == {"apiToken", "refreshToken"}
    bad = httpx.post(f"{mft.base_url}/authorize", json={"username": USER, "password": "nope"})
    assert bad.status_code == 401
    assert "message" in bad.json()


def test_token_goes_without_scheme(mft: RunningMftEmulator) -> None:
    token = login(mft)["apiToken"]
    bare = httpx.get(f"{mft.base_url}/message/inbox", headers={"Authorization": token})
    bearer = httpx.get(
        f"{mft.base_url}/message/inbox", headers={"Authorization": f"Bearer {token}"}
    )
    missing = httpx.get(f"{mft.base_url}/message/inbox")
    assert (bare.status_code, bearer.status_code, missing.status_code) == (200, 401, 401)


def test_refresh_session_trades_the_refresh_token_and_survives_forced_expiry(
    mft: RunningMftEmulator,
) -> None:
    tokens = login(mft)
    mft.state.expire_tokens()
    old = httpx.get(f"{mft.base_url}/message/inbox", headers={"Authorization": tokens["apiToken"]})
    assert old.status_code == 401
    fresh = httpx.post(
        f"{mft.base_url}/refresh-session",
        json={"username": USER, "refreshToken": tokens["refreshToken"]},
    )
    assert fresh.status_code == 200
    assert set(fresh.json()) == {"apiToken", "refreshToken"}
    again = httpx.get(
        f"{mft.base_url}/message/inbox", headers={"Authorization": fresh.json()["apiToken"]}
    )
    assert again.status_code == 200


@pytest.mark.parametrize("how", ["bad token", "api token", "switch"])
def test_failed_refresh_is_500(mft: RunningMftEmulator, how: str) -> None:
    tokens = login(mft)
    token = {"bad token": "x.y.z", "api token": tokens["apiToken"]}.get(how, tokens["refreshToken"])
    if how == "switch":
        mft.switches.update(refresh_fails=True)
    response = httpx.post(
        f"{mft.base_url}/refresh-session", json={"username": USER, "refreshToken": token}
    )
    assert response.status_code == 500
    assert response.json() == {"message": "Error occurred while refreshing the user session"}


# -- submit ----------------------------------------------------------------------------------


def test_submit_one_file_raw_with_attachment_name(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    response = api.post(
        "/message/submit",
        content=b"ISA*00",
        headers={**SEND, "Attachment-Name": "po.edi", "Subject": "s1", "Content-Type": "x/y"},
    )
    assert response.status_code == 202
    mid = response.json()["identifier"]
    assert response.headers["Link"] == f"{mft.base_url}/message/outbox/{mid}"
    (sub,) = mft.state.submissions()
    assert (sub.message_id, sub.attachments, sub.subject) == (mid, [("po.edi", b"ISA*00")], "s1")
    assert sub.content_types == ["x/y"]


def test_submit_several_files_as_multipart_file_parts(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    files = [("File", ("a.txt", b"A")), ("File", ("b.txt", b"B"))]
    response = api.post("/message/submit", files=files, headers=SEND)
    assert response.status_code == 202
    (sub,) = mft.state.submissions()
    assert sub.attachments == [("a.txt", b"A"), ("b.txt", b"B")]
    lower = api.post("/message/submit", files=[("file", ("c.txt", b"C"))], headers=SEND)
    assert lower.status_code == 400  # the part is "File"


@pytest.mark.parametrize("key", ["identifier", "messageIdentifier", "as2MessageId", None])
def test_submit_id_key_is_switchable(mft: RunningMftEmulator, api: httpx.Client, key: str) -> None:
    mft.switches.update(submit_id_key=key)
    response = api.post("/message/submit", content=b"x", headers={**SEND, "Attachment-Name": "a"})
    body = response.json()
    assert body["message"] == "Message queued successfully"
    assert (set(body) - {"message"}) == ({key} if key else set())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"AS2-From": "MYSTATION", "AS2-To": "NOBODY"}, 422),
        ({"AS2-From": "NOSTATION", "AS2-To": "ACME"}, 422),
        ({"AS2-From": "MYSTATION"}, 400),
    ],
)
def test_submit_refusals(
    mft: RunningMftEmulator, api: httpx.Client, headers: dict[str, str], status: int
) -> None:
    response = api.post("/message/submit", content=b"x", headers=headers)
    assert response.status_code == status
    assert mft.state.submissions() == []


def test_submit_over_the_limit_is_413(make_mft: MakeMft) -> None:
    emu = make_mft(send_limit_bytes=10)
    token = login(emu)["apiToken"]
    response = httpx.post(
        f"{emu.base_url}/message/submit",
        content=b"x" * 11,
        headers={**SEND, "Authorization": token},
    )
    assert response.status_code == 413
    assert emu.state.submissions() == []


# -- lists -----------------------------------------------------------------------------------


def test_inbox_lists_ids_only_and_pages_by_page_number(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    ids = seed(mft, 5)
    page = api.get("/message/inbox", params={"sortDir": "asc", "pageLength": 2, "pageOffset": 1})
    assert page.json() == {"messages": ids[2:4]}
    desc = api.get("/message/inbox", params={"pageLength": 2})
    assert desc.json()["messages"] == [ids[4], ids[3]]


def test_unread_inbox_shrinks_as_messages_are_read(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    ids = seed(mft, 3)
    got = api.get(f"/message/inbox/{q(ids[0])}")
    assert got.status_code == 200 and got.json()["apiFetched"] is False
    assert mft.state.is_read(ids[0])
    assert api.get("/message/inbox", params={"sortDir": "asc"}).json()["messages"] == ids[1:]
    everything = api.get("/message/inbox", params={"sortDir": "asc", "fetchAll": "true"})
    assert everything.json()["messages"] == ids
    peek = api.get(f"/message/inbox/{q(ids[1])}", params={"markAsRead": "false"})
    assert peek.status_code == 200 and not mft.state.is_read(ids[1])
    assert api.post(f"/message/inbox/{q(ids[0])}/markUnread").status_code == 200
    assert not mft.state.is_read(ids[0])


def test_reading_b_the_list_marks_what_it_returns(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    ids = seed(mft, 3)
    mft.switches.update(list_marks_read=True)
    first = api.get("/message/inbox", params={"sortDir": "asc", "pageLength": 2})
    assert first.json()["messages"] == ids[:2]
    assert [mft.state.is_read(i) for i in ids] == [True, True, False]
    assert api.get("/message/inbox").json()["messages"] == [ids[2]]
    assert api.get("/message/inbox").json()["messages"] == []
    assert len(api.get("/message/inbox", params={"fetchAll": "true"}).json()["messages"]) == 3


def test_old_query_names_are_ignored_unless_legacy(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    mft.state.add_partner(PartnerSpec("OTHER"))
    mine = seed(mft, 1)
    mft.state.seed_received("MYSTATION", "OTHER", [("o.txt", b"o")])
    new = api.get("/message/inbox", params={"partnerIdentifier": "ACME"})
    old = api.get("/message/inbox", params={"partnerAS2Id": "ACME"})
    assert new.json()["messages"] == mine
    assert len(old.json()["messages"]) == 2  # the filter silently dropped
    mft.switches.update(legacy_names=True)
    assert api.get("/message/inbox", params={"partnerAS2Id": "ACME"}).json()["messages"] == mine


def test_secondary_filters_are_prefixes_and_yield_to_primary(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    a = mft.state.seed_received("MYSTATION", "ACME", [("a", b"a")], subject="INV-1")
    b = mft.state.seed_received(
        "MYSTATION", "ACME", [("b", b"b")], subject="PO-1", message_id="<B-1@partner>"
    )
    assert api.get("/message/inbox", params={"subject": "INV"}).json()["messages"] == [a]
    assert api.get("/message/inbox", params={"identifier": "<B-"}).json()["messages"] == [b]
    both = api.get("/message/inbox", params={"subject": "INV", "stationIdentifier": "MYSTATION"})
    assert sorted(both.json()["messages"]) == sorted([a, b])


def test_outbox_boxes_follow_the_partner(make_mft: MakeMft) -> None:
    emu = make_mft(
        delivery_delay=0.0,
        failed_attempts=1,
        partners=(PartnerSpec("ACME"), PartnerSpec("DOWN", behaviour="fail"), PartnerSpec("SLOW")),
        mft=MftSettings(incomplete_partners=("SLOW",)),
    )
    token = login(emu)["apiToken"]
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": token}) as api:
        sent = {}
        for partner in ("ACME", "DOWN", "SLOW"):
            r = api.post(
                "/message/submit",
                content=b"x",
                headers={"AS2-From": "MYSTATION", "AS2-To": partner, "Attachment-Name": "a"},
            )
            sent[partner] = r.json()["identifier"]
        lists = {
            box: api.get(f"/message/{box}").json()["messages"]
            for box in ("outbox", "outbox/failed", "outbox/incomplete", "outbox/queued")
        }
        assert lists == {
            "outbox": [sent["ACME"]],
            "outbox/failed": [sent["DOWN"]],
            "outbox/incomplete": [sent["SLOW"]],
            "outbox/queued": [],
        }
        failed = api.get(f"/message/outbox/failed/{q(sent['DOWN'])}").json()
        assert failed["msgStatus"] == "Failed" and failed["failureReason"]
        assert api.get(f"/message/outbox/{q(sent['DOWN'])}").status_code == 404
        ok = api.get(f"/message/outbox/{q(sent['ACME'])}").json()
        assert (ok["senderIdentifier"], ok["receiverIdentifier"]) == ("MYSTATION", "ACME")
        assert ok["mdnStatus"] and "senderAS2Id" not in ok and "as2MessageId" not in ok
        emu.switches.update(incomplete_list=False)
        gone = api.get("/message/outbox/incomplete")
        assert gone.status_code == 404


# -- messages and attachments ----------------------------------------------------------------


def test_message_json_has_new_names_and_a_big_internal_id(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    (mid,) = seed(mft, 1)
    body = api.get(f"/message/inbox/{q(mid)}", params={"markAsRead": "false"}).json()
    assert body["identifier"] == mid
    assert (body["receiverIdentifier"], body["senderIdentifier"]) == ("MYSTATION", "ACME")
    assert body["id"] > INTERNAL_ID_BASE
    assert body["attachmentPaths"] == [f"AS2/files/MYSTATION/ACME/inbox/{body['id']}/f0.edi"]
    assert not {"as2MessageId", "senderAS2Id", "receiverAS2Id"} & set(body)


def test_attachment_urls_are_signed_expire_and_refuse_authorization(make_mft: MakeMft) -> None:
    clock = ManualClock()
    emu = make_mft(clock=clock, mft=MftSettings(url_validity=60))
    (mid,) = seed(emu, 1)
    token = login(emu)["apiToken"]
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": token}) as api:
        listing = api.get(f"/message/inbox/{q(mid)}/attachments").json()
    assert listing["total"] == 1
    (item,) = listing["attachments"]
    assert item["name"] == "f0.edi" and item["url"].startswith(emu.objects_url)
    assert httpx.get(item["url"]).content == b"data 0"
    assert httpx.get(item["url"], headers={"Authorization": token}).status_code == 400
    assert httpx.get(item["url"].replace("Signature=", "Signature=0")).status_code == 403
    clock.advance(61)
    assert httpx.get(item["url"]).status_code == 403
    assert not emu.state.is_read(mid)  # neither /attachments nor the download marked it


def test_attachments_can_mark_read_by_switch(mft: RunningMftEmulator, api: httpx.Client) -> None:
    (mid,) = seed(mft, 1)
    mft.switches.update(attachments_mark_read=True)
    assert api.get(f"/message/inbox/{q(mid)}/attachments").status_code == 200
    assert mft.state.is_read(mid)


def test_mdn_url_and_deletes(mft: RunningMftEmulator, api: httpx.Client) -> None:
    ids = seed(mft, 3)
    url = api.get(f"/message/inbox/{q(ids[0])}/mdn").json()["url"]
    assert b"disposition" in httpx.get(url).content.lower()
    assert api.delete(f"/message/inbox/{q(ids[0])}").json() == {"deleted": ids[0]}
    batch = api.post("/message/inbox/delete", json={"messageIdentifiers": [ids[1], "<nope>"]})
    assert batch.json() == {"deleted": [ids[1]]}
    old = api.post("/message/inbox/delete", json={"as2MessageIds": [ids[2]]})
    assert old.status_code == 400
    assert mft.state.received_ids() == [ids[2]]


# -- faults, journal, admin ------------------------------------------------------------------


def test_fault_knobs_answer_429_and_503(mft: RunningMftEmulator, api: httpx.Client) -> None:
    mft.state.set_faults(Faults(rate_limit_burst=1.0, endpoints=("list",)))
    assert api.get("/message/inbox").status_code == 429
    mft.state.set_faults(Faults(error_before=1.0, error_statuses=(503,), endpoints=("list",)))
    assert api.get("/message/inbox").status_code == 503
    mft.state.set_faults(Faults())
    assert api.get("/message/inbox").status_code == 200


def test_journal_records_names_and_headers_of_both_listeners(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    (mid,) = seed(mft, 1)
    api.get("/message/inbox", params={"stationAS2Id": "X", "sortDir": "asc"})
    url = api.get(f"/message/inbox/{q(mid)}/attachments").json()["attachments"][0]["url"]
    httpx.get(url)
    listed, _, fetched = mft.state.journal.exchanges()[-3:]
    assert listed.query_names == ["stationAS2Id", "sortDir"]
    assert listed.header("authorization") == api.headers["Authorization"]
    assert (fetched.origin, fetched.header("Authorization")) == ("objects", None)


def test_admin_seeds_switches_and_shows_exchanges(mft: RunningMftEmulator) -> None:
    seeded = httpx.post(
        f"{mft.admin_url}/received",
        json={
            "station": "MYSTATION",
            "partner": "ACME",
            "attachments": [{"name": "a.txt", "content_base64": "aGk="}],
        },
    )
    assert seeded.status_code == 201
    switched = httpx.post(f"{mft.admin_url}/mft", json={"list_marks_read": True})
    assert switched.json()["list_marks_read"] is True
    assert mft.switches.current.list_marks_read
    httpx.get(f"{mft.base_url}/message/inbox", params={"pageLength": "3"})
    shown = httpx.get(f"{mft.admin_url}/exchanges").json()
    assert shown[-1]["path"] == "/message/inbox"
    assert shown[-1]["query"] == [["pageLength", "3"]]
    assert httpx.post(f"{mft.admin_url}/mft", json={"no_such": 1}).status_code == 400


def test_the_password_is_only_accepted_with_its_user(mft: RunningMftEmulator) -> None:
    response = httpx.post(f"{mft.base_url}/authorize", json={"username": "x", "password": PASSWORD})
    assert response.status_code == 401


def test_certificates_list_filter_by_either_type_name_and_metadata(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    listed = api.get("/certificate").json()
    assert [c["type"] for c in listed] == ["IDENTITY", "TRUST"]
    assert api.get("/certificate", params={"certType": "STATION"}).json() == listed[:1]
    assert api.get("/certificate", params={"certType": "TRUST"}).json() == listed[1:]
    meta = api.get(f"/certificate/{listed[0]['alias']}").json()
    assert meta["expiry"] == "Tue Jan 01 00:00:00 UTC 2030"
    assert meta["expiryTimestamp"] == 1_893_456_000_000
    assert {"subjectCommonName", "serialNumberHex", "validFromTimestamp"} <= set(meta)
    assert not {"subject_common_name", "serial_number", "valid_from"} & set(meta)
    assert api.get("/certificate/nope").status_code == 404


def test_object_store_honours_one_byte_range(mft: RunningMftEmulator, api: httpx.Client) -> None:
    (mid,) = seed(mft, 1)
    url = api.get(f"/message/inbox/{q(mid)}/attachments").json()["attachments"][0]["url"]
    first = httpx.get(url, headers={"Range": "bytes=0-0"})
    assert (first.status_code, first.content) == (206, b"d")
    assert first.headers["Content-Range"] == "bytes 0-0/6"
    assert httpx.get(url, headers={"Range": "bytes=2-"}).content == b"ta 0"
    assert httpx.get(url, headers={"Range": "bytes=9-9"}).status_code == 416


def test_truncation_cuts_object_downloads_not_the_url_listing(
    mft: RunningMftEmulator, api: httpx.Client
) -> None:
    (mid,) = seed(mft, 1)
    mft.state.set_faults(Faults(truncate=1.0, seed=1))
    listing = api.get(f"/message/inbox/{q(mid)}/attachments")
    assert listing.status_code == 200  # whole JSON
    url = listing.json()["attachments"][0]["url"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(url)
    assert mft.state.fault_counts()["truncate"] == 1


def test_a_data_dir_keeps_messages_and_read_flags_across_a_restart(tmp_path: Path) -> None:
    settings = replace(EMULATOR_DEFAULTS, data_dir=tmp_path / "data")
    with running_mft_emulator(settings) as first:
        ids = seed(first, 2)
        token = login(first)["apiToken"]
        httpx.get(f"{first.base_url}/message/inbox/{q(ids[0])}", headers={"Authorization": token})
    with running_mft_emulator(settings) as second:
        token = login(second)["apiToken"]
        unread = httpx.get(f"{second.base_url}/message/inbox", headers={"Authorization": token})
    assert unread.json()["messages"] == [ids[1]]
