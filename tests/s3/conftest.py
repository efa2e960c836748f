"""Fixtures of the MFT Gateway S3 tests: a real S3 protocol server (moto's server mode) on
loopback, started once per module, and a fresh bucket per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from as2sync.backends.mftgateway_s3.client import S3Clients, make_clients
from as2sync.backends.mftgateway_s3.settings import S3Settings

ACCESS_KEY = "AKIAEXAMPLEKEY000001"
SECRET_KEY = "s3cr3t-never-shown-anywhere-0123456789"

_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str) -> S3Settings:
    """Settings of a new, empty bucket on the module's server."""
    settings = S3Settings.model_validate(
        {
            "bucket": f"mftg-tenant-{next(_buckets)}",
            "endpoint_url": s3_endpoint,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "read_attempts": 2,
        }
    )
    make_clients(settings).writes.create_bucket(Bucket=settings.bucket)
    return settings


@pytest.fixture
def s3(s3_settings: S3Settings) -> S3Clients:
    return make_clients(s3_settings)
