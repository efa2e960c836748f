"""Find candidate files in outboxes: ``os.scandir``, exclude patterns, done-files.

A scan yields one small :class:`Observation` per regular file that may be sent; it never
opens a file and never holds more than one directory listing, so 10,000 waiting files cost
10,000 ``stat`` results and nothing else. Whether a file is *ready* is decided elsewhere
(:mod:`as2sync.outbound.readiness`); whether it was already sent is the ledger's business.

Ignored: sub-directories, symlinks (renaming a link into processing would not pin the bytes
it points to), names matching ``outbound.exclude`` while they match (a ``.part`` renamed to its
final name is seen under the new name), and the done-files themselves.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from as2sync.layout import PartnerDirs


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


def _observation(dirs: PartnerDirs, entry: os.DirEntry[str]) -> Observation | None:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:  # gone since the listing
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Observation(
        dirs.station, dirs.partner, entry.path, entry.name, st.st_size, st.st_mtime_ns
    )


def scan_outbox(dirs: PartnerDirs, flt: Filter) -> Iterator[Observation]:
    """Every candidate file in one outbox. A missing or unreadable outbox yields nothing (the
    caller logs it; the folder may simply not have been created yet)."""
    try:
        with os.scandir(dirs.outbox) as it:
            if not flt.done_suffix:
                for entry in it:
                    if not flt.excluded(entry.name):
                        obs = _observation(dirs, entry)
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
    except FileNotFoundError:
        return
    for entry in candidates:
        if entry.name in done:
            obs = _observation(dirs, entry)
            if obs is not None:
                yield obs


def observe_path(dirs: PartnerDirs, path: Path, flt: Filter) -> Observation | None:
    """The observation for one outbox path (a watcher hint), or None if it is not a candidate
    now (excluded, missing, not a regular file, or its done-file is missing)."""
    name = path.name
    if flt.excluded(name):
        return None
    if flt.done_suffix and not os.path.lexists(path.with_name(name + flt.done_suffix)):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Observation(dirs.station, dirs.partner, str(path), name, st.st_size, st.st_mtime_ns)


def scan_all(
    pairs: Sequence[PartnerDirs], flt: Filter
) -> Iterator[tuple[PartnerDirs, Observation]]:
    for dirs in pairs:
        for obs in scan_outbox(dirs, flt):
            yield dirs, obs
