"""The station/partner pairs the bucket has folders for (``AS2/files/<station>/<partner>/``):
received messages are listed per pair, and a pair the gateway created (a new partner) must be
read without anyone configuring it."""

from __future__ import annotations

from as2sync.backends.mftgateway_s3 import keys
from as2sync.backends.mftgateway_s3.client import S3Clients


def _children(clients: S3Clients, prefix: str) -> list[str]:
    """The ``<name>/`` folders directly under ``prefix`` (all pages)."""
    paginator = clients.reads.get_paginator("list_objects_v2")
    found: list[str] = []
    for page in paginator.paginate(Bucket=clients.bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            name = common.get("Prefix", "")[len(prefix) :].rstrip("/")
            if name:
                found.append(name)
    return found


def discover(clients: S3Clients) -> list[tuple[str, str]]:
    """Every pair under ``AS2/files/``, sorted. Raises botocore errors as they come."""
    return sorted(
        (station, partner)
        for station in _children(clients, keys.FILES_PREFIX)
        for partner in _children(clients, f"{keys.FILES_PREFIX}{station}/")
    )
