"""Received messages as the bucket shows them: ``AS2/files/<station>/<partner>/inbox/
<timestamp-random>/<name>``, one folder per AS2 message (seed 004, section 3.2).

Each pair's ``inbox/`` is listed to its end (1,000 keys a request). The bucket keeps no read
flag, so what is new is what the ledger does not know (the caller filters by key and ETag).
The cost is bounded by ``since_ms``: the listing starts after the folder names older than it
(``StartAfter``), the folder's timestamp being the moment receipt *started*; a slow message
can therefore land with a key that sorts before keys already stored, which is why the caller
passes a horizon well before the newest key it has seen (the longest receipt it allows for),
never the last key itself, and lists from the start now and then.

A message is handed out only once every object of its folder is at least ``settle`` seconds
old: the gateway writes the attachments of a message one by one, and a message stored before
its last attachment arrived would be stored without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from as2sync.backends import base
from as2sync.backends.mftgateway_s3 import keys
from as2sync.backends.mftgateway_s3.client import S3Clients

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectTypeDef

PAGE_SIZE = 1000  # keys per list request: S3's most


@dataclass(frozen=True)
class Listed:
    """One pass over a pair's inbox: the settled messages, how many were left to settle, how
    many objects it cost (for the listing-cost warning), and whether it reached the end
    (``stop`` set: not; what it holds is still true, but it is not all)."""

    messages: list[base.Pending]
    unsettled: int
    objects: int
    complete: bool


def folder_ms(message: str) -> int | None:
    """The receipt timestamp a ``<timestamp-random>`` folder name starts with (epoch ms)."""
    digits = message.split("-", 1)[0]
    return int(digits) if digits.isdigit() else None


def list_inbox(
    clients: S3Clients,
    station: str,
    partner: str,
    *,
    now: float,
    settle: float,
    since_ms: int | None = None,
    stop: threading.Event | None = None,
) -> Listed:
    """The pair's received messages (see the module); ``remote_id`` is the message folder's
    key prefix, ``remote`` holds each attachment's key and ETag."""
    prefix = keys.inbox_prefix(station, partner)
    folders: dict[str, list[ObjectTypeDef]] = {}
    count = 0
    complete = True
    for entry in _entries(clients, prefix, since_ms, stop):
        if entry is None:
            complete = False
            break
        count += 1
        parsed = keys.parse_inbox_key(entry["Key"])
        if parsed is None:
            continue  # a folder marker or a key the seed does not describe
        folders.setdefault(parsed.message, []).append(entry)
    messages: list[base.Pending] = []
    unsettled = 0
    for message, entries in folders.items():
        newest = max(e["LastModified"].timestamp() for e in entries)
        if now - newest < settle:
            unsettled += 1
            continue
        ms = folder_ms(message)
        messages.append(
            base.Pending(
                remote_id=f"{prefix}{message}/",
                station=station,
                partner=partner,
                persisted_ms=ms if ms is not None else int(newest * 1000),
                attachments=tuple(
                    base.Attachment(keys.name_of(e["Key"]), e["Size"]) for e in entries
                ),
                remote={
                    "keys": [e["Key"] for e in entries],
                    "etags": [e["ETag"].strip('"') for e in entries],
                },
            )
        )
    return Listed(messages, unsettled, count, complete)


def _entries(
    clients: S3Clients, prefix: str, since_ms: int | None, stop: threading.Event | None
) -> Iterator[ObjectTypeDef | None]:
    """The objects listed, then None if ``stop`` ended the listing early."""
    paginator = clients.reads.get_paginator("list_objects_v2")
    extra = {"StartAfter": f"{prefix}{since_ms:013d}"} if since_ms is not None else {}
    pages = paginator.paginate(
        Bucket=clients.bucket,
        Prefix=prefix,
        PaginationConfig={"PageSize": PAGE_SIZE},
        **extra,  # type: ignore[arg-type]
    )
    for page in pages:
        if stop is not None and stop.is_set():
            yield None
            return
        yield from page.get("Contents", [])
