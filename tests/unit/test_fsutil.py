"""Crash-safe file primitives: never overwrite, finish what a crash interrupted."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.folders.fsutil import (
    finish_place_at,
    opened_dir,
    place,
    place_at,
    place_unique,
    sha256_at,
    unique_name,
)


class Crash(Exception):
    """Stands for a SIGKILL at the hook: nothing after it runs."""


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    with opened_dir(tmp_path, ()) as folder:
        yield folder


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


@pytest.mark.parametrize("sync", [True, False])
def test_place_at_never_replaces_a_file_or_a_symlink(tmp_path: Path, fd: int, sync: bool) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "taken").write_bytes(b"old")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert place_at(fd, "src", fd, "taken", sync=sync) is False
    assert place_at(fd, "src", fd, "link", sync=sync) is False
    assert (tmp_path / "taken").read_bytes() == b"old"
    assert place_at(fd, "src", fd, "free", sync=sync) is True
    assert sorted(os.listdir(tmp_path)) == ["free", "link", "taken"]


def test_a_crash_between_link_and_unlink_leaves_one_file_under_two_names(
    tmp_path: Path, fd: int
) -> None:
    (tmp_path / "src").write_bytes(b"data")

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        place_at(fd, "src", fd, "dst", after_link=crash)
    assert os.path.samefile(tmp_path / "src", tmp_path / "dst")
    assert finish_place_at(fd, "src", fd, "dst") is True
    assert os.listdir(tmp_path) == ["dst"]


def test_without_hard_links_place_at_renames_and_still_never_replaces(
    tmp_path: Path, fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "taken").write_bytes(b"old")
    assert place_at(fd, "src", fd, "taken") is False
    assert place_at(fd, "src", fd, "dst") is True
    assert (tmp_path / "dst").read_bytes() == b"new"
    assert (tmp_path / "taken").read_bytes() == b"old"
    assert not (tmp_path / "src").exists()


def test_finish_place_completes_a_link_whose_unlink_was_interrupted(
    tmp_path: Path, fd: int
) -> None:
    (tmp_path / "src").write_bytes(b"data")
    os.link(tmp_path / "src", tmp_path / "dst")  # what a SIGKILL between link and unlink leaves
    assert finish_place_at(fd, "src", fd, "dst") is True
    assert not (tmp_path / "src").exists()
    assert (tmp_path / "dst").read_bytes() == b"data"


def test_finish_place_reports_a_move_that_never_happened(tmp_path: Path, fd: int) -> None:
    (tmp_path / "src").write_bytes(b"data")
    assert finish_place_at(fd, "src", fd, "dst") is False
    (tmp_path / "dst").write_bytes(b"someone else's file")
    assert finish_place_at(fd, "src", fd, "dst") is False
    assert (tmp_path / "src").exists()


def test_finish_place_recognises_a_completed_move(tmp_path: Path, fd: int) -> None:
    (tmp_path / "dst").write_bytes(b"x")
    assert finish_place_at(fd, "gone", fd, "dst") is True
    assert finish_place_at(fd, "gone", fd, "also-gone") is False


def test_sha256_at_reads_size_and_digest(tmp_path: Path, fd: int) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    digest, size = sha256_at(fd, "f")
    assert size == 3
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
