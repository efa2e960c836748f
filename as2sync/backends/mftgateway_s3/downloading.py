"""Received objects streamed into the engine's staging slots (issue 14): GetObject with
``IfMatch`` on the listed ETag (an object replaced since the listing is not taken for the one
listed), copied through :meth:`Staged.add_stream` (exactly the listed size) while its MD5 is
computed, and compared with the ETag where that is an MD5 (a single-part object). Nothing in
the bucket is changed: there is no read flag to set.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from as2sync.backends import base
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.errors import StorageError, TransientError

GONE = frozenset({"NoSuchKey", "404", "NotFound"})
CHANGED = frozenset({"PreconditionFailed", "412"})


class _Hashing:
    """A GetObject body read through an MD5 (the ETag of a single-part object)."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.md5 = hashlib.md5(usedforsecurity=False)

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._body.read(size)
        self.md5.update(data)
        return data


def download(
    clients: S3Clients, wanted: Sequence[base.Wanted], sink: base.Sink, stop: threading.Event
) -> None:
    """See :meth:`as2sync.backends.base.Receiver.download`."""
    for message in wanted:
        if stop.is_set():
            return
        slot = sink.stage(message.key)
        try:
            problem = _fill(clients, message, slot, stop)
        except (OSError, StorageError) as exc:
            sink.storage_failed([message.key], exc)
            continue
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(f"S3 could not serve {message.remote_id}: {exc}") from exc
        if problem is None:
            sink.store([slot], acknowledged=[False])
        elif problem == "stopped":
            return
        else:
            sink.refused([message.key], problem)


def _fill(
    clients: S3Clients, message: base.Wanted, slot: base.Staged, stop: threading.Event
) -> str | None:
    """None when every attachment not yet stored is in the slot; else why not."""
    object_keys: list[str] = list(message.remote.get("keys", []))
    etags: list[str] = list(message.remote.get("etags", []))
    if len(object_keys) != len(message.attachments) or len(etags) != len(object_keys):
        return "the ledger's record of this message's objects is incomplete"
    for index, attachment in enumerate(message.attachments):
        if index in message.done:
            continue
        if stop.is_set():
            return "stopped"
        try:
            got = clients.reads.get_object(
                Bucket=clients.bucket, Key=object_keys[index], IfMatch=f'"{etags[index]}"'
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in GONE:
                return f"{object_keys[index]} is no longer in the bucket"
            if code in CHANGED:
                return f"{object_keys[index]} was replaced after it was listed"
            raise
        body = _Hashing(got["Body"])
        try:
            slot.add_stream(index, body, attachment.size)
        except base.ContentRefused as exc:
            return str(exc)
        finally:
            got["Body"].close()
        etag = etags[index]
        if "-" not in etag and body.md5.hexdigest() != etag:
            return f"{object_keys[index]}: the bytes served are not the object listed (MD5)"
    return None
