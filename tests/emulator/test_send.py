"""Spec section 4: sending (enqueueing) AS2 messages."""

from __future__ import annotations

from urllib.parse import unquote

import httpx

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor

MIB = 1024 * 1024


def _link_id(response: httpx.Response) -> str:
    return unquote(response.headers["Link"].rsplit("/", 1)[1])


def test_single_file_send_is_202_with_link_holding_the_message_id(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    response = api.post(
        "/message/MYSTATION/ACME",
        content=b"<invoice/>",
        headers={"Name": "invoice_20200101.xml", "Content-Type": "text/xml"},
    )
    assert response.status_code == 202
    assert response.json() == {"message": "Successfully added a new outbound entry"}
    link = response.headers["Link"]
    assert link.startswith(f"{emulator.base_url}/message/sent/<")
    (sub,) = emulator.state.submissions()
    # The ID appears verbatim (angle brackets included), as in the spec's example.
    assert link == f"{emulator.base_url}/message/sent/{sub.message_id}"
    assert sub.message_id.startswith("<") and sub.message_id.endswith("@as2gateway.com>")
    assert sub.attachments == [("invoice_20200101.xml", b"<invoice/>")]
    assert sub.content_types == ["text/xml"]
    assert (sub.station, sub.partner, sub.status) == ("MYSTATION", "ACME", "queued")


def test_single_file_send_without_name_header_is_400(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    response = api.post("/message/MYSTATION/ACME", content=b"data")
    assert response.status_code == 400
    assert "Name" in response.json()["message"]
    assert emulator.state.submissions() == []


def test_name_header_in_utf8_is_kept(emulator: RunningEmulator, api: httpx.Client) -> None:
    name = "Rechnung-Ä.edi"
    response = api.post(
        "/message/MYSTATION/ACME", content=b"x", headers=[(b"Name", name.encode("utf-8"))]
    )
    assert response.status_code == 202
    assert emulator.state.submissions()[0].attachments[0][0] == name


def test_missing_content_type_is_detected_from_edi_content(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    response = api.post(
        "/message/MYSTATION/ACME", content=b"ISA*00*...", headers={"Name": "po.edi"}
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 202
    assert emulator.state.submissions()[0].content_types == ["application/edi-x12"]


def test_multipart_send_keeps_every_file_part(emulator: RunningEmulator, api: httpx.Client) -> None:
    response = api.post(
        "/message/MYSTATION/ACME",
        files=[
            ("file", ("file1.txt", b"one", "text/plain")),
            ("file", ("file2.txt", b"two", "text/plain")),
        ],
    )
    assert response.status_code == 202
    (sub,) = emulator.state.submissions()
    assert sub.attachments == [("file1.txt", b"one"), ("file2.txt", b"two")]
    assert _link_id(response) == sub.message_id


def test_multipart_with_more_than_ten_files_is_refused(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    files = [("file", (f"f{i}.txt", b"x", "text/plain")) for i in range(11)]
    response = api.post("/message/MYSTATION/ACME", files=files)
    assert response.status_code == 400
    assert "10" in response.json()["message"]
    assert emulator.state.submissions() == []


def test_multipart_with_exactly_ten_files_is_accepted(api: httpx.Client) -> None:
    files = [("file", (f"f{i}.txt", b"x", "text/plain")) for i in range(10)]
    assert api.post("/message/MYSTATION/ACME", files=files).status_code == 202


def test_multipart_with_duplicate_file_names_is_refused(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    files = [("file", ("same.txt", b"1", "text/plain")), ("file", ("same.txt", b"2", "text/plain"))]
    response = api.post("/message/MYSTATION/ACME", files=files)
    assert response.status_code == 400
    assert "unique" in response.json()["message"]
    assert emulator.state.submissions() == []


def test_multipart_without_file_parts_is_400(api: httpx.Client) -> None:
    response = api.post("/message/MYSTATION/ACME", files=[("other", ("a.txt", b"1", "text/plain"))])
    assert response.status_code == 400


def test_single_file_over_10_mb_is_413(emulator: RunningEmulator, api: httpx.Client) -> None:
    response = api.post(
        "/message/MYSTATION/ACME", content=b"x" * (10 * MIB + 1), headers={"Name": "big.bin"}
    )
    assert response.status_code == 413
    assert response.json()["message"]
    assert emulator.state.submissions() == []


def test_single_file_of_exactly_10_mb_is_accepted(api: httpx.Client) -> None:
    response = api.post(
        "/message/MYSTATION/ACME", content=b"x" * (10 * MIB), headers={"Name": "big.bin"}
    )
    assert response.status_code == 202


def test_multipart_files_adding_up_to_over_the_limit_is_413(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> None:
    emu = make_emulator(send_limit_bytes=1000)
    api = client_for(emu)
    files = [("file", ("a.bin", b"a" * 600, "x/y")), ("file", ("b.bin", b"b" * 401, "x/y"))]
    assert api.post("/message/MYSTATION/ACME", files=files).status_code == 413
    files = [("file", ("a.bin", b"a" * 600, "x/y")), ("file", ("b.bin", b"b" * 400, "x/y"))]
    assert api.post("/message/MYSTATION/ACME", files=files).status_code == 202
    assert len(emu.state.submissions()) == 1


def test_unknown_station_is_404(emulator: RunningEmulator, api: httpx.Client) -> None:
    response = api.post("/message/NOSTATION/ACME", content=b"x", headers={"Name": "a.txt"})
    assert response.status_code == 404
    assert "NOSTATION" in response.json()["message"]
    assert emulator.state.submissions() == []


def test_unknown_partner_is_404(emulator: RunningEmulator, api: httpx.Client) -> None:
    response = api.post("/message/MYSTATION/NOBODY", content=b"x", headers={"Name": "a.txt"})
    assert response.status_code == 404
    assert "NOBODY" in response.json()["message"]


def test_partner_type_test_does_not_reach_a_production_partner(api: httpx.Client) -> None:
    response = api.post(
        "/message/MYSTATION/ACME",
        params={"partnerType": "test"},
        content=b"x",
        headers={"Name": "a.txt"},
    )
    assert response.status_code == 404


def test_invalid_partner_type_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/message/MYSTATION/ACME",
        params={"partnerType": "staging"},
        content=b"x",
        headers={"Name": "a.txt"},
    )
    assert response.status_code == 400


def test_subject_and_profile_query_parameters_are_kept(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    response = api.post(
        "/message/MYSTATION/ACME",
        params={"subject": "PO 4711", "profile": "edi-headers"},
        content=b"x",
        headers={"Name": "a.txt"},
    )
    assert response.status_code == 202
    (sub,) = emulator.state.submissions()
    assert (sub.subject, sub.profile, sub.partner_type) == ("PO 4711", "edi-headers", "production")


def test_each_send_gets_a_new_message_id(emulator: RunningEmulator, api: httpx.Client) -> None:
    ids = {
        _link_id(api.post("/message/MYSTATION/ACME", content=b"x", headers={"Name": f"{i}.txt"}))
        for i in range(5)
    }
    assert len(ids) == 5
    assert ids == {s.message_id for s in emulator.state.submissions()}
