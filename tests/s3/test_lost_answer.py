"""An upload whose answer is lost, through a loopback proxy in front of a real S3 protocol
server (moto): whether or not the object was stored, the upload raises UnknownOutcome, and the
lookup by key tells the two apart (found: never uploaded again; nowhere: upload again)."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from as2sync.backends import base
from as2sync.backends.mftgateway_s3.client import S3Clients, make_clients
from as2sync.backends.mftgateway_s3.finding import Place, Upload, Where, find
from as2sync.backends.mftgateway_s3.uploading import put
from as2sync.errors import UnknownOutcome
from tests.s3.conftest import settings_for

KEY = "AS2/send/MYSTATION/ACME/orders.edi"
BODY = b"UNB+UNOC:3+X+Y'\n" * 100


class _LosingProxy(http.server.BaseHTTPRequestHandler):
    """Reads a PUT, forwards it to S3 or not (``forward``), and closes without answering."""

    protocol_version = "HTTP/1.1"
    upstream: ClassVar[str] = ""
    forward: ClassVar[bool] = True
    seen: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.path)
        if self.forward:
            parts = urlsplit(self.upstream)
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
            conn.request("PUT", self.path, body=body, headers=headers)
            assert conn.getresponse().status == 200
            conn.close()
        self.close_connection = True  # the answer is lost

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[str]:
    _LosingProxy.upstream = s3_endpoint
    _LosingProxy.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LosingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _claimed(tmp_path: Path) -> base.OutboundFile:
    path = tmp_path / "orders.edi"
    path.write_bytes(BODY)
    return base.OutboundFile(
        path, path.name, "application/edi", len(BODY), hashlib.sha256(BODY).hexdigest()
    )


def _upload() -> Upload:
    return Upload(
        "MYSTATION",
        "ACME",
        "orders.edi",
        len(BODY),
        hashlib.md5(BODY, usedforsecurity=False).hexdigest(),
        hashlib.sha256(BODY).hexdigest(),
    )


@pytest.mark.parametrize(
    ("stored", "where"), [(True, Where(Place.SEND, KEY)), (False, Where(Place.NOWHERE))]
)
def test_a_lost_answer_is_unknown_and_the_key_tells(
    s3: S3Clients, proxy: str, tmp_path: Path, stored: bool, where: Where
) -> None:
    _LosingProxy.forward = stored
    through_proxy = make_clients(settings_for(proxy, s3.bucket))
    with pytest.raises(UnknownOutcome):
        put(through_proxy, KEY, _claimed(tmp_path))
    assert len(_LosingProxy.seen) == 1  # never repeated by the SDK
    assert find(s3, _upload()) == where
