"""Hostile input from partners and gateways: names, zip-slip, symlinks, devices, zip bombs."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from as2sync.ledger import inbound as li
from as2sync.ledger.inbound import InboundState
from tests.integration.inbound_support import FakeGateway, Rigs

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def everything_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


def test_hostile_attachment_names_stay_inside_the_inbox_with_readable_names(
    emulator: RunningEmulator, rigs: Rigs, tmp_path: Path
) -> None:
    long_name = "L" * 300 + ".edi"
    emulator.state.seed_received(
        "MYSTATION",
        "ACME",
        [
            ("../../x", b"1"),
            ("/etc/x", b"2"),
            ("a\\b", b"3"),
            ("..", b"4"),
            ("Überweisung 請求書.xml", b"5"),
            (long_name, b"6"),
            ("dup.edi", b"7"),
            ("dup.edi", b"8"),
            (".hidden", b"9"),
            ("nul\x00.edi", b"10"),
        ],
    )
    rig = rigs.make(emulator.base_url, max_name_length=120)
    before = everything_under(tmp_path)
    assert rig.poll() == 1
    files = rig.files()
    inbox = "MYSTATION/ACME/inbox/"
    assert all(name.startswith(inbox) for name in files)
    names = {name.removeprefix(inbox): data for name, data in files.items()}
    long_kept = next(n for n in names if n.startswith("LLL"))
    assert len(long_kept.encode()) <= 120 and long_kept.endswith(".edi")
    assert names == {
        "x": b"1",
        "x (2)": b"2",
        "b": b"3",
        "attachment-4": b"4",
        "Überweisung 請求書.xml": b"5",
        long_kept: b"6",
        "dup.edi": b"7",
        "dup (2).edi": b"8",
        "hidden": b"9",
        "nul_.edi": b"10",
    }
    created = everything_under(tmp_path) - before
    assert all(p.startswith(("root/", "state/")) for p in created)
    assert not Path("/etc/x").exists() or Path("/etc/x").read_bytes() != b"2"


def _entry(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def hostile_zip(_ids: list[str]) -> bytes:
    """Honest folders for <ok@x>, and every trick a zip can play for the others."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(_entry("<ok@x>/good.edi"), b"GOOD")
        zf.writestr(_entry("../../escaped.edi"), b"EVIL")  # zip-slip outside any folder
        zf.writestr(_entry("/abs/escaped.edi"), b"EVIL")
        zf.writestr(_entry("<slip@x>/../../../slip.edi"), b"SLIP")  # slip inside a folder
        zf.writestr(_entry("<link@x>/passwd", stat.S_IFLNK | 0o777), b"/etc/passwd")
        zf.writestr(_entry("<dev@x>/sda", stat.S_IFBLK | 0o600), b"")
        zf.writestr(_entry("<bomb@x>/bomb.edi"), b"\0" * (8 * 1024 * 1024))
    data = bytearray(out.getvalue())
    # The bomb's headers claim 10 bytes, as the list metadata does; it inflates to 8 MB.
    name = b"<bomb@x>/bomb.edi"
    local = data.rfind(b"PK\x03\x04", 0, data.find(name))
    struct.pack_into("<I", data, local + 22, 10)
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 1)
    struct.pack_into("<I", data, central + 24, 10)
    return bytes(data)


def test_a_hostile_zip_cannot_write_outside_the_inbox_or_store_unsafe_entries(
    rigs: Rigs, tmp_path: Path
) -> None:
    fake = FakeGateway(hostile_zip)
    fake.add("<ok@x>", [("good.edi", b"GOOD")])
    fake.add("<slip@x>", [("../../../slip.edi", b"SLIP")])
    fake.add("<link@x>", [("passwd", b"/etc/passwd")])
    fake.add("<dev@x>", [("sda", b"")])
    fake.add("<bomb@x>", [("bomb.edi", b"\0" * 10)])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport())
    before = everything_under(tmp_path)
    with capture_logs() as logs:
        assert rig.poll() == 2
    assert rig.files() == {
        "MYSTATION/ACME/inbox/good.edi": b"GOOD",
        "MYSTATION/ACME/inbox/slip.edi": b"SLIP",  # its name, never its path
    }
    created = everything_under(tmp_path) - before
    assert all(p.startswith(("root/", "state/")) for p in created)
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))
    refused = {e["message_id"]: e["reason"] for e in logs if e["event"] == "inbound.verify_failed"}
    assert "symlink" in refused["<link@x>"]
    assert "block device" in refused["<dev@x>"]
    assert "CRC" in refused["<bomb@x>"] or "zip bomb" in refused["<bomb@x>"]
    assert any(e["event"] == "inbound.zip_stray_entries" for e in logs)
    with rig.ledger.read() as s:
        left = {r.message_id for r in li.in_state(s, InboundState.FETCHING)}
    assert left == {"<link@x>", "<dev@x>", "<bomb@x>"}  # never stored, never dropped
    assert not any(os.path.getsize(p) > 1024 * 1024 for p in tmp_path.rglob("*") if p.is_file())
