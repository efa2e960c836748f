"""Scanning outboxes: only regular, non-excluded files; done-files gate their data file."""

from __future__ import annotations

import os
from pathlib import Path

from as2sync.config.schema import DEFAULT_EXCLUDE
from as2sync.folders.layout import PartnerDirs
from as2sync.outbound.scanner import Filter, observe_path, scan_outbox


def dirs(tmp_path: Path) -> PartnerDirs:
    d = PartnerDirs("ST", "ACME", tmp_path / "ST" / "ACME")
    d.outbox.mkdir(parents=True)
    return d


def names(d: PartnerDirs, flt: Filter) -> list[str]:
    return sorted(o.name for o in scan_outbox(d, flt))


def test_default_excludes_hide_partial_and_hidden_files(tmp_path: Path) -> None:
    d = dirs(tmp_path)
    for name in (
        "a.edi",
        ".hidden",
        "b.tmp",
        "c.part",
        "d.partial",
        "e.filepart",
        "~lock",
        "f.xml",
    ):
        (d.outbox / name).write_text("x")
    assert names(d, Filter(DEFAULT_EXCLUDE)) == ["a.edi", "f.xml"]


def test_sub_directories_and_symlinks_are_ignored(tmp_path: Path) -> None:
    d = dirs(tmp_path)
    (d.outbox / "sub").mkdir()
    (d.outbox / "sub" / "inner.edi").write_text("x")
    target = tmp_path / "elsewhere.edi"
    target.write_text("x")
    os.symlink(target, d.outbox / "link.edi")
    (d.outbox / "real.edi").write_text("x")
    assert names(d, Filter(DEFAULT_EXCLUDE)) == ["real.edi"]


def test_done_file_mode_offers_only_files_with_their_done_file(tmp_path: Path) -> None:
    d = dirs(tmp_path)
    flt = Filter(DEFAULT_EXCLUDE, ".done")
    (d.outbox / "a.edi").write_text("a")
    (d.outbox / "b.edi").write_text("b")
    (d.outbox / "b.edi.done").write_text("")
    assert names(d, flt) == ["b.edi"]
    assert observe_path(d, d.outbox / "a.edi", flt) is None
    assert observe_path(d, d.outbox / "b.edi", flt) is not None
    assert flt.base_of("b.edi.done") == "b.edi"


def test_observation_carries_size_and_mtime(tmp_path: Path) -> None:
    d = dirs(tmp_path)
    (d.outbox / "a.edi").write_bytes(b"12345")
    os.utime(d.outbox / "a.edi", ns=(10**18, 10**18))
    [o] = list(scan_outbox(d, Filter(())))
    assert (o.station, o.partner, o.size, o.mtime_ns) == ("ST", "ACME", 5, 10**18)


def test_missing_outbox_yields_nothing(tmp_path: Path) -> None:
    d = PartnerDirs("ST", "ACME", tmp_path / "nowhere")
    assert list(scan_outbox(d, Filter(()))) == []
    assert observe_path(d, d.outbox / "a.edi", Filter(())) is None
