"""Where a partnership's folders are: ``<root>/<station>/<partner>/{outbox,inbox,sent,failed}``.

The folder names are the AS2 identifiers, mirroring the AS2 Gateway's own SFTP layout, so no
routing table is needed; explicit ``routes:`` map other folders to a station/partner pair.
Each partnership also has a hidden work folder ``.as2sync/`` beside its outbox and inbox. It is
on the same filesystem by construction, which is what makes the claim (outbox -> processing)
and the inbox write (temp -> inbox) single atomic renames.

Symbolic links. ``folders.root`` and each route folder are trusted as the operator configured
them: a symlink there (``/srv/as2 -> /mnt/data/as2``) is followed. Everything below them can be
made by users or partners, so it must be a real folder: a station, partner, box (outbox, inbox,
sent, failed) or work folder (``.as2sync``) that is a symbolic link is refused. :func:`survey`
reports such a partnership as a :class:`FolderProblem` (logged, shown by ``status``) and leaves
it out, so nothing is moved from or into it; and every file operation opens its folders through
:meth:`PartnerDirs.open`, which checks each component again without following links, so a
folder swapped for a symlink after the survey is refused too (see :func:`.fsutil.open_dir`;
:mod:`.held` keeps the partnership folder's descriptor open and re-checks it at each use).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import structlog

from as2sync.config.schema import Config
from as2sync.errors import UnsafeFolder
from as2sync.folders.filenames import is_utf8
from as2sync.folders.held import held_folders

log = structlog.get_logger(__name__)

WORK_DIR = ".as2sync"
BOXES = ("outbox", "inbox", "sent", "failed", WORK_DIR)
"""The folders of a partnership that must never be symbolic links."""
WORK_FOLDERS = ("processing", "incoming")


@dataclass(frozen=True)
class PartnerDirs:
    """The folders of one partnership. ``base`` lies ``parts`` below ``anchor`` (the trusted
    folders.root, or a route folder, which is then ``base`` itself)."""

    station: str
    partner: str
    base: Path
    anchor: Path | None = None
    parts: tuple[str, ...] = field(default=())

    @cached_property
    def outbox(self) -> Path:
        return self.base / "outbox"

    @cached_property
    def inbox(self) -> Path:
        return self.base / "inbox"

    @cached_property
    def sent(self) -> Path:
        return self.base / "sent"

    @cached_property
    def failed(self) -> Path:
        return self.base / "failed"

    @cached_property
    def processing(self) -> Path:
        """Claimed outbound files live here until archived; users do not touch it."""
        return self.base / WORK_DIR / "processing"

    @cached_property
    def incoming(self) -> Path:
        """Inbound temp files, fsynced here before the rename into the inbox."""
        return self.base / WORK_DIR / "incoming"

    @contextlib.contextmanager
    def open(self, folder: Path, *, create: bool = False) -> Iterator[int]:
        """A descriptor of ``folder`` (``base`` or a folder below it), each component checked
        not to be a symbolic link: UnsafeFolder otherwise (see :func:`fsutil.open_dir`).
        ``create`` makes missing folders. Raises OSError as the filesystem does.

        The partnership folder's own descriptor is held open between calls and checked again
        at each one (see :mod:`.held`); the folders below it are opened afresh every time."""
        # folder.relative_to(self.base), at a fraction of its cost (it is called very often)
        depth = len(self.base.parts)
        if folder.parts[:depth] != self.base.parts:
            raise UnsafeFolder(f"{folder} is not inside {self.base}")
        below = folder.parts[depth:]
        anchor = self.anchor if self.anchor is not None else self.base
        fd = held_folders.open(anchor, self.parts, below, create=create)
        try:
            yield fd
        finally:
            os.close(fd)

    def make(self, folder: Path) -> None:
        """Create ``folder`` (and the folders above it, up to the anchor) if missing, through
        verified descriptors (UnsafeFolder if one on the way is a symbolic link)."""
        with self.open(folder, create=True):
            pass

    def ensure(self) -> None:
        for d in (self.outbox, self.inbox, self.sent, self.failed, self.processing, self.incoming):
            self.make(d)


@dataclass(frozen=True)
class FolderProblem:
    """A folder as2sync refuses to use, and why (for the log and ``status``)."""

    path: Path
    reason: str

    @property
    def shown(self) -> str:
        """The path as text any terminal or log can take: a byte of a name that is not UTF-8
        is written ``\\xc9`` (printing the name raw fails or garbles the line)."""
        return os.fsencode(self.path).decode("utf-8", "backslashreplace")

    def __str__(self) -> str:
        return f"{self.shown}: {self.reason}"


@dataclass
class Survey:
    pairs: list[PartnerDirs]
    problems: list[FolderProblem]
    parents: list[Path]
    """Where new partnership folders can appear: folders.root, each station folder, each
    route folder (the outbound watcher watches them for new sub-folders)."""


_LINK = "is a symbolic link; as2sync does not follow it (replace it by a real folder)"
_NOT_UTF8 = "the name is not UTF-8, so it cannot be an AS2 identifier"


def _entries(folder: Path, problems: list[FolderProblem]) -> list[os.DirEntry[str]]:
    """The visible sub-folders of ``folder``; symbolic links to folders become problems."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_symlink():
                if entry.is_dir(follow_symlinks=True):
                    problems.append(FolderProblem(Path(entry.path), _LINK))
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        if not is_utf8(entry.name):
            problems.append(FolderProblem(Path(entry.path), _NOT_UTF8))
            continue
        found.append(entry)
    return found


