"""Claiming outbox files: what two instances, odd names and hostile folders cannot break.
Real files, real ledgers; no gateway needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from as2sync.config.schema import Config
from as2sync.ledger.db import open_ledger
from as2sync.outbound import claim
from as2sync.outbound.context import Context


class NoGateway:
    """Claiming must not talk to the gateway; any call is a test failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"claim called gateway.{name}")


def make_ctx(root: Path, state_dir: Path) -> Context:
    config = Config.model_validate(
        {
            "gateway": {"url": "http://127.0.0.1:9/v1", "username": "u", "password": "p"},
            "state_dir": str(state_dir),
            "folders": {"root": str(root)},
        }
    )
    return Context(config, open_ledger(state_dir), NoGateway(), clock=lambda: 1_800_000_000.0)


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[Context, Context]]:
    """Two instances on one folder tree, each with its own state_dir (and so its own ledger)."""
    root = tmp_path / "root"
    first = make_ctx(root, tmp_path / "state-a")
    second = make_ctx(root, tmp_path / "state-b")
    yield first, second
    first.ledger.close()
    second.ledger.close()


def test_two_instances_never_plan_the_same_processing_path(
    two_instances: tuple[Context, Context],
) -> None:
    first, second = two_instances
    outbox = first.dirs("ST", "ACME").outbox
    outbox.mkdir(parents=True)
    (outbox / "inv.edi").write_bytes(b"ISA*1")
    # Both ledgers number their first file 1; the instance id tells their paths apart.
    a = claim.plan(first, "ST", "ACME", outbox / "inv.edi")
    b = claim.plan(second, "ST", "ACME", outbox / "inv.edi")
    assert a.files[0].id == b.files[0].id == 1
    assert a.files[0].processing_path != b.files[0].processing_path
    assert a.files[0].processing_path.parent == b.files[0].processing_path.parent


def test_the_second_instance_cannot_take_over_the_first_ones_claim(
    two_instances: tuple[Context, Context],
) -> None:
    first, second = two_instances
    outbox = first.dirs("ST", "ACME").outbox
    outbox.mkdir(parents=True)
    (outbox / "inv.edi").write_bytes(b"ISA*1")
    a = claim.plan(first, "ST", "ACME", outbox / "inv.edi")
    b = claim.plan(second, "ST", "ACME", outbox / "inv.edi")
    assert claim.rename_into_processing(first, a)
    # The second finds the file gone and its own planned path empty: abandoned, not claimed.
    assert not claim.rename_into_processing(second, b)
    assert a.files[0].processing_path.read_bytes() == b"ISA*1"


def test_the_instance_id_is_kept_in_the_state_dir(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "root", tmp_path / "state")
    again = make_ctx(tmp_path / "root", tmp_path / "state")
    try:
        assert ctx.instance == again.instance
        assert len(ctx.instance) == 8
    finally:
        ctx.ledger.close()
        again.ledger.close()
