"""Spec section 7.1, 7.2, 7.3 (single message) and 7.4: attachment and MDN downloads."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote, unquote

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from tests.emulator.conftest import ManualClock


@pytest.fixture
def three(emulator: RunningEmulator) -> str:
    """A received message with three attachments."""
    return quote(
        emulator.state.seed_received(
            "MYSTATION", "ACME", [("a.edi", b"AAA"), ("b.xml", b"<b/>"), ("c.txt", b"c")]
        )
    )


def test_attachment_by_index_is_octet_stream_with_its_file_name(
    api: httpx.Client, three: str
) -> None:
    response = api.get(f"/message/received/{three}/attachments/1")
    assert response.status_code == 200
    assert response.content == b"<b/>"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="b.xml"'


def test_attachment_without_index_is_the_first(api: httpx.Client, three: str) -> None:
    response = api.get(f"/message/received/{three}/attachments")
    assert response.status_code == 200
    assert response.content == b"AAA"


@pytest.mark.parametrize("index", ["3", "-1"])
def test_attachment_index_out_of_range_is_404(api: httpx.Client, three: str, index: str) -> None:
    response = api.get(f"/message/received/{three}/attachments/{index}")
    assert response.status_code == 404
    assert response.json()["message"]


def test_attachment_index_not_a_number_is_400(api: httpx.Client, three: str) -> None:
    assert api.get(f"/message/received/{three}/attachments/first").status_code == 400


def test_attachment_download_with_mark_as_read_marks_the_message(
    emulator: RunningEmulator, api: httpx.Client, three: str
) -> None:
    mid = unquote(three)
    api.get(f"/message/received/{three}/attachments/0")
    assert emulator.state.is_read(mid) is False
    api.get(f"/message/received/{three}/attachments/0", params={"markAsRead": "true"})
    assert emulator.state.is_read(mid) is True


def test_failed_attachment_download_does_not_mark_read(
    emulator: RunningEmulator, api: httpx.Client, three: str
) -> None:
    api.get(f"/message/received/{three}/attachments/9", params={"markAsRead": "true"})
    assert emulator.state.is_read(unquote(three)) is False


def test_all_attachments_is_a_zip_of_every_attachment(
    emulator: RunningEmulator, api: httpx.Client, three: str
) -> None:
    response = api.get(f"/message/received/{three}/attachments/all", params={"markAsRead": "1"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == {
            "a.edi": b"AAA",
            "b.xml": b"<b/>",
            "c.txt": b"c",
        }
    assert emulator.state.is_read(unquote(three)) is True


def test_hostile_file_names_are_sent_safely_in_content_disposition(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    name = 'we"ird\\näme\r\n.edi'
    mid = emulator.state.seed_received("MYSTATION", "ACME", [(name, b"x")])
    response = api.get(f"/message/received/{quote(mid)}/attachments/0")
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    assert header.endswith("filename*=UTF-8''" + quote(name, safe=""))


def test_sent_message_attachments_and_mdn_are_downloadable(
    capi: httpx.Client, clock: ManualClock
) -> None:
    response = capi.post(
        "/message/MYSTATION/ACME",
        files=[("file", ("one.txt", b"1", "text/plain")), ("file", ("two.txt", b"22", "x/y"))],
    )
    mid = quote(unquote(response.headers["Link"].rsplit("/", 1)[1]))
    assert capi.get(f"/message/sent/{mid}/attachments/1").status_code == 404  # not sent yet
    clock.advance(1.0)
    assert capi.get(f"/message/sent/{mid}/attachments/1").content == b"22"
    with zipfile.ZipFile(io.BytesIO(capi.get(f"/message/sent/{mid}/attachments/all").content)) as z:
        assert sorted(z.namelist()) == ["one.txt", "two.txt"]
    mdn = capi.get(f"/message/sent/{mid}/mdn")
    assert mdn.status_code == 200
    assert mdn.headers["Content-Type"] == "application/octet-stream"
    assert b"Original-Message-ID: " + unquote(mid).encode() in mdn.content
    assert b"disposition-notification" in mdn.content


def test_received_message_mdn_is_downloadable(emulator: RunningEmulator, api: httpx.Client) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    response = api.get(f"/message/received/{quote(mid)}/mdn")
    assert response.status_code == 200
    assert mid.encode() in response.content


def test_mdn_of_a_message_without_one_is_404(emulator: RunningEmulator, api: httpx.Client) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")], with_mdn=False)
    response = api.get(f"/message/received/{quote(mid)}/mdn")
    assert response.status_code == 404
    assert response.json()["message"]
