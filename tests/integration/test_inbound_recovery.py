"""Restart after a crash: the ledger alone says how to finish, without losing or duplicating.

Each test builds, with the engine's own building blocks, the exact state a SIGKILL at one
point leaves behind, then starts a fresh engine on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.backends.as2gateway.model import Attachment, MessageInfo
from as2sync.backends.as2gateway.receiving import pending_of
from as2sync.config.schema import Layout
from as2sync.folders.layout import partner_dirs
from as2sync.inbound.layouts import wanted_names
from as2sync.inbound.writer import StagedMessage, Stager
from as2sync.ledger import inbound as li
from as2sync.ledger.inbound import FileState, InboundState
from tests.integration.inbound_support import FakeGateway, Rig, Rigs, work_files
from tests.unit.test_inbound_ledger import ledger_from_release

URL = "https://gw.example/v1"


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


@pytest.fixture
def fake() -> FakeGateway:
    return FakeGateway()


def stage(
    rig: Rig,
    files: list[tuple[str, bytes]],
    mid: str = "<m@x>",
    *,
    plan: bool = True,
    read: bool = True,
    fake: FakeGateway | None = None,
) -> StagedMessage:
    """A FETCHING message whose files are durable in the work folder; with ``plan`` its
    PLANNED rows are committed (as store() does before moving anything)."""
    if fake is not None:
        fake.add(mid, files)
        fake.messages[mid].read = read  # the batch request marked it read already
    info = MessageInfo(
        message_id=mid,
        persisted_ms=1_700_000_000_000,
        sender_id="ACME",
        receiver_id="MYSTATION",
        attachments=tuple(Attachment(n, len(d)) for n, d in files),
    )
    with rig.ledger.transaction() as s:
        row = li.record_fetching(s, pending_of(info, "MYSTATION", "ACME"), now=1.0)
    layout = rig.config.inbound.layout
    names = wanted_names(
        layout,
        message_id=mid,
        attachment_names=[n for n, _d in files],
        persisted_ms=info.persisted_ms,
        max_name_length=200,
        write_metadata=rig.config.inbound.write_metadata,
    )
    stager = Stager(
        row,
        partner_dirs(rig.config, "MYSTATION", "ACME"),
        names,
        layout=layout,
        write_metadata=rig.config.inbound.write_metadata,
    )
    for k, (_name, data) in enumerate(files):
        stager.temp_for(k).write_bytes(data)
        stager.add_download(k)
    staged = stager.seal(set())
    if plan:
        with rig.ledger.transaction() as s:
            for f in staged.files:
                f.file_id = li.plan_file(
                    s,
                    message_row=row.id,
                    index=f.index,
                    kind=f.kind,
                    name=f.name,
                    temp_path=str(f.temp),
                    final_path=str(f.final),
                    sha256=f.sha256,
                    size=f.size,
                    now=1.0,
                ).id
    return staged


def state_of(rig: Rig, mid: str = "<m@x>") -> str:
    with rig.ledger.read() as s:
        row = li.latest(s, mid)
        assert row is not None
        return row.state


def file_states(rig: Rig) -> list[str]:
    with rig.ledger.read() as s:
        row = li.latest(s, "<m@x>")
        assert row is not None
        return [f.state for f in li.files_of(s, row.id)]


def test_start_makes_no_gateway_request(rigs: Rigs, fake: FakeGateway) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    stage(rig, [("a.edi", b"A")], fake=fake)
    rigs.restart(rig, transport=fake.transport())
    assert fake.requests == []


def test_a_planned_file_whose_temp_file_is_still_there_is_moved_at_start(
    rigs: Rigs, fake: FakeGateway
) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    stage(rig, [("a.edi", b"A"), ("b.edi", b"B")], fake=fake)
    restarted = rigs.restart(rig, transport=fake.transport())
    assert restarted.files() == {
        "MYSTATION/ACME/inbox/a.edi": b"A",
        "MYSTATION/ACME/inbox/b.edi": b"B",
    }
    assert file_states(restarted) == [FileState.WRITTEN, FileState.WRITTEN]
    assert state_of(restarted) == InboundState.STORED
    assert work_files(restarted.root) == []
    # The first poll only marks it read: the gateway had marked it read already, the ledger
    # did not know, so it asks again (idempotent) and stores nothing twice.
    assert restarted.poll() == 0
    assert state_of(restarted) == InboundState.READ
    assert len(restarted.files()) == 2


def test_a_file_linked_into_the_inbox_but_not_unlinked_is_finished_not_duplicated(
    rigs: Rigs, fake: FakeGateway
) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    staged = stage(rig, [("a.edi", b"A")], fake=fake)
    (f,) = staged.files
    os.link(f.temp, f.final)  # SIGKILL inside fsutil.place, between link and unlink
    restarted = rigs.restart(rig, transport=fake.transport())
    assert restarted.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
    assert not f.temp.exists()
    assert f.final.stat().st_nlink == 1


def test_a_planned_file_already_moved_is_recognised_and_never_written_again(
    rigs: Rigs, fake: FakeGateway
) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    staged = stage(rig, [("a.edi", b"A")], fake=fake)
    (f,) = staged.files
    os.rename(f.temp, f.final)  # SIGKILL after the move, before WRITTEN
    restarted = rigs.restart(rig, transport=fake.transport())
    assert restarted.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
    assert file_states(restarted) == [FileState.WRITTEN]
    restarted.poll()
    assert restarted.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}


def test_a_file_a_consumer_already_took_is_not_written_again(rigs: Rigs, fake: FakeGateway) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    staged = stage(rig, [("a.edi", b"A")], fake=fake)
    (f,) = staged.files
    os.rename(f.temp, f.final)
    f.final.unlink()  # the consumer picked it up before the restart
    restarted = rigs.restart(rig, transport=fake.transport())
    restarted.poll()
    assert restarted.files() == {}
    assert state_of(restarted) == InboundState.READ


def test_a_planned_name_taken_meanwhile_gets_a_free_name_and_the_ledger_follows(
    rigs: Rigs, fake: FakeGateway
) -> None:
    rig = rigs.make(URL, transport=fake.transport(), write_metadata=True)
    staged = stage(rig, [("a.edi", b"A")], fake=fake)
    staged.files[0].final.write_bytes(b"someone else's file")
    restarted = rigs.restart(rig, transport=fake.transport())
    assert restarted.files() == {
        "MYSTATION/ACME/inbox/a.edi": b"someone else's file",
        "MYSTATION/ACME/inbox/a (2).edi": b"A",
        "MYSTATION/ACME/inbox/a (2).edi.as2.json": restarted.files()[
            "MYSTATION/ACME/inbox/a (2).edi.as2.json"
        ],
    }
    with restarted.ledger.read() as s:
        row = li.latest(s, "<m@x>")
        assert row is not None
        finals = sorted(Path(f.final_path).name for f in li.files_of(s, row.id))
    assert finals == ["a (2).edi", "a (2).edi.as2.json"]


def test_temp_files_never_recorded_are_deleted_and_the_message_fetched_again(
    rigs: Rigs, fake: FakeGateway
) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    stage(rig, [("a.edi", b"A")], fake=fake, plan=False)  # SIGKILL before PLANNED
    stale_zip = rig.config.state_dir / "tmp" / "inbound-0123.zip"
    stale_zip.write_bytes(b"half a zip")
    restarted = rigs.restart(rig, transport=fake.transport())
    assert work_files(restarted.root) == []
    assert not stale_zip.exists()
    assert fake.messages["<m@x>"].read  # the gateway thinks it is done; the ledger knows better
    assert restarted.poll() == 1
    assert restarted.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}
    assert state_of(restarted) == InboundState.READ


def test_a_planned_message_folder_is_moved_whole_at_start(rigs: Rigs, fake: FakeGateway) -> None:
    rig = rigs.make(URL, transport=fake.transport(), layout=Layout.MESSAGE_FOLDER.value)
    staged = stage(rig, [("a.edi", b"A"), ("b.edi", b"B")], fake=fake)
    assert staged.final_dir is not None
    staged.final_dir.mkdir(parents=True)  # someone created a folder of that name meanwhile
    (staged.final_dir / "theirs").write_bytes(b"T")
    restarted = rigs.restart(rig, transport=fake.transport())
    assert restarted.files() == {
        "MYSTATION/ACME/inbox/m@x/theirs": b"T",
        "MYSTATION/ACME/inbox/m@x (2)/a.edi": b"A",
        "MYSTATION/ACME/inbox/m@x (2)/b.edi": b"B",
    }
    assert work_files(restarted.root) == []
    assert state_of(restarted) == InboundState.STORED


def test_a_moved_message_folder_is_not_moved_again(rigs: Rigs, fake: FakeGateway) -> None:
    rig = rigs.make(URL, transport=fake.transport(), layout=Layout.MESSAGE_FOLDER.value)
    staged = stage(rig, [("a.edi", b"A")], fake=fake)
    assert staged.temp_dir is not None and staged.final_dir is not None
    staged.final_dir.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staged.temp_dir, staged.final_dir)  # SIGKILL after the rename
    restarted = rigs.restart(rig, transport=fake.transport())
    restarted.poll()
    assert restarted.files() == {"MYSTATION/ACME/inbox/m@x/a.edi": b"A"}
    assert state_of(restarted) == InboundState.READ


# -- recovery through verified folders ---------------------------------------------------------

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\n"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and its link count."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_nlink)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_recovery_through_a_symlinked_work_folder_touches_nothing_outside(
    rigs: Rigs, fake: FakeGateway, tmp_path: Path
) -> None:
    """A crash between link and unlink left both names; then incoming/ became a symlink to a
    directory holding a file of the temp name, linked into the inbox under the planned name.
    Finishing the move by path would unlink that file out there; through verified folders the
    move is refused (a storage error naming the link) and nothing outside changes."""
    rig = rigs.make(URL, transport=fake.transport())
    (f,) = stage(rig, [("a.edi", b"A")], fake=fake).files
    incoming = f.temp.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f.temp.name).write_bytes(SECRET)
    os.link(elsewhere / f.temp.name, f.final)
    for leftover in incoming.iterdir():
        leftover.unlink()
    incoming.rmdir()
    incoming.symlink_to(elsewhere)
    before = snapshot(elsewhere)
    with capture_logs() as logs:
        restarted = rigs.restart(rig, transport=fake.transport())
    assert snapshot(elsewhere) == before
    assert file_states(restarted) == [FileState.PLANNED]  # kept for when it is a folder again
    errors = [e for e in logs if e["event"] == "inbound.storage_error"]
    assert errors and all("symbolic link" in e["reason"] for e in errors)
    assert not [e for e in logs if e["event"] == "inbound.recovered_file"]


def test_orphan_removal_does_not_list_a_symlinked_work_folder(
    rigs: Rigs, fake: FakeGateway, tmp_path: Path
) -> None:
    rig = rigs.make(URL, transport=fake.transport())
    (f,) = stage(rig, [("a.edi", b"A")], fake=fake, plan=False).files  # FETCHING, no PLANNED
    incoming = f.temp.parent
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "id_rsa").write_bytes(SECRET)
    for leftover in incoming.iterdir():
        leftover.unlink()
    incoming.rmdir()
    incoming.symlink_to(elsewhere)
    with capture_logs() as logs:
        rigs.restart(rig, transport=fake.transport())
    assert snapshot(elsewhere) == {"id_rsa": (SECRET, 1)}
    assert not [e for e in logs if e["event"] == "inbound.orphan_removed"]
    (error,) = [e for e in logs if e["event"] == "inbound.storage_error"]
    assert error["file"] == str(incoming) and "symbolic link" in error["reason"]


def test_messages_in_flight_in_a_release_ledger_are_finished_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """A ledger the released code (schema 3) left with messages in every state is upgraded
    on start, and the engine finishes each one in flight exactly once: the half-moved
    message's planned files are moved, the fully written one becomes STORED, every STORED
    one is marked read, the FETCHING ones are fetched; finished ones are left alone."""
    root = tmp_path / "root"
    ledger_from_release(tmp_path / "state", root)
    acme = root / "ME" / "ACME"
    incoming, inbox = acme / ".as2sync" / "incoming", acme / "inbox"
    incoming.mkdir(parents=True)
    inbox.mkdir(parents=True)
    (root / "ME" / "GLOBEX" / "inbox").mkdir(parents=True)
    # What the release had done on disk by the time it was killed (see the fixture's script).
    (inbox / "2-b.edi").write_bytes(b"BB" * 3)  # <half@x>: attachment 0 WRITTEN
    (incoming / "2-1").write_bytes(b"C" * 7)  # ... attachment 1 and its sidecar PLANNED
    (incoming / "2-1.as2.json").write_bytes(b"{}\n")
    (inbox / "3-d.edi").write_bytes(b"D" * 4)  # <written@x>: every file WRITTEN
    (inbox / "4-a.edi").write_bytes(b"A" * 5)  # <stored@x>: STORED
    fake = FakeGateway(stations=("ME",))
    fake.add("<retried@x>", [("a.edi", b"A" * 5)], receiver="ME")
    fake.add("<read@x>", [("b.edi", b"BB" * 3)], receiver="ME")
    fake.add("<empty@x>", [], receiver="ME")
    for stored in ("<half@x>", "<written@x>", "<stored@x>"):
        fake.add(stored, [], receiver="ME")
        fake.messages[stored].read = True
    with Rigs(tmp_path) as rigs:
        rig = rigs.make(URL, transport=fake.transport(), write_metadata=False)
        # 2 and 3 were stored by the start's recovery; the poll fetches 1, 6 (generation 2), 8.
        assert rig.poll() == 3
        with rig.ledger.read() as s:
            rows = li.messages_by_id(s, range(1, 9))
            files = {row_id: li.files_of(s, row_id) for row_id in rows}
        assert {row_id: row.state for row_id, row in rows.items()} == {
            **dict.fromkeys((1, 2, 3, 4, 5, 6, 8), InboundState.READ),
            7: InboundState.DELETED,
        }
        assert all(f.state is FileState.WRITTEN for fs in files.values() for f in fs)
        assert rows[1].remote["partner_type"] == "test"  # the v1 facts survive the upgrade
        assert rows[7].remote["receiver_id"] == "GLOBEX"
        assert work_files(root) == []
        found = rig.files()
        # Each attachment is in the inbox once: nothing finished was written again.
        assert sorted(found) == [
            "ME/ACME/inbox/2-b.edi",
            "ME/ACME/inbox/2-c.edi",
            "ME/ACME/inbox/2-c.edi.as2.json",
            "ME/ACME/inbox/3-d.edi",
            "ME/ACME/inbox/4-a.edi",
            "ME/ACME/inbox/a.edi",
            "ME/ACME/inbox/b.edi",
        ]
        assert found["ME/ACME/inbox/2-c.edi"] == b"C" * 7
        assert all(m.read for m in fake.messages.values())
