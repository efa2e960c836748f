"""Moving claimed files to sent/ and failed/: never overwrite, finish what a crash left, and a
sidecar with the reason beside every failed file. Real files, real ledger; no gateway needed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from as2sync.backends.as2gateway.sending import As2Sender
from as2sync.config.schema import Config
from as2sync.errors import StorageError
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import open_ledger
from as2sync.ledger.outbound import FileState, Submission, SubmissionState
from as2sync.outbound import archive, claim
from as2sync.outbound.context import Context


def clock() -> float:
    return 1_800_000_000.0


class NoGateway:
    """Archiving must not talk to the gateway; any call is a test failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"archive called gateway.{name}")


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    config = Config.model_validate(
        {
            "gateway": {"url": "http://127.0.0.1:9/v1", "username": "u", "password": "p"},
            "state_dir": str(tmp_path / "state"),
            "folders": {"root": str(tmp_path / "root")},
        }
    )
    ledger = open_ledger(config.state_dir)
    backend = As2Sender(NoGateway(), config, clock)  # claim facts come from the config alone
    yield Context(config, ledger, backend, clock=clock)
    ledger.close()


def claimed(ctx: Context, name: str = "a.edi", data: bytes = b"ISA*1") -> Submission:
    outbox = ctx.dirs("ST", "ACME").outbox
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / name).write_bytes(data)
    sub = claim.claim(ctx, "ST", "ACME", outbox / name)
    assert sub is not None and sub.state == SubmissionState.CLAIMED
    return sub


def submitted(ctx: Context, sub: Submission, message_id: str = "<m@gw>") -> Submission:
    with ctx.ledger.transaction() as s:
        lo.begin_submit(s, sub.id, ctx.clock())
        lo.mark_submitted(s, sub.id, ctx.clock(), message_id)
        return lo.get(s, sub.id)


def rejecting(ctx: Context, sub: Submission, reason: str = "refused") -> Submission:
    with ctx.ledger.transaction() as s:
        lo.mark_rejecting(s, sub.id, ctx.clock(), reason, http_status=413)
        return lo.get(s, sub.id)


def test_claim_moves_the_file_into_processing_and_records_its_digest(ctx: Context) -> None:
    sub = claimed(ctx, data=b"ISA*hello")
    f = sub.files[0]
    assert not f.source_path.exists()
    assert f.processing_path.read_bytes() == b"ISA*hello"
    assert (f.size, f.content_type) == (9, "application/edi-x12")
    assert f.sha256 == hashlib.sha256(b"ISA*hello").hexdigest()


def test_failed_file_gets_a_sidecar_with_the_reason(ctx: Context) -> None:
    sub = rejecting(ctx, claimed(ctx), "the gateway refused the message (HTTP 413): too large")
    done = archive.move_to_failed(ctx, sub, stage="submit")
    failed = ctx.dirs("ST", "ACME").failed
    assert sorted(os.listdir(failed)) == ["a.edi", "a.edi.error.json"]
    doc = json.loads((failed / "a.edi.error.json").read_text())
    assert doc["reason"] == "the gateway refused the message (HTTP 413): too large"
    assert (doc["http_status"], doc["station"], doc["partner"], doc["file"]) == (
        413,
        "ST",
        "ACME",
        "a.edi",
    )
    assert doc["time"] == "2027-01-15T08:00:00Z"
    assert done.state == SubmissionState.FAILED
    assert done.files[0].current_path == failed / "a.edi"
    assert os.listdir(ctx.dirs("ST", "ACME").processing) == []  # no temp files left


def test_failed_names_avoid_existing_files_and_sidecars(ctx: Context) -> None:
    failed = ctx.dirs("ST", "ACME").failed
    failed.mkdir(parents=True)
    (failed / "a.edi").write_bytes(b"old")
    (failed / "a (2).edi.error.json").write_text("{}")  # a user's stray sidecar
    archive.move_to_failed(ctx, rejecting(ctx, claimed(ctx)), stage="submit")
    assert sorted(os.listdir(failed)) == [
        "a (2).edi.error.json",
        "a (3).edi",
        "a (3).edi.error.json",
        "a.edi",
    ]
    assert (failed / "a.edi").read_bytes() == b"old"
    assert (failed / "a (2).edi.error.json").read_text() == "{}"


def test_archive_resumes_a_move_whose_target_was_recorded_but_not_made(ctx: Context) -> None:
    sub = submitted(ctx, claimed(ctx))
    sent = ctx.dirs("ST", "ACME").sent
    with ctx.ledger.transaction() as s:
        lo.set_target(s, sub.files[0].id, ctx.clock(), sent=sent / "a.edi")
        sub = lo.get(s, sub.id)
    sent.mkdir(parents=True)
    (sent / "a.edi").write_bytes(b"someone else's a.edi")  # took the name meanwhile
    done = archive.archive_sent(ctx, sub)
    assert (sent / "a.edi").read_bytes() == b"someone else's a.edi"
    assert (sent / "a (2).edi").read_bytes() == b"ISA*1"
    assert done.state == SubmissionState.ARCHIVED
    assert done.files[0].archive_path == sent / "a (2).edi"


def test_archive_after_a_crash_between_link_and_unlink_only_unlinks(ctx: Context) -> None:
    sub = submitted(ctx, claimed(ctx))
    f = sub.files[0]
    sent = ctx.dirs("ST", "ACME").sent
    sent.mkdir(parents=True)
    with ctx.ledger.transaction() as s:
        lo.set_target(s, f.id, ctx.clock(), sent=sent / "a.edi")
        sub = lo.get(s, sub.id)
    os.link(f.processing_path, sent / "a.edi")
    archive.archive_sent(ctx, sub)
    assert os.listdir(sent) == ["a.edi"]
    assert not f.processing_path.exists()


def test_a_claimed_copy_removed_by_hand_is_recorded_as_lost(ctx: Context) -> None:
    sub = submitted(ctx, claimed(ctx))
    sub.files[0].processing_path.unlink()
    done = archive.archive_sent(ctx, sub)
    assert done.state == SubmissionState.ARCHIVED
    assert done.files[0].state == FileState.ABANDONED


def test_delivery_failure_moves_the_archived_copy_from_sent_to_failed(ctx: Context) -> None:
    sub = archive.archive_sent(ctx, submitted(ctx, claimed(ctx)))
    with ctx.ledger.transaction() as s:
        lo.mark_delivery_failing(s, sub.id, ctx.clock(), "the gateway could not deliver")
        sub = lo.get(s, sub.id)
    done = archive.move_to_failed(ctx, sub, stage="delivery")
    dirs = ctx.dirs("ST", "ACME")
    assert os.listdir(dirs.sent) == []
    assert sorted(os.listdir(dirs.failed)) == ["a.edi", "a.edi.error.json"]
    doc = json.loads((dirs.failed / "a.edi.error.json").read_text())
    assert (doc["reason"], doc["message_id"]) == ("the gateway could not deliver", "<m@gw>")
    assert done.state == SubmissionState.DELIVERY_FAILED


def test_storage_error_names_the_folder_and_keeps_the_file(ctx: Context) -> None:
    sub = submitted(ctx, claimed(ctx))
    sent = ctx.dirs("ST", "ACME").sent
    sent.write_bytes(b"a file where the folder should be")
    with pytest.raises(StorageError, match="sent"):
        archive.archive_sent(ctx, sub)
    assert sub.files[0].processing_path.read_bytes() == b"ISA*1"
    with ctx.ledger.read() as s:
        assert lo.get(s, sub.id).state == SubmissionState.SUBMITTED
