"""The inbound engine (as the daemon wires it: real ledger, real folders) driving the MFT
backend against the MFT emulator: every received attachment is stored exactly once and
byte-identical, through faults and restarts, under both readings of the inbox."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from as2sync.backends.base import KnownIds, Pending
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

    backend_type: type[MftBackend] = MftBackend

    def __init__(self, emu: RunningMftEmulator, base: Path, **inbound: Any) -> None:
        self.emu = emu
        self.config = make_config(base, emu.base_url, **inbound)
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
        self.backend = self.backend_type(client, page_length=4)
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


def seed(
    emu: RunningMftEmulator, count: int, *, base_ms: int = 1_000, read: bool = False
) -> dict[str, bytes]:
    """``count`` messages of one or two attachments, received from ``base_ms`` on; the inbox
    paths they should end at."""
    expected = {}
    for i in range(count):
        files = [(f"po-{i:03}.edi", f"ISA*{i}*".encode() * (i + 1))]
        if i % 3 == 0:
            files.append((f"po-{i:03}.pdf", b"%PDF" + bytes([i])))
        emu.state.seed_received("MYSTATION", "ACME", files, persisted_ms=base_ms + i, read=read)
        for name, data in files:
            expected[f"MYSTATION/ACME/inbox/{name}"] = data
    return expected


MakeRig = Callable[..., Rig]


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[MakeRig]:
    made: list[Rig] = []

    def make(emu: RunningMftEmulator, **inbound: Any) -> Rig:
        rig = Rig(emu, tmp_path, **inbound)
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


def test_reading_b_a_crash_right_after_a_list_answer_loses_nothing(
    make_mft: MakeMft, rigs: MakeRig
) -> None:
    emu = make_mft(mft=MftSettings(list_marks_read=True))
    expected = seed(emu, 3, base_ms=int(time.time() * 1000))
    rig = rigs(emu)
    next(iter(rig.backend.pending(rig.stop)))  # the list answered; the process dies here
    assert emu.state.received_ids() and all(emu.state.is_read(m) for m in emu.state.received_ids())
    rig.restart()
    rig.poll()
    rig.poll()
    assert rig.files() == expected
    assert work_files(rig.config.folders.root) == []


def test_relisting_fetches_nothing_from_before_the_install_and_nothing_twice(
    make_mft: MakeMft, rigs: MakeRig
) -> None:
    """Read messages from before the ledger existed (less the clock-skew margin) are the
    account's history, not ours; a relisting pass after everything is stored adds nothing,
    even with on_redelivery store-again, and costs one list request."""
    emu = make_mft(mft=MftSettings(list_marks_read=True))
    now_ms = int(time.time() * 1000)
    seed(emu, 2, base_ms=now_ms - 3 * 3600 * 1000, read=True)  # history: never fetched
    expected = seed(emu, 3, base_ms=now_ms)
    rig = rigs(emu)
    rig.poll()
    assert rig.files() == expected
    rig.restart()  # a new process relists at its first poll
    before = len(emu.state.journal.exchanges())
    rig.poll()
    during = emu.state.journal.exchanges()[before:]
    assert rig.files() == expected
    relists = [e for e in during if ("fetchAll", "true") in e.query]
    assert len(relists) == 1  # the first page ends the walk: its unknown one is history
    assert not [e for e in during if e.path.endswith("/attachments")]


class ForgetfulRelisting(MftBackend):
    """Relists as if the ledger knew nothing (as when another process records a message between
    the backend's question and the engine's decision)."""

    def relist(
        self, known: KnownIds, since: float, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        return super().relist(lambda _ids: set(), since, stop)


def test_a_relisted_message_the_ledger_knows_is_never_a_redelivery(
    make_mft: MakeMft, rigs: MakeRig
) -> None:
    """Relisting shows read messages too: one already stored is left alone, even with
    on_redelivery store-again (a second generation would store its files twice)."""
    emu = make_mft()
    expected = seed(emu, 3, base_ms=int(time.time() * 1000))
    rig = rigs(emu, on_redelivery="store-again")
    rig.poll()
    assert rig.files() == expected
    rig.backend_type = ForgetfulRelisting
    rig.restart()
    rig.poll()
    assert rig.files() == expected


@pytest.mark.parametrize(
    "fault",
    [
        Faults(error_before=1.0, endpoints=("get",)),
        Faults(error_after=1.0, endpoints=("list",)),
    ],
    ids=["lookup-failed-after-the-list-answer", "list-answer-lost-after-the-server-acted"],
)
def test_reading_b_messages_a_list_call_marked_read_are_not_lost(
    make_mft: MakeMft, rigs: MakeRig, fault: Faults
) -> None:
    """The list call marked its page read, then either each lookup failed (this process hands
    those messages out at its next poll) or the list answer itself was lost (a 5xx after the
    action: the client never saw those IDs, and the next poll walks fetchAll before it lists
    anything). Newer messages (more than a page) arrive meanwhile and the periodic walk is not
    due."""
    emu = make_mft(mft=MftSettings(list_marks_read=True))
    rig = rigs(emu)
    rig.poll()  # the start-up walk is done: the next is an hour away
    now_ms = int(time.time() * 1000)
    expected = seed(emu, 3, base_ms=now_ms)
    emu.state.set_faults(fault)
    with pytest.raises(GatewayError):
        rig.poll()
    emu.state.set_faults(Faults())
    assert all(emu.state.is_read(m) for m in emu.state.received_ids())
    more = seed(emu, 6, base_ms=now_ms + 1000)  # same names: stored under free ones
    rig.poll()
    rig.poll()
    assert sorted(rig.files().values()) == sorted([*expected.values(), *more.values()])
