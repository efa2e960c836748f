"""A file a writer still holds open and changes after the claim: the bytes sent are the bytes
recorded, or nothing complete is sent; sent/ holds only bytes that were sent; the changed file
goes back to the outbox and is sent once it has settled. Issue 11 item 11.

The writer is real: it opened the file in the outbox before the claim and keeps writing
through that descriptor (the claim's rename moves the same inode into processing/). Its writes
happen at failpoints armed in-process with a callback (between the SUBMITTING commit and the
POST, when the upload has begun, between the 202 and its commit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync import failpoints
from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import FileState, SubmissionState
from as2sync.outbound import claim
from tests.integration.outbound_support import STATION, Rig


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator).start()
    yield r
    failpoints.arm("")
    r.close()


class Writer:
    """A writer that created ``name`` in the outbox and still holds it open."""

    def __init__(self, rig: Rig, name: str, first: bytes) -> None:
        self.path = rig.dirs().outbox / name
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(self.fd, first)
        self.content = first

    def append(self, more: bytes) -> None:
        os.write(self.fd, more)
        self.content += more

    def overwrite_tail(self, more: bytes) -> None:
        """Change the last bytes in place (same size)."""
        os.pwrite(self.fd, more, len(self.content) - len(more))
        self.content = self.content[: -len(more)] + more

    def close(self) -> None:
        os.close(self.fd)


def at(point: str, action: Callable[[], None]) -> None:
    """Run ``action`` once when ``point`` is reached (no crash: the pass goes on)."""
    failpoints.arm(f"{point}@1", on_hit=lambda _name: action())


def gateway_contents(rig: Rig) -> list[bytes]:
    return [data for s in rig.submissions() for _name, data in s.attachments]


def sent_and_returned(rig: Rig) -> bool:
    """One row given back, one sent (archived, or delivered already)."""
    states = sorted(s.replace("delivered", "archived") for s in rig.states())
    return states == ["archived", "returned"]


def assert_every_recorded_message_carries_its_rows_bytes(rig: Rig) -> None:
    on_gateway = {s.message_id: [sha(d) for _n, d in s.attachments] for s in rig.submissions()}
    for row in rig.rows():
        if row.message_id is not None:
            assert on_gateway[row.message_id] == [f.sha256 for f in row.files], row


def test_a_file_appended_to_after_the_claim_goes_back_unsent_and_is_sent_whole(
    rig: Rig,
) -> None:
    writer = Writer(rig, "inv.edi", b"ISA*first part~")
    try:
        at("outbound.after_submitting_commit", lambda: writer.append(b"GS*the rest~" * 5))
        with capture_logs() as logs:
            rig.run_until(lambda: "returned" in rig.states())
        assert rig.submissions() == []  # nothing was sent: the size no longer matched
        assert rig.names("outbox") == ["inv.edi"]  # back where the writer put it
        assert any(e["event"] == "outbound.changed_after_claim" for e in logs)
        writer.close()
        rig.run_until(lambda: rig.names("sent") == ["inv.edi"])
    finally:
        failpoints.arm("")
    assert gateway_contents(rig) == [writer.content]
    assert (rig.dirs().sent / "inv.edi").read_bytes() == writer.content
    assert_every_recorded_message_carries_its_rows_bytes(rig)
    assert sent_and_returned(rig)


def test_a_file_changed_during_its_upload_is_cut_off_before_its_last_byte(rig: Rig) -> None:
    first = b"ISA*" + b"x" * 300_000 + b"*original~"
    writer = Writer(rig, "big.edi", first)
    try:
        at("outbound.during_upload", lambda: writer.overwrite_tail(b"*CHANGED!~"))
        rig.run_until(lambda: rig.states() == ["in_doubt"])
        assert rig.submissions() == []  # the gateway never got a complete request
        writer.close()
        # Reconciliation finds nothing; the resend's check gives the file back; it settles
        # and goes whole, as it is now.
        rig.run_until(lambda: rig.names("sent") == ["big.edi"], timeout=30)
    finally:
        failpoints.arm("")
    assert gateway_contents(rig) == [writer.content]
    assert (rig.dirs().sent / "big.edi").read_bytes() == writer.content
    assert_every_recorded_message_carries_its_rows_bytes(rig)
    assert sent_and_returned(rig)


def test_a_bundle_with_a_changed_file_goes_back_whole_and_nothing_is_sent(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    rig = Rig(tmp_path, emulator, {"bundle_max_files": 3})
    try:
        rig.drop("a.edi", b"ISA*a~")
        writer = Writer(rig, "b.edi", b"ISA*b~")
        rig.start()  # both are found by the first scan: they settle, and go, together
        at("outbound.after_submitting_commit", lambda: writer.append(b"more~"))
        rig.run_until(lambda: "returned" in rig.states())
        [returned] = rig.rows()
        assert [f.name for f in returned.files] == ["a.edi", "b.edi"]
        assert rig.submissions() == []
        assert rig.names("outbox") == ["a.edi", "b.edi"]
        writer.close()
        rig.run_until(lambda: rig.names("sent") == ["a.edi", "b.edi"])
        assert sorted(gateway_contents(rig)) == [b"ISA*a~", writer.content]
        assert_every_recorded_message_carries_its_rows_bytes(rig)
    finally:
        failpoints.arm("")
        rig.close()


def test_a_file_that_grew_after_its_bytes_went_out_goes_back_instead_of_into_sent(
    rig: Rig,
) -> None:
    writer = Writer(rig, "inv.edi", b"ISA*first part~")
    claimed = writer.content
    try:
        at("outbound.after_202", lambda: writer.append(b"GS*late~"))
        with capture_logs() as logs:
            rig.run_until(lambda: rig.names("outbox") == ["inv.edi"] and len(rig.rows()) == 1)
        # The message with the recorded bytes stands; sent/ does not get bytes never sent.
        assert gateway_contents(rig) == [claimed]
        [row] = rig.rows()
        assert row.state in (SubmissionState.ARCHIVED, SubmissionState.DELIVERED)
        assert row.files[0].state == FileState.RETURNED
        assert rig.names("sent") == []
        [event] = [e for e in logs if e["event"] == "outbound.changed_after_send"]
        assert (event["message_id"], event["log_level"]) == (row.message_id, "error")
        writer.close()
        rig.run_until(lambda: rig.names("sent") == ["inv.edi"])
    finally:
        failpoints.arm("")
    # The whole file went too, as a message of its own, and is what sent/ holds.
    assert gateway_contents(rig) == [claimed, writer.content]
    assert (rig.dirs().sent / "inv.edi").read_bytes() == writer.content
    assert_every_recorded_message_carries_its_rows_bytes(rig)


def test_a_changed_file_whose_name_was_taken_meanwhile_goes_back_under_a_free_name(
    rig: Rig,
) -> None:
    writer = Writer(rig, "inv.edi", b"ISA*old~")

    def change_and_drop_a_new_one() -> None:
        writer.append(b"more~")
        rig.drop("inv.edi", b"ISA*a new file~")

    try:
        at("outbound.after_submitting_commit", change_and_drop_a_new_one)
        rig.run_until(lambda: "returned" in rig.states())
        assert rig.names("outbox") == ["inv (2).edi", "inv.edi"]
        assert (rig.dirs().outbox / "inv (2).edi").read_bytes() == writer.content
        assert (rig.dirs().outbox / "inv.edi").read_bytes() == b"ISA*a new file~"
    finally:
        failpoints.arm("")
        writer.close()


def test_a_give_back_interrupted_between_link_and_unlink_is_finished_at_restart(
    rig: Rig,
) -> None:
    source = rig.drop("inv.edi", b"ISA*first~")
    sub = claim.claim(rig.engine.ctx, STATION, "ACME", source)
    assert sub is not None
    with rig.ledger.transaction() as s:
        lo.mark_returning(s, sub.id, rig.clock(), "changed after the claim")
    held = sub.files[0].processing_path
    os.link(held, source)  # killed after the link back, before the unlink
    rig.restart()
    rig.run_until(lambda: "returned" in rig.states())
    assert not held.exists()
    assert rig.names("outbox") == ["inv.edi"]
    assert source.read_bytes() == b"ISA*first~"


@pytest.mark.parametrize("fault", ["error_before", "drop"])
def test_an_in_doubt_send_of_a_changed_file_is_given_back_not_resent(rig: Rig, fault: str) -> None:
    """A send in doubt whose file then changed: reconciliation finds nothing, and the resend
    does not send the new bytes under the old claim: the file goes back and is claimed anew."""
    writer = Writer(rig, "inv.edi", b"ISA*first~")
    rig.emu.state.set_faults(Faults(**{fault: 1.0}, endpoints=("send",)))  # type: ignore[arg-type]
    try:
        rig.run_until(lambda: rig.states() == ["in_doubt"])
        rig.emu.state.set_faults(Faults())
        writer.append(b"written after the doubt~")
        writer.close()
        rig.run_until(lambda: rig.names("sent") == ["inv.edi"], timeout=30)
    finally:
        rig.emu.state.set_faults(Faults())
    assert gateway_contents(rig) == [writer.content]
    assert sent_and_returned(rig)
