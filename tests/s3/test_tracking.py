"""What became of an upload, read from a real S3 protocol server (moto)."""

from __future__ import annotations

import hashlib

import pytest

from as2sync.backends.base import Delivery
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.finding import Upload
from as2sync.backends.mftgateway_s3.tracking import NOT_PICKED_UP, track_one

BODY = b"ORDERS\n"
UPLOAD = Upload(
    "MYSTATION",
    "ACME",
    "orders.edi",
    len(BODY),
    hashlib.md5(BODY, usedforsecurity=False).hexdigest(),
    hashlib.sha256(BODY).hexdigest(),
)


def _track(s3: S3Clients, now: float = 100.0) -> tuple[Delivery, str | None]:
    got = track_one(s3, UPLOAD, uploaded_at=0.0, now=now, pickup_warn=900.0)
    return got.delivery, got.reason


@pytest.mark.parametrize(
    ("key", "delivery"),
    [
        ("AS2/files/MYSTATION/ACME/outbox/orders.edi", Delivery.DELIVERED),
        ("AS2/duplicate/MYSTATION/ACME/orders.edi", Delivery.FAILED),
        ("AS2/send/MYSTATION/ACME/orders.edi", Delivery.PENDING),
    ],
)
def test_where_the_key_is_says_what_became_of_it(
    s3: S3Clients, key: str, delivery: Delivery
) -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key=key, Body=BODY)
    got, reason = _track(s3)
    assert got is delivery
    assert (reason is not None) == (delivery is Delivery.FAILED)


def test_an_upload_not_picked_up_is_reported_and_never_sent(s3: S3Clients) -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key="AS2/send/MYSTATION/ACME/orders.edi", Body=BODY)
    assert _track(s3, now=899.0) == (Delivery.PENDING, None)
    delivery, reason = _track(s3, now=900.0)
    assert delivery is Delivery.PENDING and reason is not None and NOT_PICKED_UP in reason


def test_an_upload_found_nowhere_stays_pending_for_a_person(s3: S3Clients) -> None:
    delivery, reason = _track(s3)
    assert delivery is Delivery.PENDING and reason is not None