def _routed(config: Config, index: int) -> str:
    route = config.routes[index]
    return (
        f"{route.station}/{route.partner} is served by routes[{index}] ({route.path}), so files "
        "dropped here are never sent, and the next start refuses this configuration: move "
        "them to the route's folder and remove this one"
    )


def _unsafe_boxes(dirs: PartnerDirs) -> list[FolderProblem]:
    """Boxes and work folders of a partnership that are symbolic links."""
    problems = []
    checks = [dirs.base / box for box in BOXES]
    checks += [dirs.base / WORK_DIR / sub for sub in WORK_FOLDERS]
    for path in checks:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue  # missing (made on demand) or unreadable (reported where it is used)
        if stat.S_ISLNK(mode):
            problems.append(FolderProblem(path, _LINK))
    return problems


def survey(config: Config) -> Survey:
    """Every usable partnership under ``folders.root`` plus the configured routes, and every
    folder refused on the way (see the module docstring), including a folder under the root for
    a pair that a route serves.

    A partnership is a ``<station>/<partner>`` folder pair; it exists as soon as the folder
    does (the sub-folders are created on demand). Hidden folders are ignored.
    """
    problems: list[FolderProblem] = []
    candidates: dict[tuple[str, str], PartnerDirs] = {}
    root = config.folders.root
    parents = [root, *(route.path for route in config.routes)]
    routed = {(route.station, route.partner): i for i, route in enumerate(config.routes)}
    for station in _entries(root, problems):
        parents.append(Path(station.path))
        for partner in _entries(Path(station.path), problems):
            index = routed.get((station.name, partner.name))
            if index is not None:
                # Made after start-up checked the routes (which refuses it): the route serves
                # this pair, so nothing here would ever be sent; say so rather than skip it.
                problems.append(FolderProblem(Path(partner.path), _routed(config, index)))
                continue
            candidates[(station.name, partner.name)] = PartnerDirs(
                station.name,
                partner.name,
                Path(partner.path),
                anchor=root,
                parts=(station.name, partner.name),
            )
    for route in config.routes:
        candidates[(route.station, route.partner)] = PartnerDirs(
            route.station, route.partner, route.path
        )
    pairs = []
    for dirs in candidates.values():
        unsafe = _unsafe_boxes(dirs)
        problems.extend(unsafe)
        if not unsafe:
            pairs.append(dirs)
    return Survey(pairs, problems, parents)


def discover(config: Config) -> list[PartnerDirs]:
    """The usable partnerships (:func:`survey` without the problems)."""
    return survey(config).pairs


def partner_dirs(config: Config, station: str, partner: str) -> PartnerDirs:
    """The folders of one partnership (a route if one is configured, else under root)."""
    for route in config.routes:
        if route.station == station and route.partner == partner:
            return PartnerDirs(station, partner, route.path)
    root = config.folders.root
    return PartnerDirs(
        station, partner, root / station / partner, anchor=root, parts=(station, partner)
    )


def dirs_for_path(config: Config, path: Path) -> PartnerDirs:
    """The partnership whose folder holds ``path`` (a route's, else ``<root>/<station>/
    <partner>``), for recovery that knows only a recorded path. Raises UnsafeFolder when
    ``path`` is inside none of them (the configuration changed since it was recorded)."""
    for route in config.routes:
        if path.is_relative_to(route.path):
            return PartnerDirs(route.station, route.partner, route.path)
    root = config.folders.root
    if path.is_relative_to(root):
        below = path.relative_to(root).parts
        if len(below) > 2:
            return partner_dirs(config, below[0], below[1])
    raise UnsafeFolder(f"{path} is not inside folders.root or a route folder")


class ProblemLog:
    """Logs each folder problem once when it appears (an error) and once when it is gone."""

    def __init__(self) -> None:
        self._known: set[FolderProblem] = set()

    def update(self, problems: list[FolderProblem]) -> None:
        current = set(problems)
        for p in sorted(current - self._known, key=str):
            log.error("folders.refused", path=p.shown, reason=p.reason)
        for p in sorted(self._known - current, key=str):
            log.info("folders.accepted", path=p.shown)
        self._known = current
