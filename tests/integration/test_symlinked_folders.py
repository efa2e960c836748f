"""Folders that are symbolic links are refused: nothing is taken from them, nothing is written
through them, and the refusal is logged and shown by ``status`` (real filesystem, the engines
against the emulator). A folder swapped for a symlink after it was checked is refused too."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync import failpoints
from as2sync.backends.http.transfer import CHUNK
from as2sync.emulator.server import RunningEmulator
from as2sync.errors import UnsafeFolder
from as2sync.folders.layout import survey
from as2sync.ledger import inbound as li
from as2sync.ledger.outbound import SubmissionState
from as2sync.ops.status import collect_status, render_status
from as2sync.outbound import claim
from tests.integration.inbound_support import Rigs
from tests.integration.outbound_support import STATION, Rig

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator)
    yield r
    r.close()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory outside the folder tree, as an attacker would aim at (~/.ssh)."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "id_rsa").write_bytes(SECRET)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_refused(rig: Rig, link: Path, elsewhere: Path, before: dict[str, bytes]) -> None:
    """Nothing was sent, nothing moved from or into ``elsewhere``; log and status say why."""
    with capture_logs() as logs:
        rig.start()
        rig.run_for(1.0)
    assert rig.sends() == []
    assert snapshot(elsewhere) == before
    refused = [e for e in logs if e["event"] == "folders.refused"]
    assert [e["path"] for e in refused] == [str(link)]
    assert "symbolic link" in refused[0]["reason"]
    report = collect_status(rig.config)
    assert any(p.startswith(f"{link}:") for p in report["folder_problems"])
    assert f"refused folder {link}" in render_status(report)


def test_a_symlinked_outbox_is_not_emptied(rig: Rig, elsewhere: Path) -> None:
    outbox = rig.dirs().outbox
    outbox.rmdir()
    outbox.symlink_to(elsewhere)
    assert_refused(rig, outbox, elsewhere, {"id_rsa": SECRET})


def test_a_symlinked_partner_folder_is_not_used(rig: Rig, elsewhere: Path) -> None:
    (elsewhere / "outbox").mkdir()
    (elsewhere / "outbox" / "inv.edi").write_bytes(SECRET)
    link = rig.root / STATION / "EVIL"
    link.symlink_to(elsewhere)
    before = snapshot(elsewhere)
    assert_refused(rig, link, elsewhere, before)
    assert not (elsewhere / ".as2sync").exists() and not (elsewhere / "sent").exists()


def test_a_symlinked_station_folder_is_not_used(rig: Rig, elsewhere: Path) -> None:
    (elsewhere / "ACME" / "outbox").mkdir(parents=True)
    (elsewhere / "ACME" / "outbox" / "inv.edi").write_bytes(SECRET)
    link = rig.root / "EVILSTATION"
    link.symlink_to(elsewhere)
    before = snapshot(elsewhere)
    assert_refused(rig, link, elsewhere, before)


@pytest.mark.parametrize("box", ["sent", "failed", ".as2sync"])
def test_a_partnership_with_a_symlinked_box_keeps_its_outbox_files(
    rig: Rig, elsewhere: Path, box: str
) -> None:
    (rig.dirs().base / box).symlink_to(elsewhere)
    dropped = rig.drop("inv.edi", b"ISA*1")
    assert_refused(rig, rig.dirs().base / box, elsewhere, {"id_rsa": SECRET})
    assert dropped.read_bytes() == b"ISA*1"  # left where the user put it


def test_a_refused_folder_is_used_once_it_is_a_real_folder_again(rig: Rig, elsewhere: Path) -> None:
    sent = rig.dirs().base / "sent"
    sent.symlink_to(elsewhere)
    rig.drop("inv.edi", b"ISA*1")
    rig.start()
    rig.run_for(0.5)
    assert rig.sends() == []
    sent.unlink()
    with capture_logs() as logs:
        rig.run_until(lambda: (rig.dirs().sent / "inv.edi").exists())
    assert [e["path"] for e in logs if e["event"] == "folders.accepted"] == [str(sent)]
    assert collect_status(rig.config)["folder_problems"] == []


def test_a_sent_folder_swapped_for_a_symlink_after_the_survey_receives_nothing(
    rig: Rig, elsewhere: Path
) -> None:
    """The survey passed; sent/ becomes a symlink before the archive: the file waits in
    processing (sent, never resent), nothing lands in the link's target."""
    rig.start()
    sent = rig.dirs().sent
    sent.mkdir()

    def swap(_name: str) -> None:
        sent.rmdir()
        sent.symlink_to(elsewhere)

    failpoints.arm("outbound.after_202", swap)
    try:
        rig.drop("inv.edi", b"ISA*1")
        rig.run_until(lambda: len(rig.submissions()) == 1)
        rig.run_for(0.5)
    finally:
        failpoints.arm("")
    assert snapshot(elsewhere) == {"id_rsa": SECRET}
    [row] = rig.rows()
    assert row.state == SubmissionState.SUBMITTED
    assert row.files[0].processing_path.read_bytes() == b"ISA*1"
    assert len(rig.sends()) == 1


# -- the claim: a swap between check and use ---------------------------------------------------


def swap_outbox_for_link(outbox: Path, elsewhere: Path) -> Callable[[str], None]:
    """A failpoint action: move the real outbox aside and put a symlink in its place, whose
    target holds a file of the same name as the one being claimed."""

    def swap(_name: str) -> None:
        (elsewhere / "inv.edi").write_bytes(SECRET)
        outbox.rename(outbox.with_name("outbox.real"))
        outbox.symlink_to(elsewhere)

    return swap


