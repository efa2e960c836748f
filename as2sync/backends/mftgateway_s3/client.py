"""The boto3 clients of one bucket, configured so that an upload is never repeated blindly.

botocore counts two ways: ``retries.max_attempts`` counts *retries* (``max_attempts: 1`` is
up to two requests), ``retries.total_max_attempts`` counts *attempts* including the first
and wins when both are given. Uploads (PutObject, the multipart calls, DeleteObject) go
through a client with ``total_max_attempts: 1``: a PutObject whose answer is lost may have
stored the object, and a second one would be a second send or a gateway "duplicate"; the
sender looks the key up instead (issue 14). Requests that change nothing (list, head, get)
go through a client that retries transient failures in botocore's ``standard`` mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from as2sync.backends.mftgateway_s3.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MULTIPART_THRESHOLD = 64 * 1024 * 1024
"""Files up to this size go as one PutObject (whose ETag is the MD5 of the bytes, which is
what an unknown outcome is compared by); larger ones as a multipart upload."""
MULTIPART_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class S3Clients:
    """One bucket's clients (boto3 clients are thread-safe; sessions are not, so they are
    made here, once)."""

    bucket: str
    reads: S3Client
    """Retried by botocore: only requests that change nothing."""
    writes: S3Client
    """Never retried by botocore: every request that changes the bucket."""
    transfer: TransferConfig
    """For :meth:`S3Client.upload_fileobj` on :attr:`writes` (multipart above the
    threshold; s3transfer itself never repeats an upload)."""


def _config(settings: S3Settings, attempts: int) -> Config:
    return Config(
        region_name=settings.region,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        # Checksums only where S3 requires them: S3-compatible endpoints (the emulator) do not
        # all take the newer trailing checksums, and a single-part upload's ETag stays its MD5.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="as2sync",
    )


def make_clients(settings: S3Settings) -> S3Clients:
    secret = settings.secret_access_key
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
        region_name=settings.region,
    )
    reads: S3Client = session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        config=_config(settings, settings.read_attempts),
    )
    writes: S3Client = session.client(
        "s3", endpoint_url=settings.endpoint_url, config=_config(settings, 1)
    )
    transfer = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNK,
        max_concurrency=4,
    )
    return S3Clients(settings.bucket, reads, writes, transfer)
