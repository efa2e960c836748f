"""The inbound engine (real ledger, real folders) driving the S3 backend against a moto server:
the bucket keeps no read flag, so the ledger alone decides what was fetched: every received
object is stored once and byte-identical, nothing again after a restart, and a message whose
folder sorts before those already stored (its receipt began earlier) is still found."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.backends.mftgateway_s3.backend import S3Backend
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger.db import open_ledger
from tests.integration.inbound_support import inbox_files, make_config
from tests.s3.gateway_sim import GatewaySim


class Rig:
    def __init__(self, s3: S3Clients, base: Path) -> None:
        self.s3 = s3
        self.config = make_config(base, "http://127.0.0.1:9")  # v1 section: never asked
        self.stop = threading.Event()
        self._build()

    def _build(self) -> None:
        self.ledger = open_ledger(self.config.state_dir)
        self.backend = S3Backend(self.s3, settle_seconds=0.0)
        self.engine = InboundEngine(self.config, self.ledger, self.backend)
        self.engine.start()

    def restart(self) -> None:
        self.ledger.close()
        self._build()

    def poll(self) -> int:
        return self.engine.poll(self.stop)

    def files(self) -> dict[str, bytes]:
        return inbox_files(self.config.folders.root)


@pytest.fixture
def rig(s3: S3Clients, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(s3, tmp_path)
    yield r
    r.ledger.close()


def test_received_objects_are_stored_once_byte_identical_across_a_restart(
    rig: Rig, s3: S3Clients
) -> None:
    sim = GatewaySim(s3, time.time)
    expected: dict[str, bytes] = {}
    for i in range(5):
        files = {f"po-{i}.edi": f"ISA*{i}*".encode() * (i + 1)}
        if i % 2 == 0:
            files[f"po-{i}.pdf"] = b"%PDF" + bytes([i]) * 3000
        sim.receive("MYSTATION", "ACME", files)
        expected |= {f"MYSTATION/ACME/inbox/{n}": d for n, d in files.items()}
    rig.poll()
    assert rig.files() == expected
    rig.restart()
    rig.poll()
    rig.poll()
    assert rig.files() == expected  # nothing stored twice: the ledger, not the bucket, knows


def test_a_message_whose_folder_sorts_before_stored_ones_is_still_fetched(
    rig: Rig, s3: S3Clients
) -> None:
    sim = GatewaySim(s3, time.time)
    sim.receive("MYSTATION", "ACME", {"late-sorting-after.edi": b"B" * 10})
    rig.poll()
    early = "AS2/files/MYSTATION/ACME/inbox/0000000001000-1/early.edi"
    s3.writes.put_object(Bucket=s3.bucket, Key=early, Body=b"A" * 7)
    rig.poll()
    assert rig.files() == {
        "MYSTATION/ACME/inbox/late-sorting-after.edi": b"B" * 10,
        "MYSTATION/ACME/inbox/early.edi": b"A" * 7,
    }


def test_pairs_the_gateway_created_are_read_without_configuration(rig: Rig, s3: S3Clients) -> None:
    GatewaySim(s3, time.time).receive("OTHERSTATION", "NEWPARTNER", {"x.edi": b"x"})
    rig.poll()
    assert rig.files() == {"OTHERSTATION/NEWPARTNER/inbox/x.edi": b"x"}
