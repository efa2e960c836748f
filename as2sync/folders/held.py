"""Partnership folders opened once, held open, and checked again at every use.

:func:`.fsutil.open_dir` reaches a folder below ``folders.root`` by walking it from the root one
``O_NOFOLLOW`` component at a time. Done for every file operation (several per message or
file), that walk was a large part of the daemon's CPU: each open and close of the root and
station folders is also an inotify event the outbound watcher, which watches them, must read.
So :class:`HeldFolders` keeps the descriptor at the end of that walk -- the partnership folder
``<anchor>/<station>/<partner>``, or a route folder -- open, and opens the folders below it
(outbox, ``.as2sync/incoming``, ...) relative to it, fresh for every call as before.

The guarantee is the walk's, at every use. Before a held descriptor is used, the path of each
component below the anchor is ``lstat``-ed (which never follows the component itself) and must
still be a real folder with the ``(st_dev, st_ino)`` the walk recorded; for a route folder (the
anchor itself, trusted and followed like in the walk) ``stat`` must give the recorded identity.
Otherwise the descriptor is closed and the walk is made again, refusing a symbolic link exactly
as before. So a held descriptor is used only when, at that moment, the configured path reaches
that very folder through real folders: what a fresh walk would have opened. A partnership
folder renamed away and replaced by a symbolic link (to itself, even) or by another folder
fails the check at its next use; the descriptor never carries an operation into a folder the
path no longer names. (An inode number cannot be reused while the held descriptor keeps the
folder alive, so "same identity" means "same folder".) A swap *during* an operation is what
it was with the walk: the operation goes on in the real folder it started in, never through a
link.

At most :data:`HELD_MAX` descriptors are held (least recently used closed first), none longer
than :data:`IDLE_SECONDS` unused; all are close-on-exec.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from as2sync.folders.fsutil import DIR_FLAGS, is_folder_name, open_part

HELD_MAX = 64
"""Partnership folders held open at once (a few hundred partnerships share them in turn)."""
IDLE_SECONDS = 60.0
"""A held folder unused this long is closed (the daemon's scans use active ones far more often)."""


class _Check(NamedTuple):
    """One component's path and the identity the walk found there."""

    path: str
    dev: int
    ino: int
    follow: bool  # only a route's anchor is followed (trusted as configured, as in the walk)

    def holds(self) -> bool:
        try:
            st = os.stat(self.path, follow_symlinks=self.follow)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_ino == self.ino and st.st_dev == self.dev


class _Held(NamedTuple):
    fd: int
    checks: tuple[_Check, ...]

    def valid(self) -> bool:
        return all(check.holds() for check in self.checks)


def _check(path: Path, fd: int, *, follow: bool) -> _Check:
    st = os.fstat(fd)
    return _Check(os.fspath(path), st.st_dev, st.st_ino, follow)


def _walk(anchor: Path, parts: Sequence[str], create: bool) -> _Held:
    """The walk of :func:`.fsutil.open_dir`, recording each component's identity."""
    if create:
        os.makedirs(anchor, exist_ok=True)
    fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        checks = [] if parts else [_check(anchor, fd, follow=True)]
        path = anchor
        for part in parts:
            path = path / part
            child = open_part(fd, part, path, create)
            os.close(fd)
            fd = child
            checks.append(_check(path, fd, follow=False))
    except BaseException:
        os.close(fd)
        raise
    return _Held(fd, tuple(checks))


def _fast_open(dir_fd: int, part: str) -> int | None:
    """:func:`.fsutil.open_part` when all goes well (None when it does not)."""
    if not is_folder_name(part):
        return None
    try:
        return os.open(part, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None


def _below(base_fd: int, base: Callable[[], Path], parts: Sequence[str], create: bool) -> int:
    """A new descriptor of ``parts`` below the folder ``base_fd`` (left open). ``base()``
    names that folder, only for an error message: building paths costs more than the opens."""
    if not parts:
        return os.open(".", DIR_FLAGS, dir_fd=base_fd)
    fd = base_fd
    try:
        for i, part in enumerate(parts):
            child = _fast_open(fd, part)
            if child is None:
                # Missing, a link, not a folder, not a name...: open_part creates it, or
                # raises as the walk does, naming the path.
                child = open_part(fd, part, base().joinpath(*parts[: i + 1]), create)
            if fd != base_fd:
                os.close(fd)
            fd = child
    except BaseException:
        if fd != base_fd:
            os.close(fd)
        raise
    return fd


class HeldFolders:
    """Verified partnership-folder descriptors, keyed by (anchor, parts), reused while they
    pass their check (see the module docstring). Safe to share between threads.

    At most ``size`` are held (least recently used closed first), and one unused for ``idle``
    seconds of ``clock`` is closed at the next call: a partnership no longer in use does not
    keep its folder (or its filesystem, for ``umount``) busy."""

    def __init__(
        self,
        size: int = HELD_MAX,
        idle: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._size = size
        self._idle = idle
        self._clock = clock
        # Least recently used first; each with the time it was last used.
        self._held: OrderedDict[tuple[Path, tuple[str, ...]], tuple[_Held, float]] = OrderedDict()
        # Held while a held descriptor is used, so none is closed under another thread.
        self._lock = threading.Lock()

    def open(
        self, anchor: Path, parts: tuple[str, ...], below: Sequence[str], *, create: bool = False
    ) -> int:
        """A new descriptor (the caller closes it) of ``anchor/parts/below``, each component
        below ``anchor`` checked not to be a symbolic link: UnsafeFolder otherwise, OSError as
        the filesystem does (FileNotFoundError: missing and not ``create``); as
        :func:`.fsutil.open_dir`."""
        key = (anchor, parts)
        now = self._clock()
        with self._lock:
            self._close_idle(now)
            entry = self._held.pop(key, None)
            held = entry[0] if entry is not None else None
            if held is not None and not held.valid():
                os.close(held.fd)
                held = None
            if held is None:
                held = _walk(anchor, parts, create)
                while len(self._held) >= self._size:
                    self._close_oldest()
            self._held[key] = (held, now)  # (back) at the most recently used end
            return _below(held.fd, lambda: anchor.joinpath(*parts), below, create)

    def _close_idle(self, now: float) -> None:
        while self._held and next(iter(self._held.values()))[1] <= now - self._idle:
            self._close_oldest()

    def _close_oldest(self) -> None:
        _, (held, _used) = self._held.popitem(last=False)
        os.close(held.fd)

    def clear(self) -> None:
        """Close every held descriptor."""
        with self._lock:
            while self._held:
                self._close_oldest()

    def __len__(self) -> int:
        return len(self._held)


held_folders = HeldFolders()
"""The process's held partnership folders (used by :meth:`.layout.PartnerDirs.open`)."""
