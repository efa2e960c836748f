"""File names that are not UTF-8: sent under a faithful, reversible name, archived under the
original bytes, never stuck (real filesystem, the engine against the emulator)."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import RunningEmulator
from as2sync.ledger.outbound import SubmissionState
from tests.integration.outbound_support import Rig


@pytest.fixture
def rig(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Rig]:
    r = Rig(tmp_path, emulator)
    yield r
    r.close()


def drop_bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    """Create a file whose name is raw bytes, as a Latin-1 system or a zip tool would."""
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def listing(folder: Path) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(folder))) if folder.is_dir() else []


@pytest.mark.parametrize(
    ("raw", "wire"),
    [(b"inv\xff.edi", "inv%FF.edi"), (b"100%\xe9t\xe9.edi", "100%25%E9t%E9.edi")],
)
def test_a_non_utf8_name_is_sent_escaped_and_archived_under_its_own_bytes(
    rig: Rig, raw: bytes, wire: str
) -> None:
    rig.start()
    drop_bytes_name(rig.dirs().outbox, raw, b"ISA*latin1")
    rig.run_until(lambda: listing(rig.dirs().sent) == [raw])
    [sub] = rig.submissions()
    assert sub.attachments == [(wire, b"ISA*latin1")]
    assert urllib.parse.unquote_to_bytes(wire) == raw  # the documented way back
    assert listing(rig.dirs().outbox) == []
    assert os.listdir(rig.dirs().processing) == []
    [row] = rig.rows()
    assert row.files[0].name == wire
    assert row.state in (SubmissionState.ARCHIVED, SubmissionState.DELIVERED)
    assert row.message_id == sub.message_id
