"""An upload looked up by its key in a real S3 protocol server (moto)."""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import pytest

from as2sync.backends.mftgateway_s3 import finding, keys
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.finding import Place, Stopped, Upload, Where, find

BODY = b"ORDERS 0001\n" * 100


def _upload(body: bytes = BODY, name: str = "orders.edi") -> Upload:
    return Upload(
        "MYSTATION",
        "ACME",
        name,
        len(body),
        hashlib.md5(body, usedforsecurity=False).hexdigest(),
        hashlib.sha256(body).hexdigest(),
    )


def _put(s3: S3Clients, key: str, body: bytes = BODY) -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key=key, Body=body)


def test_nothing_uploaded_is_nowhere(s3: S3Clients) -> None:
    assert find(s3, _upload()) == Where(Place.NOWHERE)


def test_still_in_send(s3: S3Clients) -> None:
    _put(s3, "AS2/send/MYSTATION/ACME/orders.edi")
    assert find(s3, _upload()) == Where(Place.SEND, "AS2/send/MYSTATION/ACME/orders.edi")


@pytest.mark.parametrize(
    ("key", "place"),
    [
        ("AS2/files/MYSTATION/ACME/outbox/orders.edi", Place.OUTBOX),
        ("AS2/files/MYSTATION/ACME/outbox/1733040000000-77/orders.edi", Place.OUTBOX),
        ("AS2/duplicate/MYSTATION/ACME/orders.edi", Place.DUPLICATE),
    ],
)
def test_processed_or_refused(s3: S3Clients, key: str, place: Place) -> None:
    _put(s3, key)
    assert find(s3, _upload()) == Where(place, key)


def test_the_same_name_with_other_bytes_is_not_ours(s3: S3Clients) -> None:
    # An earlier orders.edi was sent and another one waits in send/: neither is this upload.
    _put(s3, "AS2/files/MYSTATION/ACME/outbox/orders.edi", b"ORDERS 0000\n" * 100)
    _put(s3, "AS2/send/MYSTATION/ACME/orders.edi", b"ORDERS 0002\n" * 100)
    _put(s3, "AS2/files/MYSTATION/OTHER/outbox/orders.edi")  # another partner
    assert find(s3, _upload()) == Where(Place.NOWHERE)


def test_a_multipart_upload_is_compared_by_its_bytes(s3: S3Clients) -> None:
    key = "AS2/files/MYSTATION/ACME/outbox/big.bin"
    part = b"x" * (5 * 1024 * 1024)
    body = part + b"tail"
    created = s3.writes.create_multipart_upload(Bucket=s3.bucket, Key=key)
    etags = [
        s3.writes.upload_part(
            Bucket=s3.bucket, Key=key, UploadId=created["UploadId"], PartNumber=n, Body=chunk
        )["ETag"]
        for n, chunk in ((1, part), (2, b"tail"))
    ]
    s3.writes.complete_multipart_upload(
        Bucket=s3.bucket,
        Key=key,
        UploadId=created["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n + 1} for n, e in enumerate(etags)]},
    )
    assert "-" in s3.reads.head_object(Bucket=s3.bucket, Key=key)["ETag"]
    assert find(s3, _upload(body, "big.bin")) == Where(Place.OUTBOX, key)
    other = b"y" * len(body)
    assert find(s3, _upload(other, "big.bin")).place is Place.NOWHERE


def test_more_than_one_page_of_outbox_is_read(
    s3: S3Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 10 keys on the real server (1,000 in production: the same pagination).
    monkeypatch.setattr(finding, "PAGE_SIZE", 10)
    for n in range(25):
        _put(s3, f"{keys.outbox_prefix('MYSTATION', 'ACME')}{n:05d}/x.edi", b"x")
    _put(s3, "AS2/files/MYSTATION/ACME/outbox/99999/orders.edi")
    assert find(s3, _upload()).place is Place.OUTBOX


def test_a_set_stop_decides_nothing(s3: S3Clients) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        find(s3, _upload(), stop)


def test_without_the_md5_the_bytes_are_compared(s3: S3Clients) -> None:
    # The answer of the upload was lost: only the claim's SHA-256 is known.
    unknown_md5 = dataclasses.replace(_upload(), md5=None)
    _put(s3, "AS2/files/MYSTATION/ACME/outbox/orders.edi", b"ORDERS 0000\n" * 100)
    assert find(s3, unknown_md5) == Where(Place.NOWHERE)
    _put(s3, "AS2/duplicate/MYSTATION/ACME/orders.edi")
    assert find(s3, unknown_md5) == Where(
        Place.DUPLICATE, "AS2/duplicate/MYSTATION/ACME/orders.edi"
    )
