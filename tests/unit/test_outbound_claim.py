"""Claiming outbox files: what two instances, odd names and hostile folders cannot break.
Real files, real ledgers; no gateway needed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from as2sync import failpoints
from as2sync.backends.as2gateway.sending import As2Sender
from as2sync.config.schema import Config, OutboundConfig
from as2sync.errors import StorageError
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import open_ledger
from as2sync.ledger.outbound import SubmissionState
from as2sync.outbound import claim
from as2sync.outbound.context import Context


def clock() -> float:
    return 1_800_000_000.0


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
    backend = As2Sender(NoGateway(), config, clock)  # claim facts come from the config alone
    return Context(config, open_ledger(state_dir), backend, clock=clock)


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
    assert claim.move_into_processing(first, a)
    # The second finds the file gone and its own planned path empty: abandoned, not claimed.
    assert not claim.move_into_processing(second, b)
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


# -- names that are not UTF-8 ------------------------------------------------------------------

RAW = b"inv\xff.edi"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    c = make_ctx(tmp_path / "root", tmp_path / "state")
    yield c
    c.ledger.close()


def bytes_listing(folder: Path) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(folder))) if folder.is_dir() else []


def drop_raw(ctx: Context, data: bytes = b"ISA*1") -> Path:
    outbox = ctx.dirs("ST", "ACME").outbox
    outbox.mkdir(parents=True, exist_ok=True)
    path = Path(os.fsdecode(os.fsencode(outbox) + b"/" + RAW))
    path.write_bytes(data)
    return path


def test_a_claim_of_a_non_utf8_name_killed_before_the_rename_is_resumed(ctx: Context) -> None:
    source = drop_raw(ctx)
    sub = claim.plan(ctx, "ST", "ACME", source)  # committed; killed before the rename
    assert sub.files[0].name == "inv%FF.edi"
    resumed = claim.resume(ctx, sub)
    assert resumed is not None and resumed.state == SubmissionState.CLAIMED
    assert bytes_listing(ctx.dirs("ST", "ACME").outbox) == []
    assert resumed.files[0].processing_path.read_bytes() == b"ISA*1"


def test_a_refused_non_utf8_file_goes_to_failed_under_its_own_name_with_a_reason(
    ctx: Context,
) -> None:
    ctx = replace(ctx, config=ctx.config.model_copy(update={"outbound": small_outbound(ctx)}))
    source = drop_raw(ctx, b"x" * 100)
    sub = claim.claim(ctx, "ST", "ACME", source)
    assert sub is not None and sub.state == SubmissionState.FAILED
    failed = ctx.dirs("ST", "ACME").failed
    assert bytes_listing(failed) == [RAW, RAW + b".error.json"]
    sidecar = json.loads(
        Path(os.fsdecode(os.fsencode(failed) + b"/" + RAW + b".error.json")).read_text()
    )
    assert sidecar["file"] == "inv%FF.edi"
    assert "larger than" in sidecar["reason"]


def small_outbound(ctx: Context) -> OutboundConfig:
    return ctx.config.outbound.model_copy(update={"max_file_bytes": 10})


# -- the move into processing ------------------------------------------------------------------


class Crash(Exception):
    """Stands for a SIGKILL at a failpoint: nothing after it runs."""


def drop(ctx: Context, name: str, data: bytes) -> Path:
    outbox = ctx.dirs("ST", "ACME").outbox
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / name).write_bytes(data)
    return outbox / name


def test_a_claim_never_replaces_a_file_already_at_its_processing_name(ctx: Context) -> None:
    """Only a lost ledger can leave a file there; it is somebody's claimed file, kept. The
    claim is withdrawn and the outbox file stays for a later claim under a new name."""
    source = drop(ctx, "inv.edi", b"mine")
    sub = claim.plan(ctx, "ST", "ACME", source)
    held = sub.files[0].processing_path
    held.parent.mkdir(parents=True)
    held.write_bytes(b"claimed before the ledger was lost")
    with pytest.raises(StorageError, match="exists"):
        claim.take(ctx, sub)
    assert held.read_bytes() == b"claimed before the ledger was lost"
    assert source.read_bytes() == b"mine"
    with ctx.ledger.read() as s:
        assert lo.in_states(s, list(SubmissionState)) == []


def test_a_claim_killed_between_link_and_unlink_is_finished_by_resume(ctx: Context) -> None:
    """Killed there, the file has two names (outbox and processing, one inode): the resume
    removes the outbox name, so the scanner cannot take it for a new file."""
    source = drop(ctx, "inv.edi", b"ISA*1")
    sub = claim.plan(ctx, "ST", "ACME", source)
    held = sub.files[0].processing_path

    def crash(_name: str) -> None:
        raise Crash

    failpoints.arm("outbound.after_claim_link", crash)
    try:
        with pytest.raises(Crash):
            claim.take(ctx, sub)
    finally:
        failpoints.arm("")
    assert os.path.samefile(source, held)
    resumed = claim.resume(ctx, sub)
    assert resumed is not None and resumed.state == SubmissionState.CLAIMED
    assert os.listdir(source.parent) == []
    assert held.read_bytes() == b"ISA*1"


def test_a_new_file_dropped_under_the_claimed_name_is_left_for_its_own_claim(
    ctx: Context,
) -> None:
    source = drop(ctx, "inv.edi", b"first")
    sub = claim.plan(ctx, "ST", "ACME", source)
    assert claim.move_into_processing(ctx, sub)  # killed after the move, before the hash
    source.write_bytes(b"second")
    resumed = claim.resume(ctx, sub)
    assert resumed is not None and resumed.state == SubmissionState.CLAIMED
    assert resumed.files[0].processing_path.read_bytes() == b"first"
    assert source.read_bytes() == b"second"
