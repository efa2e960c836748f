"""Crash-safe file primitives: never overwrite, finish what a crash interrupted."""

from __future__ import annotations

import os
from pathlib import Path

from as2sync.fsutil import finish_place, free_path, place, place_unique, sha256_file, unique_name


def test_unique_name_keeps_the_extension_readable(tmp_path: Path) -> None:
    assert unique_name(tmp_path, "invoice.edi", 1).name == "invoice.edi"
    assert unique_name(tmp_path, "invoice.edi", 2).name == "invoice (2).edi"
    assert unique_name(tmp_path, "README", 3).name == "README (3)"
    assert unique_name(tmp_path, ".profile", 2).name == ".profile (2)"


def test_place_moves_the_file_and_never_overwrites(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    assert place(src, dst) is False
    assert dst.read_bytes() == b"old"
    assert src.read_bytes() == b"new"
    other = tmp_path / "c"
    assert place(src, other) is True
    assert other.read_bytes() == b"new"
    assert not src.exists()


def test_place_unique_picks_the_next_free_name(tmp_path: Path) -> None:
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "x.edi").write_bytes(b"first")
    (tmp_path / "sent" / "x (2).edi").write_bytes(b"second")
    src = tmp_path / "x.edi"
    src.write_bytes(b"third")
    target = place_unique(src, tmp_path / "sent", "x.edi")
    assert target.name == "x (3).edi"
    assert [p.read_bytes() for p in sorted((tmp_path / "sent").iterdir())] == [
        b"second",
        b"third",
        b"first",
    ]


def test_finish_place_completes_a_link_whose_unlink_was_interrupted(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"data")
    os.link(src, dst)  # the state a SIGKILL between link and unlink leaves behind
    assert finish_place(src, dst) is True
    assert not src.exists()
    assert dst.read_bytes() == b"data"


def test_finish_place_reports_a_move_that_never_happened(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"data")
    assert finish_place(src, dst) is False
    dst.write_bytes(b"someone else's file")
    assert finish_place(src, dst) is False
    assert src.exists()


def test_finish_place_recognises_a_completed_move(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.write_bytes(b"x")
    assert finish_place(tmp_path / "gone", dst) is True
    assert finish_place(tmp_path / "gone", tmp_path / "also-gone") is False


def test_free_path_skips_taken_names(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("")
    assert free_path(tmp_path, "a.txt").name == "a (2).txt"


def test_sha256_file_reads_size_and_digest(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    digest, size = sha256_file(path)
    assert size == 3
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
