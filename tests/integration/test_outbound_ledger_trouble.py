"""The ledger stops taking writes between a 202 and its commit: the send is neither lost nor
repeated, and is settled as soon as the ledger works again (not only at the next restart).

SQLite's ``query_only`` makes every write fail for real (SQLITE_READONLY, as a state_dir made
read-only does; a full disk takes the same path, see tests/e2e/test_disk_trouble.py); a
checkout listener (SQLAlchemy's public pool events) applies it to every pooled connection, so
the worker thread's commit fails. The failpoint after the 202 is where the trouble starts: the
gateway has the message, the ledger cannot say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from structlog.testing import capture_logs

from as2sync import failpoints
from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from as2sync.errors import LedgerUnavailable
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import SubmissionState
from tests.integration.outbound_support import Rig


class LedgerSwitch:
    """Writable or not, for every connection the ledger's pool hands out."""

    def __init__(self, rig: Rig) -> None:
        self.broken = False
        event.listen(rig.ledger.engine, "checkout", self._apply)

    def _apply(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.execute(f"PRAGMA query_only = {int(self.broken)}")


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator).start()
    yield r
    failpoints.arm("")
    r.close()


def test_a_send_the_ledger_could_not_record_is_reconciled_once_it_can(rig: Rig) -> None:
    ledger = LedgerSwitch(rig)

    def break_ledger(_name: str) -> None:
        ledger.broken = True

    failpoints.arm("outbound.after_202@1", on_hit=break_ledger)
    rig.drop("invoice.edi", b"ISA*00*...~")
    with capture_logs() as logs:
        rig.run_until(lambda: any(e["event"] == "outbound.storage_error" for e in logs))
        rig.run_for(0.5)  # while broken: nothing moves, nothing is sent again
        assert len(rig.submissions()) == 1
        assert rig.names("sent") == []
        (row,) = rig.rows()
        assert row.state == SubmissionState.SUBMITTING  # what the ledger last managed to say

        ledger.broken = False  # the operator fixed it
        rig.offset += 5  # past the reconcile grace
        rig.run_until(lambda: rig.names("sent") == ["invoice.edi"])
    errors = [e for e in logs if e["event"] == "outbound.storage_error"]
    assert "the ledger is read-only; check the state_dir's owner and mode" in errors[0]["error"]
    assert not [e for e in logs if e["event"] == "outbound.unexpected_error"]
    assert [
        e["event"] for e in logs if e["event"] in ("outbound.in_doubt", "outbound.reconciled")
    ] == [
        "outbound.in_doubt",
        "outbound.reconciled",
    ]
    assert len(rig.submissions()) == 1  # found on the gateway, not sent again
    assert (rig.dirs().sent / "invoice.edi").read_bytes() == b"ISA*00*...~"


def test_a_ledger_failure_while_choosing_the_probe_does_not_stop_sending_for_good(
    rig: Rig,
) -> None:
    """During an outage one probe goes at a time. If choosing it fails (the ledger refuses
    the claim of a new file), the probe's turn is given back: once the ledger works again,
    the probe goes and sending resumes (before, nothing was sent again until a restart)."""
    rig.emu.state.set_faults(Faults(rate_limit_burst=1.0, endpoints=("send",)))
    rig.drop("a.edi", b"ISA*a~")
    rig.run_until(lambda: bool(rig.rows()) and rig.rows()[0].error is not None)
    [a] = rig.rows()
    assert a.state == SubmissionState.CLAIMED  # 429: sending is paused
    with rig.ledger.transaction() as s:  # a row that is no probe candidate (looked up later)
        lo.begin_submit(s, a.id, rig.clock())
        lo.mark_in_doubt(s, a.id, rig.clock(), "in doubt", look_at=rig.clock() + 10**6)
    rig.emu.state.set_faults(Faults())
    rig.drop("b.edi", b"ISA*b~")
    rig.run_for(0.5)  # settled, but the pause is not over: not claimed
    assert rig.names("outbox") == ["b.edi"]
    ledger = LedgerSwitch(rig)
    ledger.broken = True
    rig.offset += 3600  # the pause is over: the next step probes with b.edi
    with pytest.raises(LedgerUnavailable):
        rig.run_for(1.0)
    ledger.broken = False
    rig.run_until(lambda: rig.names("sent") == ["b.edi"])
    assert [s.attachments for s in rig.submissions()] == [[("b.edi", b"ISA*b~")]]
