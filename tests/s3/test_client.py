"""The boto3 clients against a real S3 protocol server (moto) and against a failing one: an
upload is attempted exactly once, a read is retried."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from botocore.exceptions import ClientError

from as2sync.backends.mftgateway_s3 import keys
from as2sync.backends.mftgateway_s3.client import S3Clients, make_clients
from as2sync.backends.mftgateway_s3.settings import S3Settings
from tests.s3.conftest import SECRET_KEY


def test_upload_list_and_download_through_the_clients(s3: S3Clients) -> None:
    key = keys.send_key("MYSTATION", "ACME", "orders.edi")
    body = b"UNA:+.? '\nUNB+UNOC:3'\n"
    s3.writes.upload_fileobj(io.BytesIO(body), s3.bucket, key, Config=s3.transfer)
    listed = s3.reads.list_objects_v2(
        Bucket=s3.bucket, Prefix=keys.send_prefix("MYSTATION", "ACME")
    )
    [entry] = listed["Contents"]
    assert entry["Key"] == "AS2/send/MYSTATION/ACME/orders.edi"
    # A single-part upload's ETag is the MD5 of its bytes: what an unknown outcome compares.
    assert entry["ETag"].strip('"') == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert s3.reads.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == body


def test_wrong_keys_are_refused_and_the_secret_is_not_in_the_error(
    s3_settings: S3Settings,
) -> None:
    # moto checks no signatures by default; what matters here is that boto3 errors and the
    # client's repr do not carry the secret.
    clients = make_clients(s3_settings)
    with pytest.raises(ClientError) as refused:
        clients.reads.head_object(Bucket=s3_settings.bucket, Key="AS2/none")
    assert SECRET_KEY not in str(refused.value)
    assert SECRET_KEY not in repr(clients)


class _Failing(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request with 500 InternalError, counting them."""

    counts: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with self.lock:
            self.counts[self.command] = self.counts.get(self.command, 0) + 1
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error.</Message></Error>"
        )
        self.send_response(500)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_endpoint() -> Iterator[tuple[str, dict[str, int]]]:
    _Failing.counts = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Failing.counts
    finally:
        server.shutdown()
        server.server_close()


def _settings_for(endpoint: str, read_attempts: int) -> S3Settings:
    return S3Settings.model_validate(
        {
            "bucket": "mftg-failing",
            "endpoint_url": endpoint,
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": SECRET_KEY,
            "read_attempts": read_attempts,
        }
    )


def test_an_upload_is_never_repeated_by_the_sdk_but_a_read_is(
    failing_endpoint: tuple[str, dict[str, int]],
) -> None:
    endpoint, counts = failing_endpoint
    clients = make_clients(_settings_for(endpoint, read_attempts=2))
    with pytest.raises(ClientError):
        clients.writes.put_object(Bucket="mftg-failing", Key="AS2/send/S/P/a.edi", Body=b"x")
    assert counts == {"PUT": 1}
    with pytest.raises(ClientError):
        clients.reads.list_objects_v2(Bucket="mftg-failing", Prefix="AS2/")
    assert counts == {"PUT": 1, "GET": 2}
