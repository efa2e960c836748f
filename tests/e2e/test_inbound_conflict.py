"""A received message the ledger refuses to record is an operator's problem, not a bug: the
daemon keeps polling at its normal interval for everything else, leaves that message unread
and tries it every poll, says so at error level (not every poll) and in ``status``, and neither
``health`` nor the systemd watchdog gives up on it (a restart cannot fix a ledger row).

The real ``as2sync run``, with a database trigger that makes the ledger refuse one message.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.ledger.db import LEDGER_FILE
from tests.e2e.harness import DaemonProcess, EmulatorProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e

MAX_LOOP_AGE = 2.0
WATCHDOG_USEC = "1000000"  # WATCHDOG=1 every 0.5 s while the loops are well
BAD = "<bad@acme.example>"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path, "--no-rate-limit")
    emulator.start()
    yield emulator
    emulator.kill()


def seed(emulator: EmulatorProcess, message_id: str, name: str, data: bytes) -> None:
    emulator.admin(
        "POST",
        "/received",
        json={
            "station": "MYSTATION",
            "partner": "ACME",
            "message_id": message_id,
            "attachments": [{"name": name, "content_base64": base64.b64encode(data).decode()}],
        },
    )


def events(daemon: DaemonProcess, name: str) -> list[dict[str, object]]:
    found = []
    for line in daemon.log_lines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == name:
            found.append(entry)
    return found


def unrecorded(config: Path) -> list[dict[str, object]]:
    report = json.loads(as2sync("status", "--json", "-c", str(config)).stdout)
    return list(report["unrecorded_messages"])


def test_an_unrecordable_message_is_reported_while_everything_else_flows(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    config = write_config(
        tmp_path, emulator.base_url, health={"max_loop_age_seconds": MAX_LOOP_AGE}
    )
    inbox = tmp_path / "root" / "MYSTATION" / "ACME" / "inbox"
    daemon = DaemonProcess(config, env={"WATCHDOG_USEC": WATCHDOG_USEC})
    try:
        daemon.start()
        db = sqlite3.connect(tmp_path / "state" / LEDGER_FILE)
        with db:  # a conflict no code path explains: the database refuses this one message
            db.execute(
                "CREATE TRIGGER conflict BEFORE INSERT ON inbound_messages "
                f"WHEN NEW.message_id = '{BAD}' "
                "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: injected'); END"
            )
        seed(emulator, BAD, "bad.edi", b"BAD")
        seed(emulator, "<ok-1@acme.example>", "ok1.edi", b"OK1")
        wait_until((inbox / "ok1.edi").exists, 20, what="the other message stored")

        # Well past max_loop_age, with the conflict met on every poll meanwhile.
        for _ in range(3):
            time.sleep(MAX_LOOP_AGE)
            assert daemon.keeps_pinging(4 * MAX_LOOP_AGE), daemon.output()
        health = as2sync("health", "-c", str(config))
        assert health.returncode == 0, health.stdout
        seed(emulator, "<ok-2@acme.example>", "ok2.edi", b"OK2")
        wait_until((inbox / "ok2.edi").exists, 20, what="a later message stored")

        report = json.loads(as2sync("status", "--json", "-c", str(config)).stdout)
        assert report["daemon"]["healthy"] is True
        (entry,) = report["unrecorded_messages"]
        assert (entry["partner"], entry["message_id"], entry["file"]) == ("ACME", BAD, "bad.edi")
        assert "injected" in entry["error"]
        text = as2sync("status", "-c", str(config)).stdout
        assert f"received message {BAD} from MYSTATION/ACME" in text

        conflicts = events(daemon, "inbound.ledger_conflict")
        assert len(conflicts) == 1  # once, although every poll meets it
        assert conflicts[0]["level"] == "error"
        assert conflicts[0]["message_id"] == BAD
        assert len([e for e in events(daemon, "inbound.polled") if e["new"]]) > 3
        assert not events(daemon, "inbound.unexpected_error")
        assert not (inbox / "bad.edi").exists()

        with db:
            db.execute("DROP TRIGGER conflict")
        db.close()
        wait_until((inbox / "bad.edi").exists, 20, what="stored once the ledger takes it")
        wait_until(lambda: not unrecorded(config), 20, what="status clear")
        assert daemon.terminate() == 0
    finally:
        daemon.close()


def test_run_once_stores_the_rest_and_exits_1_while_a_message_cannot_be_recorded(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    config = write_config(tmp_path, emulator.base_url)
    inbox = tmp_path / "root" / "MYSTATION" / "ACME" / "inbox"
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0  # makes the ledger
    with sqlite3.connect(tmp_path / "state" / LEDGER_FILE) as db:
        db.execute(
            "CREATE TRIGGER conflict BEFORE INSERT ON inbound_messages "
            f"WHEN NEW.message_id = '{BAD}' "
            "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: injected'); END"
        )
    db.close()
    seed(emulator, BAD, "bad.edi", b"BAD")
    seed(emulator, "<ok-1@acme.example>", "ok1.edi", b"OK1")
    once = as2sync("run", "--once", "-c", str(config))
    assert once.returncode == 1, once.stderr  # cron's MAILTO hears of it
    assert "inbound.ledger_conflict" in once.stdout + once.stderr
    assert "Traceback" not in once.stdout + once.stderr
    assert (inbox / "ok1.edi").read_bytes() == b"OK1"
    assert not (inbox / "bad.edi").exists()
