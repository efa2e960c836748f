"""Reconciliation of the real daemon process: a gateway message is only ever attributed to the
file whose bytes it carries.

The story of issue 11 item 3, with fixed-name, fixed-size exports (a common EDI pattern):
a send of ``inv.edi`` (100 x "A") ends in doubt (the gateway answers 5xx before acting), the
daemon stops; the next ``inv.edi`` (100 x "B") is accepted, and the daemon is SIGKILLed
between the 202 and its commit; it restarts with two rows in doubt whose names and sizes are
the same. Matching on names and sizes gave B's message to A, resent B and never sent A.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import EmulatorSettings, Faults, PartnerSpec
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import open_ledger
from as2sync.ledger.outbound import Submission, SubmissionState
from tests.e2e.harness import PASSWORD, USER, DaemonProcess, wait_until, write_config

pytestmark = pytest.mark.e2e

A = b"A" * 100
B = b"B" * 100


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(
        user=USER,
        password=PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec("ACME")],
        rate_limit=None,
        delivery_delay=0.05,
    )
    with running_emulator(settings) as running:
        yield running


def rows(state: Path) -> list[Submission]:
    ledger = open_ledger(state)
    try:
        with ledger.read() as s:
            return lo.in_states(s, list(SubmissionState))
    finally:
        ledger.close()


def drop(outbox: Path, name: str, data: bytes) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    tmp = outbox / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(outbox / name)


def test_same_name_and_size_in_doubt_is_settled_by_content_not_by_order(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    state = tmp_path / "state"
    config = write_config(
        tmp_path,
        emu.base_url,
        gateway={"rate_limit": {"requests": 100_000, "per_seconds": 1}},
        # The grace outlasts the stop and restart below: A is not resent before B's 202.
        outbound={"settle_seconds": 0.2, "scan_seconds": 1, "reconcile_grace_seconds": 10},
        inbound={"enabled": False},
    )
    pair = tmp_path / "root" / "MYSTATION" / "ACME"
    daemon = DaemonProcess(config)
    try:
        # 1. A's send ends in doubt (5xx before the gateway acted); the daemon stops.
        emu.state.set_faults(Faults(error_before=1.0, endpoints=("send",)))
        daemon.start()
        drop(pair / "outbox", "inv.edi", A)
        wait_until(
            lambda: [r.state for r in rows(state)] == [SubmissionState.IN_DOUBT],
            30,
            what="A in doubt",
        )
        assert daemon.terminate() == 0
        assert emu.state.submissions() == []

        # 2. B, same name and size, is accepted; the daemon dies between the 202 and its commit.
        emu.state.set_faults(Faults())
        drop(pair / "outbox", "inv.edi", B)
        daemon.start(failpoints="outbound.after_202@1", wait_ready=False)
        assert daemon.wait(30) == -9
        assert [s.attachments for s in emu.state.submissions()] == [[("inv.edi", B)]]

        # 3. Restart: both rows are in doubt, with the same names and sizes.
        daemon.start()
        wait_until(lambda: len(list((pair / "sent").glob("*"))) == 2, 60, what="two in sent/")

        def finished() -> bool:
            return all(r.state not in lo.UNFINISHED_STATES for r in rows(state))

        wait_until(finished, 30, what="nothing unfinished")
        assert daemon.terminate() == 0
    finally:
        daemon.close()

    # The gateway got A once and B once.
    sent = sorted(data for s in emu.state.submissions() for _name, data in s.attachments)
    assert sent == [A, B], daemon.output()[-5000:]
    # Each row holds the ID of the message that carries its own bytes.
    by_id = {s.message_id: s.attachments for s in emu.state.submissions()}
    for row in rows(state):
        [f] = row.files
        assert row.message_id is not None
        [(_name, data)] = by_id[row.message_id]
        assert sha(data) == f.sha256, (f.name, row.message_id)
    # And sent/ holds each file once, under its own name (the second with a " (2)").
    assert sorted(p.read_bytes() for p in (pair / "sent").iterdir()) == [A, B]
