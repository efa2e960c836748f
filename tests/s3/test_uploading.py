"""One upload to a real S3 protocol server (moto), and what each failure means."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from as2sync.backends import base
from as2sync.backends.mftgateway_s3.client import S3Clients, make_clients
from as2sync.backends.mftgateway_s3.uploading import put
from as2sync.errors import (
    AuthError,
    ContentChanged,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from tests.s3.conftest import settings_for

KEY = "AS2/send/MYSTATION/ACME/orders.edi"


def _claimed(path: Path, body: bytes) -> base.OutboundFile:
    path.write_bytes(body)
    return base.OutboundFile(
        path, path.name, "application/edi", len(body), hashlib.sha256(body).hexdigest()
    )


def _keys(s3: S3Clients) -> list[str]:
    listed = s3.reads.list_objects_v2(Bucket=s3.bucket, Prefix="AS2/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_the_recorded_bytes_are_uploaded_once(s3: S3Clients, tmp_path: Path) -> None:
    body = b"UNB+UNOC:3+X+Y'\n" * 1000
    etag = put(s3, KEY, _claimed(tmp_path / "orders.edi", body))
    assert etag == hashlib.md5(body, usedforsecurity=False).hexdigest()
    got = s3.reads.get_object(Bucket=s3.bucket, Key=KEY)
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/edi"


@pytest.mark.parametrize("after_claim", [b"short", b"UNB+UNOC:3+X+Z'\n" * 1000])
def test_a_file_changed_after_its_claim_never_becomes_an_object(
    s3: S3Clients, tmp_path: Path, after_claim: bytes
) -> None:
    item = _claimed(tmp_path / "orders.edi", b"UNB+UNOC:3+X+Y'\n" * 1000)
    (tmp_path / "orders.edi").write_bytes(after_claim)  # same size or not: other bytes
    with pytest.raises(ContentChanged):
        put(s3, KEY, item)
    assert _keys(s3) == []


def test_a_missing_bucket_is_refused(s3: S3Clients, tmp_path: Path) -> None:
    gone = S3Clients("mftg-no-such-bucket", s3.reads, s3.writes, s3.transfer)
    with pytest.raises(PermanentError):
        put(gone, KEY, _claimed(tmp_path / "orders.edi", b"x"))


def test_no_connection_is_transient(tmp_path: Path) -> None:
    with socket_that_refuses() as endpoint:
        clients = make_clients(settings_for(endpoint, "mftg-t"))
        with pytest.raises(TransientError):
            put(clients, KEY, _claimed(tmp_path / "orders.edi", b"x"))


class _Answering(http.server.BaseHTTPRequestHandler):
    """Reads the request and answers with one S3 error; counts the requests."""

    protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" at once
    answer: ClassVar[tuple[int, str]] = (500, "InternalError")
    requests: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.requests.append(self.path)
        status, code = self.answer
        body = f"<Error><Code>{code}</Code><Message>m</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    _Answering.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((500, "InternalError"), UnknownOutcome),  # may have been stored
        ((502, "BadGateway"), UnknownOutcome),
        ((503, "SlowDown"), TransientError),  # refused before storing
        ((400, "RequestTimeout"), TransientError),
        ((403, "InvalidAccessKeyId"), AuthError),
        ((403, "SignatureDoesNotMatch"), AuthError),
        ((400, "InvalidArgument"), PermanentError),
    ],
)
def test_what_a_failure_means_and_it_is_never_repeated(
    answering: str, tmp_path: Path, answer: tuple[int, str], error: type[Exception]
) -> None:
    _Answering.answer = answer
    clients = make_clients(settings_for(answering, "mftg-t"))
    with pytest.raises(error) as raised:
        put(clients, KEY, _claimed(tmp_path / "orders.edi", b"x"))
    assert type(raised.value) is error or issubclass(type(raised.value), error)
    assert len(_Answering.requests) == 1


@contextlib.contextmanager
def socket_that_refuses() -> Iterator[str]:
    """An endpoint on loopback where nothing listens (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"
