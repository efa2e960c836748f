"""Where a partnership's folders are: ``<root>/<station>/<partner>/{outbox,inbox,sent,failed}``.

The folder names are the AS2 identifiers, mirroring the AS2 Gateway's own SFTP layout, so no
routing table is needed; explicit ``routes:`` map other folders to a station/partner pair.
Each partnership also has a hidden work folder ``.as2sync/`` beside its outbox and inbox. It is
on the same filesystem by construction, which is what makes the claim (outbox -> processing)
and the inbox write (temp -> inbox) single atomic renames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from as2sync.config.schema import Config

WORK_DIR = ".as2sync"


@dataclass(frozen=True)
class PartnerDirs:
    station: str
    partner: str
    base: Path

    @property
    def outbox(self) -> Path:
        return self.base / "outbox"

    @property
    def inbox(self) -> Path:
        return self.base / "inbox"

    @property
    def sent(self) -> Path:
        return self.base / "sent"

    @property
    def failed(self) -> Path:
        return self.base / "failed"

    @property
    def processing(self) -> Path:
        """Claimed outbound files live here until archived; users do not touch it."""
        return self.base / WORK_DIR / "processing"

    @property
    def incoming(self) -> Path:
        """Inbound temp files, fsynced here before the rename into the inbox."""
        return self.base / WORK_DIR / "incoming"

    def ensure(self) -> None:
        for d in (self.outbox, self.inbox, self.sent, self.failed, self.processing, self.incoming):
            d.mkdir(parents=True, exist_ok=True)


def _is_visible_dir(entry: os.DirEntry[str]) -> bool:
    return not entry.name.startswith(".") and entry.is_dir(follow_symlinks=True)


def discover(config: Config) -> list[PartnerDirs]:
    """Every partnership found under ``folders.root`` plus the configured routes.

    A partnership is a ``<station>/<partner>`` folder pair; it exists as soon as the folder
    does (the sub-folders are created on demand). Hidden folders are ignored.
    """
    found: dict[tuple[str, str], PartnerDirs] = {}
    root = config.folders.root
    try:
        stations = sorted((e for e in os.scandir(root) if _is_visible_dir(e)), key=lambda e: e.name)
    except OSError:
        stations = []
    for station in stations:
        try:
            partners = sorted(
                (e for e in os.scandir(station.path) if _is_visible_dir(e)), key=lambda e: e.name
            )
        except OSError:
            continue
        for partner in partners:
            found[(station.name, partner.name)] = PartnerDirs(
                station.name, partner.name, Path(partner.path)
            )
    for route in config.routes:
        found[(route.station, route.partner)] = PartnerDirs(
            route.station, route.partner, route.path
        )
    return list(found.values())


def partner_dirs(config: Config, station: str, partner: str) -> PartnerDirs:
    """The folders of one partnership (a route if one is configured, else under root)."""
    for route in config.routes:
        if route.station == station and route.partner == partner:
            return PartnerDirs(station, partner, route.path)
    return PartnerDirs(station, partner, config.folders.root / station / partner)
