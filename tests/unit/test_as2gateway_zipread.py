"""Safe reading of batch zips: folder matching, verification, refusal of unsafe entries."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from as2sync.backends.as2gateway.model import Attachment
from as2sync.backends.as2gateway.zipread import (
    EntryRefused,
    NotServed,
    Refused,
    Served,
    copy_entry,
    examine,
    folder_names,
)

MID = "<OPENAS2-22112026083015+0000-1234@OpenAS2A_OID>"


def entry(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def build(path: Path, entries: Sequence[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in entries:
            zf.writestr(entry(info) if isinstance(info, str) else info, data)
    return path


def atts(*pairs: tuple[str, bytes]) -> list[Attachment]:
    return [Attachment(name, len(data)) for name, data in pairs]


@pytest.mark.parametrize("folder", [MID, MID.strip("<>")])
def test_folders_match_requested_ids_with_or_without_angle_brackets(
    tmp_path: Path, folder: str
) -> None:
    path = build(tmp_path / "b.zip", [(f"{folder}/a.edi", b"AAA"), (f"{folder}/b.edi", b"BB")])
    with zipfile.ZipFile(path) as zf:
        results, stray = examine(zf, {MID: atts(("a.edi", b"AAA"), ("b.edi", b"BB"))})
        result = results[MID]
        assert isinstance(result, Served)
        assert [i.filename.rsplit("/", 1)[1] for i in result.entries] == ["a.edi", "b.edi"]
        assert stray == []


def test_an_id_requested_without_brackets_matches_a_folder_with_them(tmp_path: Path) -> None:
    bare = MID.strip("<>")
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi", b"A")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {bare: atts(("a.edi", b"A"))})
    assert isinstance(results[bare], Served)


def test_ids_differing_only_by_brackets_requested_apart_each_get_their_folder(
    tmp_path: Path,
) -> None:
    bare = MID.strip("<>")
    path = build(tmp_path / "b.zip", [(f"{bare}/a.edi", b"A")])  # brackets dropped
    for requested in (MID, bare):
        with zipfile.ZipFile(path) as zf:
            results, _ = examine(zf, {requested: atts(("a.edi", b"A"))})
        assert isinstance(results[requested], Served)
    assert folder_names(MID) == folder_names(bare) == {MID, bare}


@pytest.mark.parametrize("folders", [(MID, MID.strip("<>")), (MID.strip("<>"),) * 2])
def test_a_folder_two_requested_ids_could_own_is_given_to_neither(
    tmp_path: Path, folders: tuple[str, str]
) -> None:
    bare = MID.strip("<>")
    first, second = folders
    path = build(tmp_path / "b.zip", [(f"{first}/a.edi", b"A"), (f"{second}/b.edi", b"B")])
    with zipfile.ZipFile(path) as zf:
        results, stray = examine(zf, {MID: atts(("a.edi", b"A")), bare: atts(("b.edi", b"B"))})
    assert isinstance(results[MID], Refused) and isinstance(results[bare], Refused)
    assert sorted(stray) == sorted([f"{first}/a.edi", f"{second}/b.edi"])


def test_two_ids_where_one_prefixes_the_other_get_their_own_entries(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [("a@x/f", b"1"), ("a@x/y/f", b"22")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {"a@x": atts(("f", b"1")), "a@x/y": atts(("f", b"22"))})
    assert isinstance(results["a@x"], Served)
    assert isinstance(results["a@x/y"], Served)


def test_an_error_file_means_the_message_was_not_served(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/.error", b"No attachments found")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: atts(("a.edi", b"A"))})
    assert results[MID] == NotServed("No attachments found")


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [("other/a.edi", b"A")])
    with zipfile.ZipFile(path) as zf:
        results, stray = examine(zf, {MID: atts(("a.edi", b"A"))})
    assert isinstance(results[MID], Refused)
    assert stray == ["other/a.edi"]


def test_zip_slip_paths_outside_any_folder_are_never_matched(tmp_path: Path) -> None:
    path = build(
        tmp_path / "b.zip",
        [("../../evil", b"x"), ("/abs/evil", b"x"), (f"{MID}/a.edi", b"A")],
    )
    with zipfile.ZipFile(path) as zf:
        results, stray = examine(zf, {MID: atts(("a.edi", b"A"))})
    assert isinstance(results[MID], Served)
    assert sorted(stray) == ["../../evil", "/abs/evil"]


@pytest.mark.parametrize(
    ("mode", "word"),
    [
        (stat.S_IFLNK | 0o777, "symlink"),
        (stat.S_IFCHR | 0o644, "character device"),
        (stat.S_IFBLK | 0o644, "block device"),
        (stat.S_IFIFO | 0o644, "FIFO"),
    ],
)
def test_symlinks_and_device_entries_refuse_the_message(
    tmp_path: Path, mode: int, word: str
) -> None:
    path = build(tmp_path / "b.zip", [(entry(f"{MID}/a.edi", mode), b"/etc/passwd")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: atts(("a.edi", b"/etc/passwd"))})
    result = results[MID]
    assert isinstance(result, Refused)
    assert word in result.reason


def test_a_directory_where_a_file_is_expected_refuses_the_message(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi/", b"")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: [Attachment("a.edi", 0)]})
    assert isinstance(results[MID], Refused)


def test_fewer_or_more_entries_than_listed_are_refused(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi", b"A")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: atts(("a.edi", b"A"), ("b.edi", b"B"))})
    assert isinstance(results[MID], Refused)
    assert "1 entries" in results[MID].reason  # type: ignore[union-attr]


def test_a_size_that_differs_from_the_list_metadata_is_refused(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi", b"AAAA")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: [Attachment("a.edi", 3)]})
    assert isinstance(results[MID], Refused)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_names_inside_one_message_are_matched_by_position(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/x.edi", b"one"), (f"{MID}/x.edi", b"second")])
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: atts(("x.edi", b"one"), ("x.edi", b"second"))})
        result = results[MID]
        assert isinstance(result, Served)
        out = [io.BytesIO(), io.BytesIO()]
        for k, info in enumerate(result.entries):
            copy_entry(zf, info, out[k], info.file_size)
    assert [o.getvalue() for o in out] == [b"one", b"second"]


def test_copy_entry_returns_the_sha256_of_what_it_wrote(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi", b"hello")])
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zf:
        digest = copy_entry(zf, zf.infolist()[0], out, 5)
    assert out.getvalue() == b"hello"
    assert digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def _lie_about_size(path: Path, declared: int) -> None:
    """Patch both headers of the single entry to declare ``declared`` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))


