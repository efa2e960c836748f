"""Gateway and filesystem faults: nothing is lost, nothing is stored twice."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from as2sync.errors import GatewayError, StorageError
from as2sync.ledger import inbound as li
from as2sync.ledger.inbound import InboundState
from tests.integration.inbound_support import FakeGateway, ManualClock, Rigs, work_files


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def seed(emu: RunningEmulator, n: int, prefix: str = "f") -> dict[str, bytes]:
    files = {}
    for k in range(n):
        data = f"{prefix}{k}-".encode() * (k + 1)
        emu.state.seed_received("MYSTATION", "ACME", [(f"{prefix}{k}.edi", data)])
        files[f"MYSTATION/ACME/inbox/{prefix}{k}.edi"] = data
    return files


def test_a_download_cut_mid_body_is_fetched_again_by_id_although_marked_read(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    expected = seed(emulator, 5)
    emulator.state.set_faults(Faults(truncate=1.0, endpoints=("batch",)))
    rig = rigs.make(emulator.base_url)
    with pytest.raises(GatewayError):
        rig.poll()
    # The gateway marked them read before the body was cut; only the ledger remembers them.
    assert all(emulator.state.is_read(m) for m in emulator.state.received_ids())
    assert rig.files() == {}
    with rig.ledger.read() as s:
        assert len(li.in_state(s, InboundState.FETCHING)) == 5
    emulator.state.set_faults(Faults())
    assert rig.poll() == 5
    assert rig.files() == expected
    assert work_files(rig.root) == []


def test_a_crash_after_the_gateway_marked_messages_read_loses_nothing(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    expected = seed(emulator, 3)
    emulator.state.set_faults(Faults(truncate=1.0, endpoints=("batch",)))
    rig = rigs.make(emulator.base_url)
    with pytest.raises(GatewayError):
        rig.poll()
    emulator.state.set_faults(Faults())
    restarted = rigs.restart(rig)  # a new process: it has only the ledger to go by
    assert restarted.poll() == 3
    assert restarted.files() == expected


def test_token_expiry_mid_run_renews_and_carries_on(emulator: RunningEmulator, rigs: Rigs) -> None:
    expected = seed(emulator, 3, "a")
    rig = rigs.make(emulator.base_url)
    rig.poll()
    emulator.state.expire_tokens()  # every token issued so far is now refused
    expected |= seed(emulator, 3, "b")
    assert rig.poll() == 3
    # Tokens refused at random moments of a longer run (a renewed one too, now and then:
    # the poll fails and the next one carries on, as the daemon's loop does).
    emulator.state.set_faults(Faults(token_expiry=0.3, seed=3))
    expected |= seed(emulator, 150, "c")
    failures = 0
    for _ in range(30):
        try:
            rig.poll()
        except GatewayError:
            failures += 1
            continue
        if all(emulator.state.is_read(m) for m in emulator.state.received_ids()):
            break
    emulator.state.set_faults(Faults())
    rig.poll()
    assert rig.files() == expected
    assert all(emulator.state.is_read(m) for m in emulator.state.received_ids())
    assert any(status == 401 for _m, _p, status in emulator.state.request_log())


def test_an_error_folder_leaves_the_message_for_later_and_writes_no_error_file(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    gone = emulator.state.seed_received("MYSTATION", "ACME", [("gone.edi", b"G")])
    kept = emulator.state.seed_received("MYSTATION", "ACME", [("kept.edi", b"K")])
    emulator.state.set_faults(Faults(error_before=1.0, endpoints=("batch",)))
    clock = ManualClock()
    rig = rigs.make(emulator.base_url, clock=clock)
    with pytest.raises(GatewayError):
        rig.poll()  # both are FETCHING now
    emulator.state.delete("received", [gone])  # the gateway can no longer serve it
    emulator.state.set_faults(Faults())
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert rig.files() == {"MYSTATION/ACME/inbox/kept.edi": b"K"}
    assert emulator.state.is_read(kept)
    (event,) = [e for e in logs if e["event"] == "inbound.error_entry"]
    assert event["message_id"] == gone and "No received AS2 message" in event["reason"]
    assert not list(rig.root.rglob(".error"))
    with rig.ledger.read() as s:
        (row,) = li.in_state(s, InboundState.FETCHING)
        assert (row.message_id, row.attempts) == (gone, 1)
    # Retried by later polls (backing off), never dropped.
    emulator.state.clear_request_log()
    rig.poll()
    batches = [p for _m, p, _s in emulator.state.request_log() if "batch" in p]
    assert len(batches) == 1
    clock.advance(3600)
    rig.poll()
    with rig.ledger.read() as s:
        (row,) = li.in_state(s, InboundState.FETCHING)
        assert row.attempts == 3


def test_a_download_that_disagrees_with_the_list_is_not_stored_and_retried(
    rigs: Rigs,
) -> None:
    fake = FakeGateway()
    fake.add("<m@x>", [("a.edi", b"four")], listed=[("a.edi", 5)])
    fake.add("<ok@x>", [("b.edi", b"fine")])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport())
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert rig.files() == {"MYSTATION/ACME/inbox/b.edi": b"fine"}
    assert any(e["event"] == "inbound.verify_failed" and e["message_id"] == "<m@x>" for e in logs)
    assert fake.messages["<m@x>"].read  # the batch marked it; the ledger still has it
    fake.messages["<m@x>"].files = [("a.edi", b"five!")]  # the gateway serves it right now
    assert rig.poll() == 1
    assert rig.files()["MYSTATION/ACME/inbox/a.edi"] == b"five!"


def test_an_unwritable_inbox_keeps_messages_unfinished_until_it_is_fixed(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    expected = seed(emulator, 3)
    rig = rigs.make(emulator.base_url)
    rig.inbox().parent.mkdir(parents=True)
    rig.inbox().write_bytes(b"not a folder")  # the inbox cannot be created or written
    with capture_logs() as logs, pytest.raises(StorageError):
        rig.poll()
    assert any(e["event"] == "inbound.storage_error" for e in logs)
    with rig.ledger.read() as s:
        assert len(li.in_state(s, InboundState.FETCHING)) == 3
    with pytest.raises(StorageError):
        rig.poll()  # still broken: still nothing lost
    rig.inbox().unlink()
    assert rig.poll() == 3
    assert rig.files() == expected
    assert all(emulator.state.is_read(m) for m in emulator.state.received_ids())
    assert work_files(rig.root) == []


def test_an_inbox_that_breaks_between_download_and_move_is_finished_by_the_next_poll(
    rigs: Rigs, tmp_path: Path
) -> None:
    fake = FakeGateway()
    fake.add("<big@x>", [("p1", b"1" * 70), ("p2", b"2" * 70)])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport(), batch_max_bytes=100)
    broken = threading.Event()

    def break_inbox(method: str, path: str) -> None:
        if path.endswith("/attachments/1") and not broken.is_set():
            broken.set()
            shutil.rmtree(rig.inbox())
            rig.inbox().write_bytes(b"someone replaced the inbox by a file")

    fake.on_request = break_inbox
    with pytest.raises(StorageError):
        rig.poll()
    with rig.ledger.read() as s:
        assert len(li.planned_files(s)) == 2  # durable, planned, not moved
    assert not fake.messages["<big@x>"].read
    rig.inbox().unlink()
    assert rig.poll() == 1
    assert rig.files() == {
        "MYSTATION/ACME/inbox/p1": b"1" * 70,
        "MYSTATION/ACME/inbox/p2": b"2" * 70,
    }
    assert fake.messages["<big@x>"].read
    assert work_files(rig.root) == []
