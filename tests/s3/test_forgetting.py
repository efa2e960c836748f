"""Received messages deleted from a real S3 protocol server (moto)."""

from __future__ import annotations

from collections.abc import Sequence

from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.forgetting import forget

INBOX = "AS2/files/MYSTATION/ACME/inbox/"


def test_only_the_recorded_objects_are_deleted_and_it_is_idempotent(s3: S3Clients) -> None:
    for key in ("1-1/a.edi", "1-1/b.edi", "1-1/late.edi", "2-2/c.edi"):
        s3.writes.put_object(Bucket=s3.bucket, Key=INBOX + key, Body=b"x")
    done: list[Sequence[str]] = []
    message = {f"{INBOX}1-1/": [f"{INBOX}1-1/a.edi", f"{INBOX}1-1/b.edi"]}
    forget(s3, message, done.append)
    forget(s3, message, done.append)  # already gone: still forgotten, no error
    assert done == [[f"{INBOX}1-1/"], [f"{INBOX}1-1/"]]
    left = s3.reads.list_objects_v2(Bucket=s3.bucket, Prefix=INBOX)["Contents"]
    assert sorted(o["Key"] for o in left) == [f"{INBOX}1-1/late.edi", f"{INBOX}2-2/c.edi"]
