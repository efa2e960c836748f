"""Received objects downloaded from a real S3 protocol server (moto) into staging slots."""

from __future__ import annotations

import threading
from pathlib import Path

from as2sync.backends import base
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.downloading import download
from as2sync.backends.mftgateway_s3.listing import list_inbox
from tests.contract.sink import DirSink

INBOX = "AS2/files/MYSTATION/ACME/inbox/"
FAR = 4_000_000_000.0


def _wanted(pending: base.Pending, key: int = 1) -> base.Wanted:
    return base.Wanted(
        key,
        pending.remote_id,
        pending.station,
        pending.partner,
        pending.persisted_ms,
        pending.attachments,
        remote=pending.remote,
    )


def _listed(s3: S3Clients) -> base.Pending:
    [pending] = list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=0).messages
    return pending


def test_every_attachment_is_stored_byte_identical(s3: S3Clients, tmp_path: Path) -> None:
    bodies = {"inv.xml": b"<inv/>" * 1000, "inv.pdf": b"%PDF-1.7" * 3000}
    for name, body in bodies.items():
        s3.writes.put_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-1/{name}", Body=body)
    pending = _listed(s3)
    sink = DirSink(tmp_path)
    download(s3, [_wanted(pending)], sink, threading.Event())
    assert sink.outcomes[1] == ["store"]
    stored = sink.stored(1)
    assert {pending.attachments[i].name: stored[i] for i in stored} == bodies
    # Nothing in the bucket changed: no read flag.
    listed = s3.reads.list_objects_v2(Bucket=s3.bucket, Prefix="AS2/")
    assert len(listed["Contents"]) == 2


def test_an_object_replaced_after_the_listing_is_refused(s3: S3Clients, tmp_path: Path) -> None:
    key = f"{INBOX}1733040000000-1/inv.xml"
    s3.writes.put_object(Bucket=s3.bucket, Key=key, Body=b"first")
    pending = _listed(s3)
    s3.writes.put_object(Bucket=s3.bucket, Key=key, Body=b"other")  # same size, other bytes
    sink = DirSink(tmp_path)
    download(s3, [_wanted(pending)], sink, threading.Event())
    assert sink.outcomes[1] == ["refused"] and sink.stored(1) == {}


def test_an_object_gone_is_refused_and_the_rest_go_on(s3: S3Clients, tmp_path: Path) -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-1/a.edi", Body=b"a")
    s3.writes.put_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000001-2/b.edi", Body=b"b")
    first, second = sorted(
        list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=0).messages,
        key=lambda p: p.remote_id,
    )
    s3.writes.delete_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-1/a.edi")
    sink = DirSink(tmp_path)
    download(s3, [_wanted(first, 1), _wanted(second, 2)], sink, threading.Event())
    assert sink.outcomes == {1: ["refused"], 2: ["store"]}
    assert sink.stored(2) == {0: b"b"}


def test_a_full_disk_is_a_storage_failure(s3: S3Clients, tmp_path: Path) -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-1/a.edi", Body=b"a")
    sink = DirSink(tmp_path)
    sink.break_storage(1)
    download(s3, [_wanted(_listed(s3))], sink, threading.Event())
    assert sink.outcomes[1] == ["storage_failed"]


def test_attachments_already_stored_are_not_written_again(s3: S3Clients, tmp_path: Path) -> None:
    for name in ("a.edi", "b.edi"):
        s3.writes.put_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-1/{name}", Body=b"x")
    pending = _listed(s3)
    sink = DirSink(tmp_path)
    wanted = base.Wanted(
        1,
        pending.remote_id,
        "MYSTATION",
        "ACME",
        0,
        pending.attachments,
        frozenset({0}),
        remote=pending.remote,
    )
    download(s3, [wanted], sink, threading.Event())
    assert sink.written == [(1, 1)] and sink.outcomes[1] == ["store"]
