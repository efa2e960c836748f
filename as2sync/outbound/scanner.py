"""Find candidate files in outboxes: ``os.scandir``, exclude patterns, done-files.

A scan yields one small :class:`Observation` per regular file that may be sent; it never
opens a file and never holds more than one directory listing, so 10,000 waiting files cost
10,000 ``stat`` results and nothing else. Whether a file is *ready* is decided elsewhere
(:mod:`as2sync.outbound.readiness`); whether it was already sent is the ledger's business.

Ignored: sub-directories, symlinks (renaming a link into processing would not pin the bytes
it points to), names matching ``outbound.exclude`` while they match (a ``.part`` renamed to its
final name is seen under the new name), and the done-files themselves. The outbox is listed and
its files are stat-ed through a verified folder descriptor (:meth:`PartnerDirs.open`): an
outbox, or a folder above it, that is a symbolic link yields nothing.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from as2sync.folders.fsutil import exists_at
from as2sync.folders.layout import PartnerDirs


@dataclass(frozen=True, slots=True)
class Observation:
    """A file seen in an outbox, with the size and mtime that settle checks compare."""

    station: str
    partner: str
    path: str
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Filter:
    """Which names in an outbox are candidates.

    ``done_suffix``: a file is a candidate only while ``<name><done_suffix>`` exists.
    """

    exclude: tuple[str, ...]
    done_suffix: str | None = None

    def excluded(self, name: str) -> bool:
        if self.done_suffix and name.endswith(self.done_suffix):
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude)

    def base_of(self, name: str) -> str:
        """The data file a name stands for: the name itself, or the done-file's base name."""
        if self.done_suffix and name.endswith(self.done_suffix) and name != self.done_suffix:
            return name[: -len(self.done_suffix)]
        return name


def _observation(
    dirs: PartnerDirs, outbox_fd: int, name: str, entry: os.DirEntry[str] | None = None
) -> Observation | None:
    try:
        if entry is not None:  # a listing of the descriptor: stat relative to it, no follow
            st = entry.stat(follow_symlinks=False)
        else:
            st = os.stat(name, dir_fd=outbox_fd, follow_symlinks=False)
    except OSError:  # gone since the listing
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    path = os.path.join(dirs.outbox, name)
    return Observation(dirs.station, dirs.partner, path, name, st.st_size, st.st_mtime_ns)


def _scan(dirs: PartnerDirs, outbox_fd: int, flt: Filter) -> Iterator[Observation]:
    with os.scandir(outbox_fd) as it:
        if not flt.done_suffix:
            for entry in it:
                if not flt.excluded(entry.name):
                    obs = _observation(dirs, outbox_fd, entry.name, entry)
                    if obs is not None:
                        yield obs
            return
        # Done-file mode needs the set of done-files before deciding; the listing is
        # consumed once and only candidate entries are kept.
        done: set[str] = set()
        candidates: list[os.DirEntry[str]] = []
        for entry in it:
            if entry.name.endswith(flt.done_suffix):
                done.add(flt.base_of(entry.name))
            elif not flt.excluded(entry.name):
                candidates.append(entry)
    for entry in candidates:
        if entry.name in done:
            obs = _observation(dirs, outbox_fd, entry.name, entry)
            if obs is not None:
                yield obs


def scan_outbox(dirs: PartnerDirs, flt: Filter) -> Iterator[Observation]:
    """Every candidate file in one outbox. A missing, unreadable or refused outbox yields
    nothing (the folder may simply not have been created yet; a refused one is reported by
    :func:`as2sync.folders.layout.survey`)."""
    try:
        with dirs.open(dirs.outbox) as fd:
            yield from _scan(dirs, fd, flt)
    except OSError:  # UnsafeFolder included
        return


def observe_path(dirs: PartnerDirs, path: Path, flt: Filter) -> Observation | None:
    """The observation for one outbox path (a watcher hint), or None if it is not a candidate
    now (not in the outbox, excluded, missing, not a regular file, or its done-file is
    missing)."""
    name = path.name
    if path.parent != dirs.outbox or flt.excluded(name):
        return None
    try:
        with dirs.open(dirs.outbox) as fd:
            if flt.done_suffix and not exists_at(fd, name + flt.done_suffix):
                return None
            return _observation(dirs, fd, name)
    except OSError:  # UnsafeFolder included
        return None


def scan_all(
    pairs: Sequence[PartnerDirs], flt: Filter
) -> Iterator[tuple[PartnerDirs, Observation]]:
    for dirs in pairs:
        for obs in scan_outbox(dirs, flt):
            yield dirs, obs
