"""A partnership folder created while the daemon runs is watched at once: a file dropped into
its outbox is sent without waiting for the next full scan (the engine against the emulator,
real folders, native and polling observers, ``scan_seconds`` far away)."""

from __future__ import annotations

from pathlib import Path

import pytest

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from tests.conftest import MakeEmulator
from tests.integration.outbound_support import STATION, Rig


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> RunningEmulator:
    return make_emulator(partners=[PartnerSpec("ACME"), PartnerSpec("NEWPARTNER")])


def drop(outbox: Path, name: str, data: bytes) -> None:
    tmp = outbox / f".{name}.writing"
    tmp.write_bytes(data)
    tmp.rename(outbox / name)


@pytest.mark.parametrize("observer", ["native", "polling"])
@pytest.mark.parametrize("where", ["partner", "station"])
def test_a_file_in_a_partnership_created_while_running_is_sent_without_a_full_scan(
    tmp_path: Path, emulator: RunningEmulator, observer: str, where: str
) -> None:
    station = STATION if where == "partner" else "NEWSTATION"
    if where == "station":
        emulator.state.add_station("NEWSTATION")
    rig = Rig(tmp_path, emulator, {"scan_seconds": 3600, "observer": observer})
    try:
        rig.start()
        rig.run_for(0.3)
        scans = rig.engine.full_scans
        assert scans == 1  # the start-up scan; the next one is an hour away
        outbox = rig.root / station / "NEWPARTNER" / "outbox"
        outbox.mkdir(parents=True)
        drop(outbox, "order.edi", b"ISA*new")
        rig.run_until(lambda: len(rig.submissions()) == 1, timeout=20)
        [sub] = rig.submissions()
        assert (sub.station, sub.partner) == (station, "NEWPARTNER")
        assert sub.attachments == [("order.edi", b"ISA*new")]
        assert rig.engine.full_scans == scans  # found through the watcher, not a rescan
        assert rig.engine.watching(outbox)
    finally:
        rig.close()