@pytest.mark.parametrize("point", ["outbound.after_claim_commit", "outbound.before_rename"])
def test_an_outbox_swapped_for_a_symlink_mid_claim_gives_away_nothing(
    rig: Rig, elsewhere: Path, point: str
) -> None:
    """``after_claim_commit``: swapped before the folders are opened (the open refuses it);
    ``before_rename``: swapped after they were opened (the rename goes through the descriptor
    of the real outbox). Either way the secret stays where it is."""
    outbox = rig.dirs().outbox
    source = rig.drop("inv.edi", b"ISA*mine")
    failpoints.arm(point, swap_outbox_for_link(outbox, elsewhere))
    try:
        sub = claim.claim(rig.engine.ctx, STATION, "ACME", source)
    except UnsafeFolder:
        sub = None
    finally:
        failpoints.arm("")
    assert snapshot(elsewhere) == {"id_rsa": SECRET, "inv.edi": SECRET}
    real = outbox.with_name("outbox.real")
    if sub is None:  # refused: the claim was withdrawn, the file is still the user's
        assert (real / "inv.edi").read_bytes() == b"ISA*mine"
        assert rig.rows() == []
    else:  # claimed from the real outbox
        assert sub.state == SubmissionState.CLAIMED
        assert sub.files[0].processing_path.read_bytes() == b"ISA*mine"
        assert not (real / "inv.edi").exists()


# -- the upload: a swap after the claim --------------------------------------------------------


@pytest.mark.parametrize("swapped", ["processing folder", "processing file"])
def test_an_upload_reads_nothing_through_a_symlink_swapped_in_after_the_claim(
    rig: Rig, elsewhere: Path, swapped: str
) -> None:
    """The claim and its checks passed; just before the POST the processing folder (or the
    claimed file itself) becomes a symlink to a file of the same name and size elsewhere. The
    upload opens nothing through it: no request is made, the file stays claimed and goes out,
    with its own bytes, once the folder is real again."""
    mine = b"M" * (3 * CHUNK + 7)  # several chunks: a followed link would leak its first ones
    theirs = SECRET + b"S" * (len(mine) - len(SECRET))
    rig.start()
    rig.drop("inv.edi", mine)
    aside = rig.base / "aside"
    swaps: list[Callable[[], None]] = []

    def swap(_name: str) -> None:
        [row] = rig.rows()
        held = row.files[0].processing_path
        if swapped == "processing folder":
            (elsewhere / held.name).write_bytes(theirs)
            held.parent.rename(aside)
            held.parent.symlink_to(elsewhere)
            swaps.append(lambda: (held.parent.unlink(), aside.rename(held.parent)))
        else:
            (elsewhere / "theirs").write_bytes(theirs)
            held.rename(aside)
            held.symlink_to(elsewhere / "theirs")
            swaps.append(lambda: (held.unlink(), aside.rename(held)))

    failpoints.arm("outbound.after_submitting_commit", swap)
    try:
        rig.run_until(lambda: bool(swaps) and rig.rows()[0].state != SubmissionState.SUBMITTING)
    finally:
        failpoints.arm("")
    [row] = rig.rows()
    assert row.state == SubmissionState.CLAIMED  # provably not sent: tried again later
    assert "symbolic link" in (row.error or "")
    assert rig.sends() == []
    swaps[0]()  # the folder is real again
    rig.offset += 600  # past the back-off
    rig.run_until(lambda: rig.names("sent") == ["inv.edi"])
    [sent] = rig.submissions()
    assert sent.attachments == [("inv.edi", mine)]


# -- inbound -----------------------------------------------------------------------------------


def test_a_symlinked_inbox_receives_nothing_and_the_message_waits(
    emulator: RunningEmulator, tmp_path: Path, elsewhere: Path
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("order.edi", b"ORDER-1")])
    with Rigs(tmp_path / "in") as rigs:
        rig = rigs.make(emulator.base_url)
        inbox = rig.inbox()
        inbox.parent.mkdir(parents=True)
        inbox.symlink_to(elsewhere)
        with pytest.raises(UnsafeFolder):  # the loop logs it and backs off, as for any
            rig.poll()  # storage error
        assert snapshot(elsewhere) == {"id_rsa": SECRET}
        with rig.ledger.read() as s:
            assert li.pending_count(s) == 1  # not stored: fetched again once it can be
        problems = [str(p.path) for p in survey(rig.config).problems]
        assert problems == [str(inbox)]
        inbox.unlink()
        rig.poll()
        assert rig.files() == {"MYSTATION/ACME/inbox/order.edi": b"ORDER-1"}
        assert emulator.state.is_read(mid)


def test_a_symlinked_work_folder_receives_no_temp_files(
    emulator: RunningEmulator, tmp_path: Path, elsewhere: Path
) -> None:
    emulator.state.seed_received("MYSTATION", "ACME", [("order.edi", b"ORDER-1")])
    with Rigs(tmp_path / "in") as rigs:
        rig = rigs.make(emulator.base_url)
        work = rig.root / "MYSTATION" / "ACME" / ".as2sync"
        work.parent.mkdir(parents=True)
        work.symlink_to(elsewhere)
        with pytest.raises(UnsafeFolder):
            rig.poll()
        assert os.listdir(elsewhere) == ["id_rsa"]
