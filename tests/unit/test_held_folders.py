"""Held partnership folders: reused without walking from the root again, and refused (or
walked afresh) the moment the path no longer reaches the same real folder (real filesystem)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from as2sync.errors import UnsafeFolder
from as2sync.folders.held import HeldFolders
from as2sync.folders.layout import PartnerDirs

PARTS = ("ST", "ACME")


@pytest.fixture
def held() -> Iterator[HeldFolders]:
    folders = HeldFolders()
    yield folders
    folders.clear()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "ST" / "ACME" / "outbox").mkdir(parents=True)
    return tmp_path / "root"


def write_through(
    held: HeldFolders,
    anchor: Path,
    name: str,
    below: tuple[str, ...] = (),
    parts: tuple[str, ...] = PARTS,
) -> None:
    """Create the file ``name`` through a descriptor from ``held``."""
    fd = held.open(anchor, parts, below)
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names os.open was asked for (the real os.open still does the work)."""
    names: list[str] = []
    real: Callable[..., int] = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        names.append(os.fsdecode(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return names


def test_a_second_open_starts_at_the_held_partnership_folder(
    held: HeldFolders, root: Path, opened: list[str]
) -> None:
    os.close(held.open(root, PARTS, ("outbox",)))
    assert opened == [str(root), "ST", "ACME", "outbox"]
    opened.clear()
    os.close(held.open(root, PARTS, ("outbox",)))
    assert opened == ["outbox"]
    write_through(held, root, "x.edi", ("outbox",))
    assert (root / "ST" / "ACME" / "outbox" / "x.edi").exists()


def test_each_call_gets_its_own_descriptor(held: HeldFolders, root: Path) -> None:
    a = held.open(root, PARTS, ())
    b = held.open(root, PARTS, ())
    assert a != b
    os.close(a)
    write_through(held, root, "still-works")  # closing one left the held one open
    os.close(b)
    assert (root / "ST" / "ACME" / "still-works").exists()


@pytest.mark.parametrize("swapped", ["ST", "ST/ACME"])
def test_a_held_folder_moved_aside_for_a_symlink_to_itself_is_refused(
    held: HeldFolders, root: Path, swapped: str
) -> None:
    """The link leads to the very folder held open: only a check of each component finds it."""
    write_through(held, root, "before")
    folder = root / swapped
    folder.rename(folder.with_name("real"))
    folder.symlink_to(folder.with_name("real"))
    with pytest.raises(UnsafeFolder, match="symbolic link"):
        held.open(root, PARTS, ())
    assert len(held) == 0  # the stale descriptor was closed, not kept


def test_a_held_folder_replaced_by_another_real_folder_is_walked_afresh(
    held: HeldFolders, root: Path
) -> None:
    partner = root / "ST" / "ACME"
    write_through(held, root, "old")
    partner.rename(root / "ST" / "ACME.moved")
    partner.mkdir()
    write_through(held, root, "new")
    assert sorted(os.listdir(partner)) == ["new"]
    assert "new" not in os.listdir(root / "ST" / "ACME.moved")


def test_a_removed_partnership_folder_is_missing_or_made_again(
    held: HeldFolders, root: Path
) -> None:
    partner = root / "ST" / "ACME"
    write_through(held, root, "x")
    (partner / "x").unlink()
    (partner / "outbox").rmdir()
    partner.rmdir()
    with pytest.raises(FileNotFoundError):
        held.open(root, PARTS, ())
    os.close(held.open(root, PARTS, ("inbox",), create=True))
    assert (partner / "inbox").is_dir()


def test_a_folder_below_the_held_one_is_checked_at_every_open(
    held: HeldFolders, root: Path, tmp_path: Path
) -> None:
    os.close(held.open(root, PARTS, ("outbox",)))
    outbox = root / "ST" / "ACME" / "outbox"
    outbox.rmdir()
    outbox.symlink_to(tmp_path)
    with pytest.raises(UnsafeFolder, match=f"{outbox} is a symbolic link"):
        held.open(root, PARTS, ("outbox",))


def test_a_route_folder_is_held_and_reopened_when_its_configured_path_moves(
    held: HeldFolders, tmp_path: Path
) -> None:
    """A route is trusted as configured (a symlink there is followed), so a route that now
    leads to another folder is simply opened there."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    route = tmp_path / "route"
    route.symlink_to(tmp_path / "a")
    write_through(held, route, "one", parts=())
    route.unlink()
    route.symlink_to(tmp_path / "b")
    write_through(held, route, "two", parts=())
    assert os.listdir(tmp_path / "a") == ["one"]
    assert os.listdir(tmp_path / "b") == ["two"]


def test_at_most_size_folders_are_held(tmp_path: Path) -> None:
    held = HeldFolders(size=2)
    for partner in ("A", "B", "C"):
        (tmp_path / "ST" / partner).mkdir(parents=True)
        os.close(held.open(tmp_path, ("ST", partner), ()))
    assert len(held) == 2
    held.clear()
    assert len(held) == 0


def test_partner_dirs_open_goes_through_the_held_folder(tmp_path: Path) -> None:
    dirs = PartnerDirs("ST", "ACME", tmp_path / "ST" / "ACME", anchor=tmp_path, parts=PARTS)
    dirs.make(dirs.incoming)
    with dirs.open(dirs.incoming) as fd:
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "ST/ACME/.as2sync/incoming"))
    with pytest.raises(UnsafeFolder, match="is not inside"), dirs.open(tmp_path / "ST" / "OTHER"):
        pass


def test_a_folder_unused_for_a_while_is_closed_at_the_next_call(tmp_path: Path) -> None:
    now = [0.0]
    held = HeldFolders(idle=60, clock=lambda: now[0])
    for partner in ("A", "B"):
        (tmp_path / "ST" / partner).mkdir(parents=True)
    os.close(held.open(tmp_path, ("ST", "A"), ()))
    now[0] = 30
    os.close(held.open(tmp_path, ("ST", "B"), ()))
    assert len(held) == 2
    now[0] = 61  # A unused for 61 s, B for 31 s
    os.close(held.open(tmp_path, ("ST", "B"), ()))
    assert len(held) == 1
    now[0] = 500
    write_through(held, tmp_path, "again", parts=("ST", "A"))  # walked afresh, B closed
    assert len(held) == 1
    assert (tmp_path / "ST" / "A" / "again").exists()
    held.clear()