def test_a_zip_bomb_that_lies_about_its_size_is_refused_without_inflating_it(
    tmp_path: Path,
) -> None:
    path = build(tmp_path / "bomb.zip", [(f"{MID}/a.edi", b"\0" * (20 * 1024 * 1024))])
    _lie_about_size(path, 100)
    assert path.stat().st_size < 100_000
    with zipfile.ZipFile(path) as zf:
        results, _ = examine(zf, {MID: [Attachment("a.edi", 100)]})
        result = results[MID]
        assert isinstance(result, Served)  # the headers agree with the metadata...
        out = io.BytesIO()
        with pytest.raises(EntryRefused):  # ...but the content does not
            copy_entry(zf, result.entries[0], out, 100)
    assert len(out.getvalue()) <= 100


def test_an_entry_inflating_beyond_the_listed_size_is_refused_after_one_extra_byte(
    tmp_path: Path,
) -> None:
    path = build(tmp_path / "b.zip", [(f"{MID}/a.edi", b"\0" * 5_000_000)])
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zf, pytest.raises(EntryRefused, match="zip bomb"):
        copy_entry(zf, zf.infolist()[0], out, 1000)
    assert len(out.getvalue()) <= 1000


def test_a_corrupted_entry_is_refused(tmp_path: Path) -> None:
    path = build(tmp_path / "b.zip", [(entry(f"{MID}/a.edi", stat.S_IFREG | 0o644), b"A" * 1000)])
    data = bytearray(path.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the deflate stream of the only entry
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as zf, pytest.raises(EntryRefused):
        copy_entry(zf, zf.infolist()[0], io.BytesIO(), 1000)
