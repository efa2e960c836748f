"""Spec 7.3 batch download: one folder per ID, .error files, the 10 MB rule with 206."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor

BATCH = "/message/received/batch/attachments"


def _zip(response: httpx.Response) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        return {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}


def _sized(emu: RunningEmulator, *sizes: int) -> str:
    """A received message with one attachment per size, named a0, a1, ..."""
    return emu.state.seed_received(
        "MYSTATION", "ACME", [(f"a{j}", bytes([65 + j]) * s) for j, s in enumerate(sizes)]
    )


@pytest.fixture
def small(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> tuple[RunningEmulator, httpx.Client]:
    """An emulator whose batch limit is 10 bytes instead of 10 MB."""
    emu = make_emulator(batch_limit_bytes=10)
    return emu, client_for(emu)


def test_batch_zip_has_one_folder_per_message_id(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    m1 = emulator.state.seed_received("MYSTATION", "ACME", [("1a.edi", b"A"), ("1b.edi", b"B")])
    m2 = emulator.state.seed_received("MYSTATION", "LOOP", [("2a.edi", b"C")])
    response = api.post(BATCH, json=[m1, m2])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "X-Batch-Truncation-Index" not in response.headers
    assert _zip(response) == {f"{m1}/1a.edi": b"A", f"{m1}/1b.edi": b"B", f"{m2}/2a.edi": b"C"}


def test_batch_folders_without_brackets_when_configured(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> None:
    emu = make_emulator(batch_folder_brackets=False)
    mid = emu.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    assert _zip(client_for(emu).post(BATCH, json=[mid])) == {f"{mid[1:-1]}/a": b"1"}


def test_unknown_id_gets_a_folder_with_an_error_file(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    response = api.post(BATCH, json=["<missing@x>", mid])
    assert response.status_code == 200
    files = _zip(response)
    assert files[f"{mid}/a"] == b"1"
    assert b"<missing@x>" in files["<missing@x>/.error"]


def test_message_without_attachments_gets_an_error_file(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [])
    assert set(_zip(api.post(BATCH, json=[mid]))) == {f"{mid}/.error"}


def test_attachment_names_are_stored_verbatim_even_when_hostile(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    names = ["../../x", "/etc/passwd", "dir/sub.edi", "..", "a\\b.edi"]
    mid = emulator.state.seed_received("MYSTATION", "ACME", [(n, n.encode()) for n in names])
    files = _zip(api.post(BATCH, json=[mid]))
    assert files == {f"{mid}/{n}": n.encode() for n in names}


def test_batch_with_mark_as_read_marks_every_message(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    ids = [emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")]) for _ in range(3)]
    assert api.post(BATCH, json=ids, params={"markAsRead": "true"}).status_code == 200
    assert all(emulator.state.is_read(m) for m in ids)


def test_batch_without_mark_as_read_marks_nothing(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    api.post(BATCH, json=[mid])
    assert emulator.state.is_read(mid) is False


def test_truncation_in_the_middle_of_a_message_is_206_with_last_added_index(
    small: tuple[RunningEmulator, httpx.Client],
) -> None:
    emu, api = small
    m0 = _sized(emu, 3, 3)
    m1 = _sized(emu, 1, 2, 5)  # total 3+3+1+2 = 9; the 5-byte attachment would make 14
    response = api.post(BATCH, json=[m0, m1], params={"markAsRead": "true"})
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(1,1)"
    assert set(_zip(response)) == {f"{m0}/a0", f"{m0}/a1", f"{m1}/a0", f"{m1}/a1"}
    # Only the fully archived message is marked read.
    assert emu.state.is_read(m0) is True
    assert emu.state.is_read(m1) is False


def test_truncation_exactly_after_a_message_names_its_last_attachment(
    small: tuple[RunningEmulator, httpx.Client],
) -> None:
    emu, api = small
    m0 = _sized(emu, 4, 6)  # exactly 10 bytes: fits
    m1 = _sized(emu, 1)
    response = api.post(BATCH, json=[m0, m1], params={"markAsRead": "true"})
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(0,1)"
    assert set(_zip(response)) == {f"{m0}/a0", f"{m0}/a1"}
    assert emu.state.is_read(m0) is True
    assert emu.state.is_read(m1) is False


def test_truncation_at_the_last_attachment_of_the_batch(
    small: tuple[RunningEmulator, httpx.Client],
) -> None:
    emu, api = small
    m0 = _sized(emu, 5)
    m1 = _sized(emu, 2, 4)  # 5+2 fit; the last attachment (4) would make 11
    response = api.post(BATCH, json=[m0, m1], params={"markAsRead": "true"})
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(1,0)"
    assert emu.state.is_read(m0) is True
    assert emu.state.is_read(m1) is False


def test_batch_of_exactly_the_limit_is_200(small: tuple[RunningEmulator, httpx.Client]) -> None:
    emu, api = small
    m0, m1 = _sized(emu, 5), _sized(emu, 2, 3)
    response = api.post(BATCH, json=[m0, m1], params={"markAsRead": "true"})
    assert response.status_code == 200
    assert "X-Batch-Truncation-Index" not in response.headers
    assert emu.state.is_read(m0) and emu.state.is_read(m1)


def test_first_message_alone_over_the_limit_is_206_with_minus_one(
    small: tuple[RunningEmulator, httpx.Client],
) -> None:
    emu, api = small
    big = _sized(emu, 11)
    other = _sized(emu, 1)
    response = api.post(BATCH, json=[big, other], params={"markAsRead": "true"})
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(0,-1)"
    assert _zip(response) == {}
    assert not emu.state.is_read(big) and not emu.state.is_read(other)


def test_error_folders_before_the_truncation_point_stay_in_the_zip(
    small: tuple[RunningEmulator, httpx.Client],
) -> None:
    emu, api = small
    big = _sized(emu, 11)
    response = api.post(BATCH, json=["<gone@x>", big])
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(1,-1)"
    assert set(_zip(response)) == {"<gone@x>/.error"}


def test_real_10_mb_limit_truncates_a_batch_of_three_4_mb_messages(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    four_mb = 4 * 1024 * 1024
    ids = [_sized(emulator, four_mb) for _ in range(3)]
    response = api.post(BATCH, json=ids, params={"markAsRead": "true"})
    assert response.status_code == 206
    assert response.headers["X-Batch-Truncation-Index"] == "(1,0)"
    assert [emulator.state.is_read(m) for m in ids] == [True, True, False]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"ids": ["a"]}',
        b"[1, 2]",
        b"[]",
        ("[" + ",".join(f'"<{i}@x>"' for i in range(101)) + "]").encode(),
        b'["<a@x>", "<a@x>"]',
    ],
    ids=["not-json", "object", "numbers", "empty", "101-ids", "duplicates"],
)
def test_invalid_batch_body_is_400(api: httpx.Client, body: bytes) -> None:
    response = api.post(BATCH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"]


def test_batch_of_100_ids_is_accepted(api: httpx.Client) -> None:
    response = api.post(BATCH, json=[f"<{i}@x>" for i in range(100)])
    assert response.status_code == 200
    assert len(_zip(response)) == 100
