"""The outbound engine (real ledger, real folders) driving the S3 backend against a moto server
with the gateway simulator behind it: each file uploaded once and sent once; an upload whose
answer is lost is looked up, never uploaded again when it arrived and uploaded once more when
it did not; a name reused within six hours is uploaded under a stamped name (suffix) or held
(hold), never swallowed as a gateway duplicate."""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from as2sync.backends.base import UPLOAD_NAME
from as2sync.backends.mftgateway_s3.backend import S3Backend
from as2sync.backends.mftgateway_s3.client import S3Clients, make_clients
from as2sync.backends.mftgateway_s3.names import SameName
from as2sync.ledger.outbound import SubmissionState
from as2sync.outbound.engine import OutboundEngine
from tests.integration.outbound_support import Rig
from tests.s3.conftest import settings_for
from tests.s3.gateway_sim import GatewaySim

EDI = b"UNB+UNOC:3+SENDER+RECEIVER'\n"


class _Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards requests to S3; the answers of the first ``lose`` PUTs are lost (the PUT
    forwarded first when ``forward``)."""

    protocol_version = "HTTP/1.1"
    upstream: ClassVar[str] = ""
    lose: ClassVar[int] = 0
    forward: ClassVar[bool] = True
    puts: ClassVar[list[str]] = []

    def _relay(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        losing = method == "PUT" and len(self.puts) < self.lose
        if method == "PUT":
            self.puts.append(self.path)
        if losing and not self.forward:
            self.close_connection = True
            return
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
        conn.request(method, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        conn.close()
        if losing:
            self.close_connection = True
            return
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self._relay("PUT")

    def do_POST(self) -> None:
        self._relay("POST")

    def do_DELETE(self) -> None:
        self._relay("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        pass


class S3Rig(Rig):
    """The outbound rig with the S3 backend (its uploads through ``writes``) in place of v1."""

    s3: S3Clients
    sim: GatewaySim
    same_name: SameName = SameName.SUFFIX

    def _engine(self) -> OutboundEngine:
        self.backend = S3Backend(self.s3, same_name=self.same_name, clock=self.clock)
        return OutboundEngine(self.config, self.ledger, self.backend, clock=self.clock)

    def uploaded_names(self) -> list[str]:
        return sorted(str(r.remote.get(UPLOAD_NAME)) for r in self.rows())


MakeRig = Callable[..., S3Rig]


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[str]:
    _Proxy.upstream = s3_endpoint
    _Proxy.puts = []
    _Proxy.lose = 0
    _Proxy.forward = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_rig(tmp_path: Path, s3: S3Clients, proxy: str) -> Iterator[MakeRig]:
    rigs: list[S3Rig] = []
    writes = make_clients(settings_for(proxy, s3.bucket)).writes
    clients = dataclasses.replace(s3, writes=writes)

    def make(same_name: SameName = SameName.SUFFIX) -> S3Rig:
        S3Rig.s3 = clients
        S3Rig.same_name = same_name
        emu = SimpleNamespace(base_url="http://127.0.0.1:9")  # v1 config only: never asked
        rig = S3Rig(tmp_path, emu)  # type: ignore[arg-type]
        rig.sim = GatewaySim(s3, rig.clock)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def _until(rig: S3Rig, predicate: Callable[[], bool]) -> None:
    def processed() -> bool:
        rig.sim.process()
        return predicate()

    rig.run_until(processed)


def test_files_are_uploaded_once_each_and_sent(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.start()
    for i in range(4):
        rig.drop(f"po-{i}.edi", EDI + bytes([48 + i]))
    _until(rig, lambda: rig.states() == ["delivered"] * 4)
    assert sorted(n for _, _, n, _ in rig.sim.sent) == [f"po-{i}.edi" for i in range(4)]
    assert len(_Proxy.puts) == 4
    assert rig.sim.duplicates == []
    sent = sorted(p.name for p in rig.dirs().sent.rglob("po-*.edi"))
    assert sent == [f"po-{i}.edi" for i in range(4)]


def test_a_name_reused_within_six_hours_is_uploaded_under_a_stamped_name(
    make_rig: MakeRig,
) -> None:
    rig = make_rig()
    rig.start()
    rig.drop("orders.edi", EDI + b"1")
    _until(rig, lambda: rig.states() == ["delivered"])
    rig.offset += 3600  # an hour later, the next export under the same name
    rig.drop("orders.edi", EDI + b"2")
    _until(rig, lambda: rig.states() == ["delivered"] * 2)
    assert rig.sim.duplicates == []
    sent = [(n, d) for _, _, n, d in rig.sim.sent]
    assert sent[0] == ("orders.edi", EDI + b"1")
    assert sent[1][0].startswith("orders_") and sent[1][0].endswith(".edi")
    assert sent[1][1] == EDI + b"2"


def test_under_hold_a_reused_name_waits_until_the_window_has_passed(make_rig: MakeRig) -> None:
    rig = make_rig(SameName.HOLD)
    rig.start()
    rig.drop("orders.edi", EDI + b"1")
    _until(rig, lambda: rig.states() == ["delivered"])
    rig.offset += 3600
    rig.drop("orders.edi", EDI + b"2")
    _until(rig, lambda: any(r.state == SubmissionState.CLAIMED and r.error for r in rig.rows()))
    rig.run_for(0.5)
    held = [r for r in rig.rows() if r.state == SubmissionState.CLAIMED]
    assert len(held) == 1 and "held until" in (held[0].error or "")
    assert len(_Proxy.puts) == 1  # nothing uploaded while held
    rig.offset += 5 * 3600 + 6 * 60  # past six hours and the clock-skew margin
    _until(rig, lambda: rig.states() == ["delivered"] * 2)
    assert [n for _, _, n, _ in rig.sim.sent] == ["orders.edi", "orders.edi"]
    assert rig.sim.duplicates == []


@pytest.mark.parametrize("forward", [True, False])
def test_an_upload_whose_answer_is_lost_is_looked_up_before_another(
    make_rig: MakeRig, forward: bool
) -> None:
    _Proxy.lose, _Proxy.forward = 1, forward
    rig = make_rig()
    rig.start()
    rig.drop("invoice.edi", EDI)
    _until(rig, lambda: rig.states() == ["delivered"])
    assert [n for _, _, n, _ in rig.sim.sent] == ["invoice.edi"]
    # Stored: never uploaded again. Not stored: uploaded once more, under the same name.
    assert len(_Proxy.puts) == (1 if forward else 2)
    assert set(_Proxy.puts) == {f"/{rig.s3.bucket}/AS2/send/MYSTATION/ACME/invoice.edi"}
    assert rig.sim.duplicates == []
