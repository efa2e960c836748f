"""Received message IDs are the gateway's opaque strings: two IDs that differ only by their
angle brackets are two messages, each stored exactly once, whichever partner sent them and
whether the gateway names batch-zip folders with or without the brackets."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from as2sync.errors import PermanentError
from as2sync.ledger.db import LEDGER_FILE
from as2sync.ledger.inbound import InboundMessageRow
from tests.conftest import MakeEmulator
from tests.integration.inbound_support import ManualClock, Rig, Rigs

BRACKETED = "<INV-1@acme.example>"
BARE = "INV-1@acme.example"


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def two_partners(make_emulator: MakeEmulator, *, brackets: bool = True) -> RunningEmulator:
    return make_emulator(
        partners=(PartnerSpec("ACME"), PartnerSpec("GLOBEX")),
        batch_folder_brackets=brackets,
    )


def seed(emu: RunningEmulator, partner: str, message_id: str, name: str, data: bytes) -> None:
    """Seed through the admin API, choosing the message ID."""
    response = httpx.post(
        f"{emu.admin_url}/received",
        json={
            "station": "MYSTATION",
            "partner": partner,
            "message_id": message_id,
            "attachments": [{"name": name, "content_base64": base64.b64encode(data).decode()}],
        },
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"message_id": message_id}


def rows_by_id(rig: Rig) -> dict[str, tuple[str, str]]:
    with rig.ledger.read() as s:
        return {r.message_id: (r.partner, r.state) for r in s.scalars(select(InboundMessageRow))}


BOTH_STORED = {
    "MYSTATION/ACME/inbox/acme.edi": b"FROM ACME",
    "MYSTATION/GLOBEX/inbox/globex.edi": b"FROM GLOBEX",
}


@pytest.mark.parametrize("brackets", [True, False], ids=["folders-with-brackets", "stripped"])
def test_ids_differing_only_by_brackets_in_one_poll_are_both_stored_once(
    make_emulator: MakeEmulator, rigs: Rigs, brackets: bool
) -> None:
    emu = two_partners(make_emulator, brackets=brackets)
    seed(emu, "ACME", BRACKETED, "acme.edi", b"FROM ACME")
    seed(emu, "GLOBEX", BARE, "globex.edi", b"FROM GLOBEX")
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 2
    assert rig.files() == BOTH_STORED
    assert emu.state.is_read(BRACKETED) and emu.state.is_read(BARE)
    assert rows_by_id(rig) == {BRACKETED: ("ACME", "read"), BARE: ("GLOBEX", "read")}
    assert rig.poll() == 0
    assert rig.files() == BOTH_STORED


@pytest.mark.parametrize("first", [BRACKETED, BARE])
def test_an_id_differing_only_by_brackets_from_a_stored_one_is_a_new_message(
    make_emulator: MakeEmulator, rigs: Rigs, first: str
) -> None:
    second = BARE if first == BRACKETED else BRACKETED
    emu = two_partners(make_emulator, brackets=False)
    seed(emu, "ACME", first, "acme.edi", b"FROM ACME")
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 1
    seed(emu, "GLOBEX", second, "globex.edi", b"FROM GLOBEX")
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert not [e for e in logs if e["event"] == "inbound.redelivered"]
    assert rig.files() == BOTH_STORED
    assert emu.state.is_read(first) and emu.state.is_read(second)
    assert rig.poll() == 0
    assert rig.files() == BOTH_STORED


def test_an_unexpected_ledger_conflict_on_one_message_does_not_block_the_others(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = two_partners(make_emulator)
    seed(emu, "ACME", "<bad@acme.example>", "acme.edi", b"FROM ACME")
    seed(emu, "GLOBEX", "<ok@globex.example>", "globex.edi", b"FROM GLOBEX")
    clock = ManualClock()
    rig = rigs.make(emu.base_url, clock=clock)
    # A conflict the engine cannot explain, raised by the database itself for one message.
    db = sqlite3.connect(rig.config.state_dir / LEDGER_FILE)
    with db:
        db.execute(
            "CREATE TRIGGER conflict BEFORE INSERT ON inbound_messages "
            "WHEN NEW.message_id = '<bad@acme.example>' "
            "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: injected'); END"
        )
    with capture_logs() as logs:
        assert rig.poll() == 1  # the poll ends normally: not a failure of the loop
    assert rig.files() == {"MYSTATION/GLOBEX/inbox/globex.edi": b"FROM GLOBEX"}
    assert emu.state.is_read("<ok@globex.example>")
    assert not emu.state.is_read("<bad@acme.example>")  # left for a later poll
    (conflict,) = [e for e in logs if e["event"] == "inbound.ledger_conflict"]
    assert (conflict["partner"], conflict["message_id"]) == ("ACME", "<bad@acme.example>")
    assert conflict["log_level"] == "error"
    (unrecorded,) = rig.engine.unrecorded()
    assert (unrecorded.partner, unrecorded.message_id, unrecorded.file) == (
        "ACME",
        "<bad@acme.example>",
        "acme.edi",
    )
    assert "injected" in unrecorded.error and unrecorded.since == clock.now

    # Another partner's new message is stored while the conflict persists; the conflict,
    # met again by every poll, is logged again only after an hour.
    seed(emu, "GLOBEX", "<ok2@globex.example>", "globex2.edi", b"AGAIN")
    with capture_logs() as logs:
        clock.advance(600)
        assert rig.poll() == 1
        clock.advance(600)
        assert rig.poll() == 0
    assert rig.files()["MYSTATION/GLOBEX/inbox/globex2.edi"] == b"AGAIN"
    assert not [e for e in logs if e["event"] == "inbound.ledger_conflict"]
    assert [u.message_id for u in rig.engine.unrecorded()] == ["<bad@acme.example>"]
    with capture_logs() as logs:
        clock.advance(3600)
        assert rig.poll() == 0
    assert [e["message_id"] for e in logs if e["event"] == "inbound.ledger_conflict"] == [
        "<bad@acme.example>"
    ]
    assert rig.engine.unrecorded()[0].since == clock.now - 4800  # still the first time

    with db:
        db.execute("DROP TRIGGER conflict")
    db.close()
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert rig.files()["MYSTATION/ACME/inbox/acme.edi"] == b"FROM ACME"
    assert rig.engine.unrecorded() == []
    assert [e["message_id"] for e in logs if e["event"] == "inbound.ledger_conflict_cleared"] == [
        "<bad@acme.example>"
    ]
    assert rig.poll() == 0


def test_retry_takes_the_exact_id_and_refuses_a_typed_one_that_fits_two_messages(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = two_partners(make_emulator)
    seed(emu, "ACME", BRACKETED, "acme.edi", b"FROM ACME")
    seed(emu, "GLOBEX", BARE, "globex.edi", b"FROM GLOBEX")
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 2
    rig.engine.retry_message(BARE)
    assert rig.poll() == 1
    assert rig.files() == BOTH_STORED | {"MYSTATION/GLOBEX/inbox/globex (2).edi": b"FROM GLOBEX"}
    with pytest.raises(PermanentError, match="ambiguous"):
        rig.engine.retry_message(f" {BARE} ")
