"""A ledger written by the released outbound code (schema 3) upgrades to the backend-neutral
schema 4 without losing anything in flight.

The fixture (``tests/fixtures/ledger_schema3_outbound.sql``, made by
``make_ledger_schema3_outbound.py`` with the release's own ledger functions) holds one
submission in every state the engine leaves behind. The test puts each file where that
ledger says it is, opens the ledger with today's code, reads every row back, and then lets
the engine finish what was in flight exactly as a restart would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import LEDGER_FILE, open_ledger
from as2sync.ledger.outbound import FileState, SubmissionState
from tests.integration.outbound_support import STATION, Rig

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ledger_schema3_outbound.sql"

# What the release recorded: id -> (partner, state, partner type, file names).
RECORDED = {
    1: ("ACME", "claiming", "production", ("claiming.edi",)),
    2: ("ACME", "claimed", "production", ("backoff.edi",)),
    3: ("ACME", "submitting", "production", ("submitting.edi",)),
    4: ("ACME", "in_doubt", "production", ("in-doubt.edi",)),
    5: ("ACME", "submitted", "production", ("submitted.edi",)),
    6: ("ACME", "archived", "production", ("archived.edi",)),
    7: ("ACME", "delivered", "production", ("delivered.edi",)),
    8: ("ACME", "rejecting", "production", ("rejecting.edi",)),
    9: ("ACME", "delivery_failing", "production", ("undeliverable.edi",)),
    10: ("ACME", "returning", "production", ("returning.edi",)),
    11: ("ACME", "failed", "production", ("failed.edi",)),
    12: ("SANDBOX", "claimed", "test", ("test-partner.edi",)),
    13: ("ACME", "claimed", "production", ("bundle-1.edi", "bundle-2.edi")),
    14: ("SANDBOX", "in_doubt", "test", ("test-in-doubt.edi",)),
}

# How a restart finishes each one (5: accepted as <submitted@gw>, which this emulator never
# heard of, so its delivery stays unknown; 6 is older than tracking follows).
FINISHED = {
    1: "delivered",
    2: "delivered",
    3: "delivered",
    4: "delivered",
    5: "archived",
    6: "archived",
    7: "delivered",
    8: "failed",
    9: "delivery_failed",
    10: "returned",
    11: "failed",
    12: "delivered",
    13: "delivered",
    14: "delivered",
}


def release_ledger(base: Path) -> None:
    """The fixture as a ledger file under ``base/state``, its paths under ``base/root``."""
    sql = FIXTURE.read_text(encoding="utf-8").replace("/ROOT/", f"{base / 'root'}/")
    (base / "state").mkdir(parents=True)
    db = sqlite3.connect(base / "state" / LEDGER_FILE)
    db.executescript(sql)
    db.close()


def put_files_where_the_ledger_says(rig: Rig) -> None:
    for sub in rig.rows():
        for f in sub.files:
            path = f.current_path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f.name.encode())


def test_a_release_ledger_upgrades_and_a_restart_finishes_everything_in_flight(
    tmp_path: Path, make_emulator: Callable[..., RunningEmulator]
) -> None:
    release_ledger(tmp_path)
    emu = make_emulator(partners=(PartnerSpec("ACME"), PartnerSpec("SANDBOX", partner_type="Test")))
    sandbox = {"station": STATION, "partner": "SANDBOX", "partner_type": "test"}
    rig = Rig(tmp_path, emu, {"partnerships": [{**sandbox, "subject": "Invoices"}]})
    try:
        # Every row, state, file row and remote fact reads back.
        rows = {sub.id: sub for sub in rig.rows()}
        got = {
            i: (s.partner, s.state.value, s.remote["partner_type"], tuple(f.name for f in s.files))
            for i, s in rows.items()
        }
        assert got == RECORDED
        assert rows[6].remote == {"partner_type": "production", "gateway_failed_seen": 1}
        assert (rows[6].delivery_status, rows[6].mdn_status) == ("Pending", "Pending")
        assert rows[2].next_attempt_at == 1_700_000_500.0 and rows[2].http_status == 503
        assert rows[12].subject == "Invoices"
        assert all(f.sha256 for s in rows.values() if s.state != "claiming" for f in s.files)
        with rig.ledger.read() as s:
            assert lo.attributed_ids(s, STATION, "ACME") == {
                "<submitted@gw>",
                "<archived@gw>",
                "<delivered@gw>",
                "<undeliverable@gw>",
            }

        put_files_where_the_ledger_says(rig)
        rig.start()

        def finished() -> bool:
            states = {s.id: s.state.value for s in rig.rows()}
            again = [s for s in rig.rows() if s.id > 14]  # returning.edi, claimed anew
            return {i: states.get(i) for i in FINISHED} == FINISHED and [
                s.state for s in again
            ] == [SubmissionState.DELIVERED]

        rig.run_until(finished, timeout=30)

        # Each file in flight was sent exactly once, to its partner as its partner type.
        sent = sorted(
            (v.partner, v.partner_type, v.subject or "", tuple(n for n, _ in v.attachments))
            for v in rig.submissions()
        )
        assert sent == [
            ("ACME", "production", "", ("backoff.edi",)),
            ("ACME", "production", "", ("bundle-1.edi", "bundle-2.edi")),
            ("ACME", "production", "", ("claiming.edi",)),
            ("ACME", "production", "", ("in-doubt.edi",)),
            ("ACME", "production", "", ("returning.edi",)),
            ("ACME", "production", "", ("submitting.edi",)),
            ("SANDBOX", "test", "", ("test-in-doubt.edi",)),
            ("SANDBOX", "test", "Invoices", ("test-partner.edi",)),
        ]
        assert all(data == name.encode() for v in rig.submissions() for name, data in v.attachments)
        assert rig.names("sent") == sorted(
            [
                "archived.edi",
                "backoff.edi",
                "bundle-1.edi",
                "bundle-2.edi",
                "claiming.edi",
                "delivered.edi",
                "in-doubt.edi",
                "returning.edi",
                "submitted.edi",
                "submitting.edi",
            ]
        )
        assert [n for n in rig.names("failed") if not n.endswith(".error.json")] == [
            "failed.edi",
            "rejecting.edi",
            "undeliverable.edi",
        ]
        assert rig.names("outbox") == []
        assert rig.names("sent", "SANDBOX") == ["test-in-doubt.edi", "test-partner.edi"]
        assert not list(rig.dirs().processing.iterdir())
        for sub in rig.rows():
            assert all(f.state != FileState.PROCESSING for f in sub.files)
    finally:
        rig.close()


def test_a_release_ledger_without_outbound_rows_upgrades_to_the_new_columns(
    tmp_path: Path,
) -> None:
    release_ledger(tmp_path)
    db = sqlite3.connect(tmp_path / "state" / LEDGER_FILE)
    db.executescript("DELETE FROM outbound_files; DELETE FROM outbound_submissions;")
    db.close()
    ledger = open_ledger(tmp_path / "state")
    try:
        with ledger.transaction() as s:
            sub = lo.plan_claim(
                s,
                station=STATION,
                partner="ACME",
                source=tmp_path / "a.edi",
                processing_dir=tmp_path,
                now=1.0,
                remote={"partner_type": "test"},
            )
        with ledger.read() as s:
            assert lo.get(s, sub.id).remote == {"partner_type": "test"}
    finally:
        ledger.close()
    db = sqlite3.connect(tmp_path / "state" / LEDGER_FILE)
    columns = {row[1] for row in db.execute("PRAGMA table_info(outbound_submissions)")}
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert "remote" in columns and not columns & {"partner_type", "gateway_failed_seen"}
    assert version == ("4",)
