"""Atomic inbox writes: staging, free names, moves that never overwrite, sidecars."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.backends.as2gateway.model import Attachment, MessageInfo
from as2sync.backends.as2gateway.receiving import pending_of
from as2sync.backends.as2gateway.zipread import EntryStream
from as2sync.backends.base import ContentRefused
from as2sync.config.schema import Layout
from as2sync.folders.layout import PartnerDirs
from as2sync.inbound.layouts import wanted_names
from as2sync.inbound.writer import Stager, place_file, place_folder, unit_of
from as2sync.ledger import inbound as li
from as2sync.ledger.db import Ledger, open_ledger
from as2sync.ledger.inbound import FileKind, InboundMessage


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = open_ledger(tmp_path / "state")
    yield ledger
    ledger.close()


def row_for(ledger: Ledger, files: list[tuple[str, bytes]], mid: str = "<m@x>") -> InboundMessage:
    info = MessageInfo(
        message_id=mid,
        persisted_ms=1_700_000_000_000,
        sender_id="ACME",
        receiver_id="ME",
        attachments=tuple(Attachment(n, len(d)) for n, d in files),
        subject="s",
        mdn_status="Received",
    )
    with ledger.transaction() as s:
        return li.record_fetching(s, pending_of(info, "ME", "ACME"), now=1.0)


def stager(row: InboundMessage, dirs: PartnerDirs, layout: Layout, metadata: bool) -> Stager:
    names = wanted_names(
        layout,
        message_id=row.message_id,
        attachment_names=[n for n, _s in row.attachments],
        persisted_ms=row.persisted_ms,
        max_name_length=200,
        write_metadata=metadata,
    )
    return Stager(row, dirs, names, layout=layout, write_metadata=metadata)


def zip_of(path: Path, files: list[tuple[str, bytes]]) -> zipfile.ZipFile:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files:
            zf.writestr(f"m@x/{name}", data)
    return zipfile.ZipFile(path)


def test_place_file_never_overwrites_and_records_the_new_name_first(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "x.edi").write_bytes(b"someone else's")
    temp = tmp_path / "temp"
    temp.write_bytes(b"ours")
    replans: list[Path] = []

    def replan(new: Path) -> None:
        assert temp.exists() and not new.exists()  # recorded before the move
        replans.append(new)

    touched: set[Path] = set()
    final = place_file(
        temp, inbox / "x.edi", replan, touched, dirs=PartnerDirs("ME", "P", tmp_path)
    )
    assert touched == {inbox, tmp_path}
    assert final == inbox / "x (2).edi" == replans[0]
    assert (inbox / "x.edi").read_bytes() == b"someone else's"
    assert final.read_bytes() == b"ours"
    assert not temp.exists()


def test_place_folder_moves_the_whole_folder_at_once_and_never_onto_another(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "m").mkdir(parents=True)
    (inbox / "m" / "theirs").write_bytes(b"t")
    temp = tmp_path / "incoming" / "1.d"
    temp.mkdir(parents=True)
    (temp / "a.edi").write_bytes(b"a")
    (temp / "b.edi").write_bytes(b"b")
    replans: list[Path] = []
    touched: set[Path] = set()
    final = place_folder(
        temp, inbox / "m", replans.append, touched, dirs=PartnerDirs("ME", "P", tmp_path)
    )
    assert touched == {inbox, tmp_path / "incoming"}
    assert final == inbox / "m (2)" and replans == [final]
    assert sorted(p.name for p in final.iterdir()) == ["a.edi", "b.edi"]
    assert [p.name for p in (inbox / "m").iterdir()] == ["theirs"]
    assert not temp.exists()


def test_unit_of_tells_a_file_move_from_a_folder_move(tmp_path: Path) -> None:
    f = (tmp_path / "incoming" / "3-0", tmp_path / "inbox" / "a.edi")
    assert unit_of(*f) == f
    d = (tmp_path / "incoming" / "3.d" / "a.edi", tmp_path / "inbox" / "m" / "a.edi")
    assert unit_of(*d) == (tmp_path / "incoming" / "3.d", tmp_path / "inbox" / "m")


def test_two_messages_with_the_same_name_get_distinct_targets_before_either_moves(
    tmp_path: Path, ledger: Ledger
) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    reserved: set[Path] = set()
    finals = []
    for n, mid in enumerate(["<a@x>", "<b@x>"]):
        row = row_for(ledger, [("invoice.edi", b"12345")], mid)
        st = stager(row, dirs, Layout.FLAT, metadata=False)
        with zip_of(tmp_path / f"z{n}.zip", [("invoice.edi", b"12345")]) as zf:
            st.add_stream(0, EntryStream(zf, zf.infolist()[0], 5), 5)
        (planned,) = st.seal(reserved).files
        assert planned.temp.read_bytes() == b"12345"
        assert planned.temp.parent == dirs.incoming
        finals.append(planned.final)
    assert finals == [dirs.inbox / "invoice.edi", dirs.inbox / "invoice (2).edi"]
    assert list(dirs.inbox.iterdir()) == []  # nothing visible before the move


def test_flat_sidecars_follow_each_file_and_describe_the_message(
    tmp_path: Path, ledger: Ledger
) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    files = [("a.edi", b"AAA"), ("b.edi", b"BB")]
    row = row_for(ledger, files)
    st = stager(row, dirs, Layout.FLAT, metadata=True)
    with zip_of(tmp_path / "z.zip", files) as zf:
        for k, info in enumerate(zf.infolist()):
            st.add_stream(k, EntryStream(zf, info, info.file_size), info.file_size)
    staged = st.seal(set())
    kinds = [(f.kind, f.final.name) for f in staged.files]
    assert kinds == [
        (FileKind.DATA, "a.edi"),
        (FileKind.METADATA, "a.edi.as2.json"),
        (FileKind.DATA, "b.edi"),
        (FileKind.METADATA, "b.edi.as2.json"),
    ]
    doc = json.loads(staged.files[1].temp.read_text())
    assert doc["as2MessageId"] == "<m@x>"
    assert (doc["senderId"], doc["receiverId"], doc["station"], doc["partner"]) == (
        "ACME",
        "ME",
        "ME",
        "ACME",
    )
    assert doc["time"] == "2023-11-14T22:13:20Z"
    assert doc["mdnStatus"] == "Received" and doc["subject"] == "s"
    assert doc["attachments"] == [
        {"index": 0, "name": "a.edi", "size": 3, "sha256": staged.files[0].sha256}
    ]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_message_folder_stages_every_file_and_the_sidecar_in_one_temp_folder(
    tmp_path: Path, ledger: Ledger
) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    files = [("x.edi", b"1"), ("x.edi", b"22")]
    row = row_for(ledger, files)
    st = stager(row, dirs, Layout.MESSAGE_FOLDER, metadata=True)
    with zip_of(tmp_path / "z.zip", files) as zf:
        for k, info in enumerate(zf.infolist()):
            st.add_stream(k, EntryStream(zf, info, info.file_size), info.file_size)
    staged = st.seal(set())
    assert staged.temp_dir == dirs.incoming / f"{row.id}.d"
    assert staged.final_dir == dirs.inbox / "m@x"
    assert sorted(p.name for p in staged.temp_dir.iterdir()) == [
        "m@x.as2.json",
        "x (2).edi",
        "x.edi",
    ]
    doc = json.loads((staged.temp_dir / "m@x.as2.json").read_text())
    assert [a["file"] for a in doc["attachments"]] == ["x.edi", "x (2).edi"]


def test_discard_removes_everything_staged(tmp_path: Path, ledger: Ledger) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    for layout in (Layout.FLAT, Layout.MESSAGE_FOLDER):
        row = row_for(ledger, [("a", b"1")], f"<{layout}@x>")
        st = stager(row, dirs, layout, metadata=True)
        with zip_of(tmp_path / "z.zip", [("a", b"1")]) as zf:
            st.add_stream(0, EntryStream(zf, zf.infolist()[0], 1), 1)
        st.discard()
        assert list(dirs.incoming.iterdir()) == []


class CountingReader(io.BytesIO):
    """Bytes that count how many of them were read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"x" * 1000, "more than the 5 bytes listed"), (b"abc", "holds 3 bytes, 5 listed")],
)
def test_a_stream_of_other_than_the_listed_size_is_refused_reading_at_most_one_byte_more(
    tmp_path: Path, ledger: Ledger, data: bytes, reason: str
) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    row = row_for(ledger, [("a.edi", b"12345")])
    st = stager(row, dirs, Layout.FLAT, metadata=False)
    source = CountingReader(data)
    with pytest.raises(ContentRefused, match=reason):
        st.add_stream(0, source, 5)
    assert source.taken <= 6
    st.discard()
    assert list(dirs.incoming.iterdir()) == []


def test_a_v1_sidecar_has_the_keys_in_the_order_the_release_wrote_them(
    tmp_path: Path, ledger: Ledger
) -> None:
    dirs = PartnerDirs("ME", "ACME", tmp_path / "ME" / "ACME")
    row = row_for(ledger, [("a.edi", b"AAA")])
    st = stager(row, dirs, Layout.FLAT, metadata=True)
    st.add_stream(0, io.BytesIO(b"AAA"), 3)
    doc = json.loads(st.seal(set()).files[1].temp.read_text())
    # The release (860e24e) wrote these keys in this order, its v1 facts from their columns.
    assert list(doc) == [
        "as2MessageId",
        "subject",
        "persistedTimestamp",
        "time",
        "senderId",
        "receiverId",
        "station",
        "partner",
        "partnerType",
        "signed",
        "encrypted",
        "compressed",
        "mdnStatus",
        "attachments",
    ]
    assert (doc["partnerType"], doc["signed"], doc["encrypted"], doc["compressed"]) == (
        None,
        False,
        False,
        False,
    )
