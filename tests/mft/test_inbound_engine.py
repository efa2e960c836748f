"""The inbound engine (as the daemon wires it: real ledger, real folders) driving the MFT
backend against the MFT emulator: every received attachment is stored exactly once and
byte-identical, through faults and restarts, under both readings of the inbox."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.backend import MftBackend
from as2sync.backends.mftgateway.client import MftClient
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.mft.settings import MftSettings
from as2sync.emulator.settings import Faults
from as2sync.errors import GatewayError
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger.db import open_ledger
from tests.integration.inbound_support import inbox_files, make_config, work_files
from tests.mft.conftest import PASSWORD, USER, MakeMft


class Rig:
    """An inbound engine on ``base`` over a fresh MFT backend; ``restart`` builds a new one on
    the same state, as a process restart after a crash would."""

    def __init__(self, emu: RunningMftEmulator, base: Path) -> None:
        self.emu = emu
        self.config = make_config(base, emu.base_url)
        self.stop = threading.Event()
        self._build()

    def _build(self) -> None:
        self.ledger = open_ledger(self.config.state_dir)
        client = MftClient(
            self.emu.base_url,
            USER,
            PASSWORD,
            limiter=RateLimiter(100_000, 1.0),
            retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.001, sleep=lambda _s: None),
        )
        self.backend = MftBackend(client, page_length=4)
        self.engine = InboundEngine(self.config, self.ledger, self.backend)
        self.engine.start()

    def close(self) -> None:
        self.backend.close()
        self.ledger.close()

    def restart(self) -> None:
        self.close()
        self._build()

    def poll(self) -> int:
        return self.engine.poll(self.stop)

    def files(self) -> dict[str, bytes]:
        return inbox_files(self.config.folders.root)


def seed(emu: RunningMftEmulator, count: int) -> dict[str, bytes]:
    """``count`` messages of one or two attachments; the inbox paths they should end at."""
    expected = {}
    for i in range(count):
        files = [(f"po-{i:03}.edi", f"ISA*{i}*".encode() * (i + 1))]
        if i % 3 == 0:
            files.append((f"po-{i:03}.pdf", b"%PDF" + bytes([i])))
        emu.state.seed_received("MYSTATION", "ACME", files, persisted_ms=1_000 + i)
        for name, data in files:
            expected[f"MYSTATION/ACME/inbox/{name}"] = data
    return expected


MakeRig = Callable[[RunningMftEmulator], Rig]


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[MakeRig]:
    made: list[Rig] = []

    def make(emu: RunningMftEmulator) -> Rig:
        rig = Rig(emu, tmp_path)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@pytest.mark.parametrize("reading", ["a", "b"])
def test_every_message_is_stored_once_and_marked_read(
    make_mft: MakeMft, rigs, reading: str
) -> None:  # type: ignore[no-untyped-def]
    emu = make_mft(mft=MftSettings(list_marks_read=reading == "b"))
    expected = seed(emu, 10)
    rig = rigs(emu)
    rig.poll()
    rig.poll()
    assert rig.files() == expected
    assert all(emu.state.is_read(m) for m in emu.state.received_ids())
    assert work_files(rig.config.folders.root) == []


def test_faults_and_restarts_lose_nothing_and_store_nothing_twice(
    make_mft: MakeMft, rigs: MakeRig
) -> None:
    emu = make_mft()
    expected = seed(emu, 12)
    rig = rigs(emu)
    emu.state.set_faults(
        Faults(error_before=0.15, error_after=0.15, drop_after=0.1, truncate=0.2, seed=7)
    )
    for round_ in range(12):
        with contextlib.suppress(GatewayError):  # a poll may fail as a whole; the next goes on
            rig.poll()
        if round_ % 3 == 2:
            rig.restart()
    emu.state.set_faults(Faults())
    rig.poll()
    rig.poll()
    assert rig.files() == expected
    assert all(emu.state.is_read(m) for m in emu.state.received_ids())
    assert emu.state.fault_counts()  # the faults did fire


@pytest.mark.xfail(
    strict=True,
    reason="reading (b) recovery is not built: it needs fetchAll=true listings compared with "
    "the ledger, which the backend cannot see (an engine hook; see receiving.py)",
)
def test_reading_b_a_crash_right_after_a_list_answer_loses_nothing(
    make_mft: MakeMft, rigs: MakeRig
) -> None:
    emu = make_mft(mft=MftSettings(list_marks_read=True))
    expected = seed(emu, 3)
    rig = rigs(emu)
    next(iter(rig.backend.pending(rig.stop)))  # the list answered; the process dies here
    rig.restart()
    rig.poll()
    rig.poll()
    assert rig.files() == expected
