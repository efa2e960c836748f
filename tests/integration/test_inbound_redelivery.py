"""Redelivered messages, clean-up on the gateway, and `as2sync retry MESSAGE_ID`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.backends.as2gateway.receiving import pending_of
from as2sync.emulator.server import RunningEmulator
from as2sync.errors import NotFound
from as2sync.ledger import inbound as li
from as2sync.ledger.inbound import InboundState
from tests.integration.inbound_support import Rigs


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def test_a_stored_message_marked_unread_again_is_skipped_by_default(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"A")])
    rig = rigs.make(emulator.base_url)
    rig.poll()
    emulator.state.mark_unread(mid)
    with capture_logs() as logs:
        assert rig.poll() == 0
    assert rig.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
    assert emulator.state.is_read(mid)
    (event,) = [e for e in logs if e["event"] == "inbound.redelivered"]
    assert (event["message_id"], event["action"]) == (mid, "skip")
    with rig.ledger.read() as s:
        assert li.latest(s, mid).redeliveries == 1  # type: ignore[union-attr]


def test_store_again_writes_a_new_generation_of_files(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"A")])
    rig = rigs.make(emulator.base_url, on_redelivery="store-again")
    rig.poll()
    emulator.state.mark_unread(mid)
    assert rig.poll() == 1
    assert rig.files() == {
        "MYSTATION/ACME/inbox/a.edi": b"A",
        "MYSTATION/ACME/inbox/a (2).edi": b"A",
    }
    assert emulator.state.is_read(mid)
    assert rig.poll() == 0  # and not again without another markUnread
    with rig.ledger.read() as s:
        assert li.latest(s, mid).generation == 2  # type: ignore[union-attr]


def test_delete_after_store_deletes_stored_messages_in_bulk(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    ids = [emulator.state.seed_received("MYSTATION", "ACME", [(f"{n}", b"x")]) for n in range(5)]
    rig = rigs.make(emulator.base_url, delete_after_store=True)
    emulator.state.clear_request_log()
    assert rig.poll() == 5
    assert emulator.state.received_ids() == []
    deletes = [r for r in emulator.state.request_log() if r[0] == "DELETE"]
    assert len(deletes) == 1
    assert len(rig.files()) == 5
    with rig.ledger.read() as s:
        assert len(li.in_state(s, InboundState.DELETED)) == 5
    assert ids


def test_messages_are_kept_on_the_gateway_by_default(emulator: RunningEmulator, rigs: Rigs) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"x")])
    rig = rigs.make(emulator.base_url)
    rig.poll()
    assert emulator.state.received_ids() == [mid]


def test_retry_fetches_a_stored_message_again_on_the_next_poll(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"A")])
    rig = rigs.make(emulator.base_url)
    rig.poll()
    (rig.inbox() / "a.edi").unlink()  # the consumer lost it
    rig.engine.retry_message(mid.strip("<>"))  # with or without the brackets
    assert rig.poll() == 1
    assert rig.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
    assert emulator.state.is_read(mid)


def test_retry_of_an_unknown_message_says_so(emulator: RunningEmulator, rigs: Rigs) -> None:
    rig = rigs.make(emulator.base_url)
    with pytest.raises(NotFound):
        rig.engine.retry_message("<nobody@x>")


def test_retry_makes_a_failing_message_due_at_once(emulator: RunningEmulator, rigs: Rigs) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"A")])
    rig = rigs.make(emulator.base_url)
    with rig.ledger.transaction() as s:
        info = rig.gateway.get_received(mid)
        row = li.record_fetching(s, pending_of(info, "MYSTATION", "ACME"), now=0)
        li.fetch_failed(s, row.id, "earlier failure", now=0, retry_at=rig.clock() + 3600)
    emulator.state.set_read(mid, True)
    assert rig.poll() == 0  # not due
    rig.engine.retry_message(mid)
    assert rig.poll() == 1
    assert rig.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
