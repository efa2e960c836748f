"""SIGKILL the real daemon over and over while messages flow in: nothing lost, nothing twice.

The daemon is ``python -m as2sync run -c CONFIG``; the gateway is the emulator with a small
batch limit, so 206 truncations, one-by-one downloads and explicit mark-reads all happen. The
process is killed at every inbound failpoint (the dangerous lines between a request, a ledger
commit and a file move) and at seeded random moments, and restarted each time. At the end every
attachment is in the inbox exactly once, byte-identical, every message is marked read on the
gateway, and the ledger has nothing left to do.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec
from as2sync.folders.layout import WORK_DIR
from as2sync.ledger import inbound as li
from as2sync.ledger.db import open_ledger
from as2sync.ledger.inbound import InboundState
from tests.e2e.harness import (
    PASSWORD,
    USER,
    DaemonProcess,
    crash_repeatedly,
    wait_until,
    write_config,
)

# Partners send two attachments of one name now and then; zipfile warns when writing that.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Duplicate name")]

BATCH_LIMIT = 48 * 1024
FAILPOINTS = [
    "inbound.after_fetching_commit@1",
    "inbound.after_download@2",
    "inbound.after_planned@2",
    "inbound.after_link@7",
    "inbound.after_stored@2",
    "inbound.before_mark_read@1",
    "inbound.after_download@1",
    "inbound.after_link@1",
    "inbound.after_planned@1",
    "inbound.before_mark_read@2",
]
RANDOM_KILLS = 6


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(
        user=USER,
        password=PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec("ACME"), PartnerSpec("GLOBEX")],
        rate_limit=None,
        batch_limit_bytes=BATCH_LIMIT,
    )
    with running_emulator(settings) as running:
        yield running


class Seeder:
    """Seeds waves of messages with unique, recognisable content and remembers them."""

    def __init__(self, emu: RunningEmulator, rng: random.Random) -> None:
        self.emu = emu
        self.rng = rng
        self.ids: list[str] = []
        self.contents: Counter[str] = Counter()  # sha256 of every attachment seeded

    def wave(self, n: int) -> None:
        for _ in range(n):
            k = len(self.ids)
            count = self.rng.choice([1, 1, 1, 2, 3])
            size = self.rng.choice([200, 2_000, 9_000, 20_000])
            if k % 17 == 5:
                size = 30_000  # with its siblings over the batch limit: one by one
                count = 3
            files = []
            for j in range(count):
                data = f"message {k} attachment {j}\n".encode() + self.rng.randbytes(size)
                name = self.rng.choice(["invoice.edi", f"order-{k}-{j}.xml", "../../x.edi"])
                files.append((name, data))
                self.contents[hashlib.sha256(data).hexdigest()] += 1
            partner = "ACME" if k % 3 else "GLOBEX"
            self.ids.append(self.emu.state.seed_received("MYSTATION", partner, files))

    def all_read(self) -> bool:
        return all(self.emu.state.is_read(m) for m in self.ids)


def inbox_contents(root: Path) -> Counter[str]:
    """Every file in an inbox (not the work folders, not the daemon's lock files)."""
    found: Counter[str] = Counter()
    for path in root.glob("*/*/inbox/**/*"):
        if path.is_file() and WORK_DIR not in path.relative_to(root).parts:
            found[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return found


def test_sigkill_at_any_point_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rng = random.Random(20261122)
    config = write_config(
        tmp_path,
        emu.base_url,
        gateway={"rate_limit": {"requests": 100_000, "per_seconds": 1}},
        outbound={"enabled": False},
        inbound={"poll_seconds": 0.1},
    )
    root = tmp_path / "root"
    seeder = Seeder(emu, rng)
    daemon = DaemonProcess(config)
    try:
        fired = crash_repeatedly(
            daemon,
            rng,
            failpoints=FAILPOINTS,
            random_kills=RANDOM_KILLS,
            before_each=lambda: seeder.wave(25),
            max_random_delay=0.6,
            failpoint_timeout=15,
        )
        assert daemon.proc is not None and daemon.proc.returncode == -9

        seeder.wave(10)
        daemon.start()
        wait_until(seeder.all_read, 90, interval=0.2, what="every message marked read")
        ledger = open_ledger(tmp_path / "state")
        try:

            def ledger_done() -> bool:
                with ledger.read() as s:
                    return li.pending_count(s) == 0

            wait_until(ledger_done, 30, interval=0.2, what="the ledger has nothing pending")
            with ledger.read() as s:
                read = li.in_state(s, InboundState.READ)
                assert len({r.message_id for r in read}) == len(seeder.ids)
        finally:
            ledger.close()
        assert daemon.terminate() == 0
    finally:
        daemon.close()

    assert len(seeder.ids) >= 300
    # Every failpoint killed the process at least once (each is listed with a count that one
    # poll of a wave of 25 messages reaches).
    assert {f.split("@")[0] for f in fired} == {f.split("@")[0] for f in FAILPOINTS}, (
        fired,
        daemon.output()[-5000:],
    )
    found = inbox_contents(root)
    missing = seeder.contents - found
    doubled = found - seeder.contents
    assert not missing, f"{sum(missing.values())} attachment(s) lost"
    assert not doubled, f"{sum(doubled.values())} extra file(s)"
    assert not list(root.rglob(".error"))
    leftovers = [p for p in root.rglob("*") if WORK_DIR in p.parts and p.parent.name == "incoming"]
    assert leftovers == []
