"""Where one upload is now, by its key (issue 14: an upload whose answer was lost is looked up
before anything is uploaded again).

The gateway takes an object from ``AS2/send/<station>/<partner>/<name>`` and either processes
it into ``AS2/files/<station>/<partner>/outbox/…`` or, when the name was uploaded within six
hours, moves it to ``AS2/duplicate/<station>/<partner>/…``. The seed does not say what follows
those prefixes; an object there is ours when its last key segment is the upload's name *and*
its content is ours: the ETag where it is an MD5 (a single-part upload or a copy of one), else
the SHA-256 of its bytes (downloaded, kept nowhere). A same-name object with other bytes (an
earlier upload of ``orders.edi``) is never taken for this one.

The places are read ``outbox/``, ``duplicate/``, then ``send/``: an object the gateway moves
while this runs (copied out, then deleted from ``send/``) is seen in at least one of them. Not
seen anywhere is :attr:`Place.NOWHERE`; the caller decides whether that is proof (the upload's
request has ended and the gateway had time to move it: a PutObject is atomic and never
appears later).
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from as2sync.backends.mftgateway_s3 import keys
from as2sync.backends.mftgateway_s3.client import S3Clients

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectTypeDef

READ_CHUNK = 1024 * 1024
PAGE_SIZE = 1000  # keys per list request: S3's most


class Place(enum.Enum):
    SEND = "send"  # uploaded, not yet picked up by the gateway
    OUTBOX = "outbox"  # processed: the gateway sent (or is sending) it
    DUPLICATE = "duplicate"  # refused as a same-name upload within six hours: not sent
    NOWHERE = "nowhere"


@dataclass(frozen=True)
class Upload:
    """What was uploaded: the name in ``send/`` and the bytes (MD5 = a single-part ETag; None
    when it was not learned, e.g. the answer of the upload was lost: then the bytes are
    compared by SHA-256)."""

    station: str
    partner: str
    name: str
    size: int
    md5: str | None
    sha256: str


@dataclass(frozen=True)
class Where:
    place: Place
    key: str | None = None


class Stopped(Exception):
    """``stop`` was set between two requests: nothing was decided."""


def find(
    clients: S3Clients,
    upload: Upload,
    stop: threading.Event | None = None,
    *,
    skip: Collection[str] = frozenset(),
) -> Where:
    """Where ``upload`` is now (see the module); objects in ``skip`` (keys another row
    already owns) are never it. Raises ``botocore`` errors as they come."""
    for place, prefix in (
        (Place.OUTBOX, keys.outbox_prefix(upload.station, upload.partner)),
        (Place.DUPLICATE, keys.duplicate_prefix(upload.station, upload.partner)),
    ):
        for entry in _listed(clients, prefix, stop):
            if entry["Key"] in skip or keys.name_of(entry["Key"]) != upload.name:
                continue
            if _is_ours(clients, entry, upload):
                return Where(place, entry["Key"])
    if stop is not None and stop.is_set():
        raise Stopped
    key = keys.send_key(upload.station, upload.partner, upload.name)
    try:
        head = clients.reads.head_object(Bucket=clients.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return Where(Place.NOWHERE)
        raise
    entry_like: ObjectTypeDef = {"Key": key, "Size": head["ContentLength"], "ETag": head["ETag"]}
    if _is_ours(clients, entry_like, upload):
        return Where(Place.SEND, key)
    # Another upload of the same name waits in send/: ours is not there (nor, by the order of
    # the reads, anywhere else).
    return Where(Place.NOWHERE)


def _listed(
    clients: S3Clients, prefix: str, stop: threading.Event | None
) -> Iterator[ObjectTypeDef]:
    paginator = clients.reads.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=clients.bucket, Prefix=prefix, PaginationConfig={"PageSize": PAGE_SIZE}
    ):
        if stop is not None and stop.is_set():
            raise Stopped
        yield from page.get("Contents", [])


def _is_ours(clients: S3Clients, entry: ObjectTypeDef, upload: Upload) -> bool:
    if entry.get("Size") != upload.size:
        return False
    etag = entry.get("ETag", "").strip('"')
    if etag and "-" not in etag and upload.md5 is not None:
        return etag == upload.md5  # an MD5: a single-part upload or a copy of one
    # A multipart ETag says nothing about the bytes (nor does one without our MD5): compare.
    body = clients.reads.get_object(Bucket=clients.bucket, Key=entry["Key"])["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(READ_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest() == upload.sha256
