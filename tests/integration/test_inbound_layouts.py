"""The three inbox layouts and the metadata sidecar, end to end against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import RunningEmulator
from tests.integration.inbound_support import Rigs

MID = "<OPENAS2-22112026083015+0000-1234@OpenAS2A_OID>"
FOLDER = "OPENAS2-22112026083015+0000-1234@OpenAS2A_OID"

# Two attachments of one message share a name on purpose; zipfile warns when writing that.
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def seed_pair(emu: RunningEmulator) -> int:
    emu.state.seed_received(
        "MYSTATION",
        "ACME",
        [("order.edi", b"ORDER"), ("order.edi", b"ORDER-2")],
        subject="weekly orders",
        message_id=MID,
        persisted_ms=1_700_000_000_123,
    )
    return 1_700_000_000_123


def test_flat_layout_writes_files_at_the_inbox_root(emulator: RunningEmulator, rigs: Rigs) -> None:
    seed_pair(emulator)
    rig = rigs.make(emulator.base_url, layout="flat")
    rig.poll()
    assert rig.files() == {
        "MYSTATION/ACME/inbox/order.edi": b"ORDER",
        "MYSTATION/ACME/inbox/order (2).edi": b"ORDER-2",
    }


def test_timestamp_prefix_layout_prefixes_the_gateway_time_in_utc(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    seed_pair(emulator)
    rig = rigs.make(emulator.base_url, layout="timestamp-prefix")
    rig.poll()
    assert rig.files() == {
        "MYSTATION/ACME/inbox/20231114221320_order.edi": b"ORDER",
        "MYSTATION/ACME/inbox/20231114221320_order (2).edi": b"ORDER-2",
    }


def test_message_folder_layout_writes_one_folder_per_message(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    seed_pair(emulator)
    emulator.state.seed_received("MYSTATION", "ACME", [("x", b"X")], message_id="<second@x>")
    rig = rigs.make(emulator.base_url, layout="message-folder")
    rig.poll()
    assert rig.files() == {
        f"MYSTATION/ACME/inbox/{FOLDER}/order.edi": b"ORDER",
        f"MYSTATION/ACME/inbox/{FOLDER}/order (2).edi": b"ORDER-2",
        "MYSTATION/ACME/inbox/second@x/x": b"X",
    }


def test_metadata_sidecar_holds_the_as2_message_entity(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    ms = seed_pair(emulator)
    rig = rigs.make(emulator.base_url, write_metadata=True)
    rig.poll()
    files = rig.files()
    assert sorted(files) == [
        "MYSTATION/ACME/inbox/order (2).edi",
        "MYSTATION/ACME/inbox/order (2).edi.as2.json",
        "MYSTATION/ACME/inbox/order.edi",
        "MYSTATION/ACME/inbox/order.edi.as2.json",
    ]
    doc = json.loads(files["MYSTATION/ACME/inbox/order (2).edi.as2.json"])
    assert doc["as2MessageId"] == MID
    assert doc["subject"] == "weekly orders"
    assert (doc["persistedTimestamp"], doc["time"]) == (ms, "2023-11-14T22:13:20Z")
    assert {doc["station"], doc["partner"]} == {"MYSTATION", "ACME"}
    assert {doc["senderId"], doc["receiverId"]} == {"MYSTATION", "ACME"}
    for key in ("signed", "encrypted", "mdnStatus"):
        assert key in doc
    assert doc["attachments"][0]["index"] == 1 and doc["attachments"][0]["size"] == 7


def test_metadata_sidecar_in_message_folder_layout_lists_every_file(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    seed_pair(emulator)
    rig = rigs.make(emulator.base_url, layout="message-folder", write_metadata=True)
    rig.poll()
    sidecar = f"MYSTATION/ACME/inbox/{FOLDER}/{FOLDER}.as2.json"
    doc = json.loads(rig.files()[sidecar])
    assert [a["file"] for a in doc["attachments"]] == ["order.edi", "order (2).edi"]
    assert [a["name"] for a in doc["attachments"]] == ["order.edi", "order.edi"]


def test_a_stored_again_message_gets_a_second_folder(emulator: RunningEmulator, rigs: Rigs) -> None:
    seed_pair(emulator)
    rig = rigs.make(emulator.base_url, layout="message-folder", on_redelivery="store-again")
    rig.poll()
    emulator.state.mark_unread(MID)
    rig.poll()
    names = sorted({p.split("/")[3] for p in rig.files()})
    assert names == [FOLDER, f"{FOLDER} (2)"]
