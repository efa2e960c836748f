"""Fixtures of the MFT Gateway S3 tests: a real S3 protocol server (moto's server mode) on
loopback, started once per module, and a fresh bucket per test."""

from __future__ import annotations

import dataclasses
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


def settings_for(endpoint: str, bucket: str) -> S3Settings:
    return S3Settings.model_validate(
        {
            "bucket": bucket,
            "endpoint_url": endpoint,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "read_attempts": 2,
        }
    )


@pytest.fixture(scope="module")
def _module_clients(s3_endpoint: str) -> S3Clients:
    # Made once per module: building boto3 clients loads the service model (slow).
    return make_clients(settings_for(s3_endpoint, "mftg-unused"))


@pytest.fixture
def s3_settings(s3_endpoint: str, _module_clients: S3Clients) -> S3Settings:
    """Settings of a new, empty bucket on the module's server."""
    settings = settings_for(s3_endpoint, f"mftg-tenant-{next(_buckets)}")
    _module_clients.writes.create_bucket(Bucket=settings.bucket)
    return settings


@pytest.fixture
def s3(s3_settings: S3Settings, _module_clients: S3Clients) -> S3Clients:
    """The module's clients, on the test's bucket."""
    return dataclasses.replace(_module_clients, bucket=s3_settings.bucket)
