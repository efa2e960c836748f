"""Outbound rules against the emulator, on a real filesystem: what is sent, when, and where
the file ends up."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from as2sync.errors import PermanentError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import SubmissionState
from tests.integration.outbound_support import STATION, Rig

X12 = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~"


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator)
    yield r
    r.close()


def sent_all(rig: Rig, count: int, partner: str = "ACME") -> bool:
    return len([n for n in rig.names("sent", partner) if not n.startswith(".")]) >= count


def test_dropped_file_is_submitted_once_and_archived_in_sent(rig: Rig) -> None:
    rig.start()
    rig.drop("invoice.edi", X12)
    with capture_logs() as logs:
        rig.run_until(lambda: sent_all(rig, 1))
    [sub] = rig.submissions()
    assert (sub.station, sub.partner) == (STATION, "ACME")
    assert sub.attachments == [("invoice.edi", X12)]
    assert sub.content_types == ["application/edi-x12"]
    assert rig.names("outbox") == []
    assert (rig.dirs().sent / "invoice.edi").read_bytes() == X12
    assert os.listdir(rig.dirs().processing) == []
    [row] = rig.rows()
    assert row.message_id == sub.message_id
    assert row.state in (SubmissionState.ARCHIVED, SubmissionState.DELIVERED)
    events = {e["event"]: e for e in logs}
    assert {"outbound.claimed", "outbound.submitted", "outbound.sent"} <= set(events)
    assert events["outbound.sent"]["message_id"] == sub.message_id
    assert events["outbound.sent"]["file"] == "invoice.edi"


def test_delivery_is_tracked_to_delivered(rig: Rig) -> None:
    rig.start()
    rig.drop("a.xml", b"<a/>")
    rig.run_until(lambda: rig.states() == ["delivered"])
    [row] = rig.rows()
    assert (row.delivery_status, row.mdn_status) == ("Delivered", "Received")


def test_partnership_subject_and_partner_type_are_used_and_tracked(
    tmp_path: Path, make_emulator: Callable[..., RunningEmulator]
) -> None:
    emu = make_emulator(partners=(PartnerSpec("ACME"), PartnerSpec("SANDBOX", partner_type="Test")))
    partnership = {"station": STATION, "partner": "SANDBOX", "subject": "Invoices"}
    rig = Rig(tmp_path, emu, {"partnerships": [{**partnership, "partner_type": "test"}]})
    try:
        rig.dirs("SANDBOX")
        rig.start()
        rig.drop("a.edi", X12, partner="SANDBOX")
        rig.run_until(lambda: rig.states() == ["delivered"])
        [sub] = rig.submissions()
        assert (sub.subject, sub.partner_type) == ("Invoices", "test")
    finally:
        rig.close()


def test_file_still_being_written_is_not_sent_until_it_is_stable(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"settle_seconds": 0.4}).start()
    try:
        path = rig.dirs().outbox / "slow.edi"
        writing = threading.Event()
        writing.set()

        def writer() -> None:
            with open(path, "ab") as fh:
                for i in range(12):  # a write every 0.1 s: never quiet for 0.4 s
                    fh.write(b"chunk%02d;" % i)
                    fh.flush()
                    time.sleep(0.1)
            writing.clear()

        thread = threading.Thread(target=writer)
        thread.start()
        while writing.is_set():
            if not rig.step():
                rig.engine.wait(0.02)
            assert rig.submissions() == [], "a partial file was sent"
        thread.join()
        rig.run_until(lambda: sent_all(rig, 1))
        [sub] = rig.submissions()
        assert sub.attachments[0][1] == b"".join(b"chunk%02d;" % i for i in range(12))
    finally:
        rig.close()


def test_part_file_is_ignored_until_renamed_to_its_final_name(rig: Rig) -> None:
    rig.start()
    part = rig.dirs().outbox / "order.xml.part"
    part.write_bytes(b"<order/>")
    rig.run_for(0.5)
    assert rig.submissions() == []
    assert rig.engine.idle()
    part.rename(part.with_name("order.xml"))
    rig.run_until(lambda: sent_all(rig, 1))
    assert [s.attachments[0][0] for s in rig.submissions()] == ["order.xml"]


def test_excluded_names_are_never_sent_and_stay_in_the_outbox(rig: Rig) -> None:
    rig.start()
    names = [".hidden", "x.tmp", "y.partial", "z.filepart", "~lock.edi", "w.part"]
    for name in names:
        (rig.dirs().outbox / name).write_bytes(b"data")
    rig.run_for(0.6)
    assert rig.submissions() == []
    assert rig.names("outbox") == sorted(names)
    assert rig.rows() == []


def test_done_file_mode_sends_only_after_the_done_file_appears(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"done_file_suffix": ".done"}).start()
    try:
        rig.drop("big.edi", X12)
        rig.run_for(0.5)
        assert rig.submissions() == []
        (rig.dirs().outbox / "big.edi.done").write_bytes(b"")
        rig.run_until(lambda: sent_all(rig, 1))
        assert [s.attachments[0][0] for s in rig.submissions()] == ["big.edi"]
        assert rig.names("outbox") == []  # the done-file is removed with the claim
    finally:
        rig.close()


def test_unknown_partner_goes_to_failed_with_a_sidecar(rig: Rig) -> None:
    rig.start()
    rig.drop("a.edi", X12, partner="NOBODY")
    with capture_logs() as logs:
        rig.run_until(lambda: "a.edi" in rig.names("failed", "NOBODY"))
    assert rig.submissions() == []
    sidecar = json.loads((rig.dirs("NOBODY").failed / "a.edi.error.json").read_text())
    assert sidecar["http_status"] == 404
    assert "NOBODY" in sidecar["reason"]
    assert (sidecar["station"], sidecar["partner"], sidecar["file"]) == (STATION, "NOBODY", "a.edi")
    assert sidecar["time"].endswith("Z")
    assert (rig.dirs("NOBODY").failed / "a.edi").read_bytes() == X12
    assert rig.states() == ["failed"]
    [failed] = [e for e in logs if e["event"] == "outbound.failed"]
    assert failed["partner"] == "NOBODY" and failed["http_status"] == 404
    rig.run_for(0.3)
    assert len(rig.sends()) == 1  # refused once, never retried


def test_file_over_ten_megabytes_goes_to_failed_without_a_request(rig: Rig) -> None:
    rig.start()
    rig.drop("huge.bin", b"\0" * (11 * 1024 * 1024))
    rig.run_until(lambda: "huge.bin" in rig.names("failed"))
    assert rig.sends() == []
    sidecar = json.loads((rig.dirs().failed / "huge.bin.error.json").read_text())
    assert "larger than" in sidecar["reason"]
    assert sidecar["http_status"] is None
    assert (rig.dirs().failed / "huge.bin").stat().st_size == 11 * 1024 * 1024


def test_same_content_dropped_again_is_refused_as_a_duplicate(rig: Rig) -> None:
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: sent_all(rig, 1))
    [first] = rig.submissions()
    rig.drop("again.edi", X12)
    rig.run_until(lambda: "again.edi" in rig.names("failed"))
    assert len(rig.submissions()) == 1
    sidecar = json.loads((rig.dirs().failed / "again.edi.error.json").read_text())
    assert sidecar["reason"] == f"duplicate of {first.message_id}"


def test_duplicate_window_zero_sends_same_content_again(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"duplicate_window": 0}).start()
    try:
        rig.drop("a.edi", X12)
        rig.run_until(lambda: sent_all(rig, 1))
        rig.drop("a.edi", X12)
        rig.run_until(lambda: sent_all(rig, 2))
        assert len(rig.submissions()) == 2
    finally:
        rig.close()


def test_name_collision_in_sent_gets_a_unique_suffix_and_overwrites_nothing(rig: Rig) -> None:
    rig.dirs().sent.mkdir(parents=True)
    (rig.dirs().sent / "a.edi").write_bytes(b"yesterday's a.edi")
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: sent_all(rig, 2))
    assert rig.names("sent") == ["a (2).edi", "a.edi"]
    assert (rig.dirs().sent / "a.edi").read_bytes() == b"yesterday's a.edi"
    assert (rig.dirs().sent / "a (2).edi").read_bytes() == X12


def test_dated_sent_folders(tmp_path: Path, emulator: RunningEmulator) -> None:
    rig = Rig(tmp_path, emulator, {"sent_dated_folders": True}).start()
    try:
        rig.drop("a.edi", X12)
        rig.run_until(lambda: bool(rig.names("sent")))
        [day] = rig.names("sent")
        assert day == time.strftime("%Y-%m-%d")
        assert (rig.dirs().sent / day / "a.edi").read_bytes() == X12
    finally:
        rig.close()


def test_files_arriving_together_go_as_one_multipart_message(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"bundle_max_files": 10, "max_in_flight": 1})
    try:
        for i in range(12):
            rig.drop(f"f{i:02}.xml", b"<f%d/>" % i)
        rig.start()
        rig.run_until(lambda: sent_all(rig, 12))
        sizes = sorted(len(s.attachments) for s in rig.submissions())
        assert sizes == [2, 10]
        bundle = next(s for s in rig.submissions() if len(s.attachments) == 10)
        assert [n for n, _ in bundle.attachments] == [f"f{i:02}.xml" for i in range(10)]
        ids = {r.message_id for r in rig.rows()}
        assert len(ids) == 2 and len(rig.rows()) == 2
    finally:
        rig.close()


def test_send_file_sends_a_copy_through_the_same_rules(rig: Rig, tmp_path: Path) -> None:
    rig.start()
    source = tmp_path / "elsewhere.edi"
    source.write_bytes(X12)
    message_id = rig.engine.send_file(source, STATION, "ACME")
    [sub] = rig.submissions()
    assert sub.message_id == message_id
    assert sub.attachments == [("elsewhere.edi", X12)]
    assert source.read_bytes() == X12  # the original stays
    assert (rig.dirs().sent / "elsewhere.edi").read_bytes() == X12
    with pytest.raises(PermanentError, match="duplicate of"):
        rig.engine.send_file(source, STATION, "ACME")
    assert len(rig.submissions()) == 1


def test_a_file_dropped_after_start_is_found_by_the_watcher(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"scan_seconds": 3600}).start()  # no periodic scan
    try:
        rig.dirs()
        rig.restart()  # so the outbox exists when watching starts
        rig.step()
        rig.drop("late.edi", X12)
        rig.run_until(lambda: sent_all(rig, 1), timeout=5)
    finally:
        rig.close()


def test_polling_observer_finds_files_too(tmp_path: Path, emulator: RunningEmulator) -> None:
    rig = Rig(tmp_path, emulator, {"scan_seconds": 3600, "observer": "polling"})
    try:
        rig.dirs()
        rig.start()
        rig.step()
        rig.drop("late.edi", X12)
        rig.run_until(lambda: sent_all(rig, 1), timeout=5)
    finally:
        rig.close()


def test_storage_error_on_sent_keeps_the_file_and_archives_it_later(rig: Rig) -> None:
    sent_dir = rig.dirs().sent
    sent_dir.parent.mkdir(parents=True, exist_ok=True)
    sent_dir.write_bytes(b"not a folder")  # every move into sent/ fails (even for root)
    rig.start()
    rig.drop("a.edi", X12)
    with capture_logs() as logs:
        rig.run_until(lambda: rig.states() == ["submitted"])
    errors = [e for e in logs if e["event"] == "outbound.storage_error"]
    assert errors and "sent" in errors[0]["error"]
    [row] = rig.rows()
    assert row.files[0].processing_path.read_bytes() == X12  # kept, not lost
    assert len(rig.submissions()) == 1
    sent_dir.unlink()
    rig.offset += 11  # past the storage retry delay
    rig.run_until(lambda: sent_all(rig, 1))
    assert (sent_dir / "a.edi").read_bytes() == X12
    assert len(rig.submissions()) == 1  # archived, not sent again


def test_status_queries_show_counts_history_and_failures(rig: Rig) -> None:
    rig.start()
    rig.drop("ok.edi", X12)
    rig.drop("bad.edi", X12 + b"1", partner="NOBODY")
    rig.run_until(lambda: sent_all(rig, 1) and "bad.edi" in rig.names("failed", "NOBODY"))
    with rig.ledger.read() as s:
        counts = lo.counts_by_state(s)
        history = lo.recent(s, partner="ACME")
        failures = lo.recent_failures(s)
    assert sum(counts[(STATION, "ACME")].values()) == 1
    assert counts[(STATION, "NOBODY")] == {"failed": 1}
    assert [h.file for h in history] == ["ok.edi"]
    assert history[0].message_id is not None
    assert [f.file for f in failures] == ["bad.edi"]
    assert failures[0].error is not None and "404" in failures[0].error
    stats = rig.engine.stats()
    assert (stats.backlog, stats.sent_total, stats.failed_total) == (0, 1, 1)
    assert stats.last_send_at is not None
