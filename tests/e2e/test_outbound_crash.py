"""SIGKILL the real daemon over and over while files are being sent: none lost, none twice.

The daemon is ``python -m as2sync run -c CONFIG`` against the emulator. It is killed at every
outbound failpoint (the dangerous lines: after the claim commit, after the rename into
processing, after the SUBMITTING commit, between the 202 and its commit, between the archive
link and unlink), several of them while other sends are in flight, and at seeded random moments;
it is restarted each time. At the end every file was submitted exactly once (the emulator's
submissions) and lies byte-identical in sent/, and nothing is left in outbox, processing or
failed.
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
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import open_ledger
from tests.e2e.harness import (
    PASSWORD,
    USER,
    DaemonProcess,
    crash_repeatedly,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e

FAILPOINTS = [
    "outbound.after_claim_commit@3",
    "outbound.after_rename@5",
    "outbound.after_submitting_commit@4",
    "outbound.after_202@6",
    "outbound.after_archive_link@7",
    "outbound.after_202@1",
    "outbound.after_submitting_commit@1",
]
RANDOM_KILLS = 6
PARTNERS = ("ACME", "GLOBEX")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(
        user=USER,
        password=PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec(p) for p in PARTNERS],
        rate_limit=None,
        delivery_delay=0.05,
    )
    with running_emulator(settings) as running:
        yield running


class Dropper:
    """Drops waves of files with unique, recognisable content and remembers them."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.files: dict[str, bytes] = {}  # "<partner>/<name>" -> content

    def wave(self, n: int) -> None:
        for _ in range(n):
            k = len(self.files)
            partner = PARTNERS[k % len(PARTNERS)]
            name = f"file-{k:04}." + self.rng.choice(["edi", "xml", "csv"])
            data = f"ISA*{k}*".encode() + self.rng.randbytes(self.rng.choice([50, 3_000, 40_000]))
            outbox = self.root / "MYSTATION" / partner / "outbox"
            outbox.mkdir(parents=True, exist_ok=True)
            tmp = outbox / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.rename(outbox / name)
            self.files[f"{partner}/{name}"] = data

    def sent(self) -> dict[str, bytes]:
        found = {}
        for partner in PARTNERS:
            sent = self.root / "MYSTATION" / partner / "sent"
            if sent.exists():
                for path in sent.iterdir():
                    found[f"{partner}/{path.name}"] = path.read_bytes()
        return found


def leftovers(root: Path) -> list[str]:
    rest = []
    for partner in PARTNERS:
        base = root / "MYSTATION" / partner
        for folder in (base / "outbox", base / "failed", base / ".as2sync" / "processing"):
            if folder.exists():
                rest += [str(p.relative_to(root)) for p in folder.iterdir()]
    return rest


def test_sigkill_at_any_point_sends_every_file_exactly_once(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    rng = random.Random(20261123)
    config = write_config(
        tmp_path,
        emu.base_url,
        gateway={"rate_limit": {"requests": 100_000, "per_seconds": 1}},
        outbound={
            "settle_seconds": 0.1,
            "scan_seconds": 1,
            "track_seconds": 0.5,
            "reconcile_grace_seconds": 1,
            "max_in_flight": 4,
        },
        inbound={"enabled": False},
    )
    root = tmp_path / "root"
    dropper = Dropper(root, rng)
    daemon = DaemonProcess(config)
    try:
        fired = crash_repeatedly(
            daemon,
            rng,
            failpoints=FAILPOINTS,
            random_kills=RANDOM_KILLS,
            before_each=lambda: dropper.wave(30),
            max_random_delay=0.8,
            failpoint_timeout=20,
        )
        assert daemon.proc is not None and daemon.proc.returncode == -9

        dropper.wave(10)
        daemon.start()
        wait_until(
            lambda: len(dropper.sent()) >= len(dropper.files),
            90,
            interval=0.2,
            what="every file in sent/",
        )
        ledger = open_ledger(tmp_path / "state")
        try:

            def ledger_done() -> bool:
                with ledger.read() as s:
                    return lo.count_in_states(s, lo.UNFINISHED_STATES) == 0

            wait_until(ledger_done, 30, interval=0.2, what="the ledger has nothing unfinished")
            with ledger.read() as s:
                rows = lo.in_states(s, list(lo.SubmissionState))
        finally:
            ledger.close()
        assert daemon.terminate() == 0
    finally:
        daemon.close()

    assert len(dropper.files) >= 250
    assert {f.split("@")[0] for f in fired} == {f.split("@")[0] for f in FAILPOINTS}, (
        fired,
        daemon.output()[-5000:],
    )
    # Exactly once on the gateway: each file's (name, content) submitted once, nothing else.
    submitted = Counter(
        (s.partner, name, hashlib.sha256(data).hexdigest())
        for s in emu.state.submissions()
        for name, data in s.attachments
    )
    expected = Counter(
        (key.split("/")[0], key.split("/")[1], hashlib.sha256(data).hexdigest())
        for key, data in dropper.files.items()
    )
    assert submitted - expected == Counter(), "submitted twice or unknown"
    assert expected - submitted == Counter(), "never submitted"
    assert emu.state.duplicate_submissions() == 0
    # And locally: every file in sent/ under its own name, byte-identical, nothing left over.
    assert dropper.sent() == dropper.files
    assert leftovers(root) == []
    # The ledger agrees with the gateway about every message ID.
    ids = {r.message_id for r in rows if r.message_id}
    assert ids == {s.message_id for s in emu.state.submissions()}
    assert {r.state.value for r in rows} <= {"archived", "delivered"}
