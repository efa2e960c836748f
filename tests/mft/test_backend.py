"""The MFT backend as the daemon will drive it (base.Backend), end to end on the emulator: a
file submitted to a loopback partner is tracked to delivered, comes back as a received
message, is listed once, downloaded byte-identical and acknowledged."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from as2sync.backends.base import Delivery, OutboundFile, OutboundMessage, SentRef, Wanted
from as2sync.backends.mftgateway.backend import make_backend
from as2sync.backends.mftgateway.online import describe
from as2sync.backends.mftgateway.settings import MftGatewaySettings
from as2sync.emulator.mft.settings import CertificateSpec
from as2sync.errors import AuthError
from tests.contract.sink import DirSink
from tests.mft.conftest import PASSWORD, USER, MakeMft

GO = threading.Event()


def test_round_trip_through_an_echo_partner(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(delivery_delay=0.0, echo_delay=0.0)
    settings = MftGatewaySettings(api="mftgateway", url=emu.base_url, username=USER)
    backend = make_backend(settings, PASSWORD)
    data = b"ISA*00*round trip~"
    path = tmp_path / "po.edi"
    path.write_bytes(data)
    item = OutboundFile(
        path, "po.edi", "application/edi-x12", len(data), hashlib.sha256(data).hexdigest()
    )
    try:
        assert backend.claim_remote("MYSTATION", "LOOP") == {}
        receipt = backend.submit(OutboundMessage("MYSTATION", "LOOP", [item], subject="RT"))
        assert receipt.remote_id
        ref = SentRef(1, receipt.remote_id, time.time(), None, None)
        assert backend.track("MYSTATION", "LOOP", [ref])[1].delivery is Delivery.DELIVERED
        (page,) = list(backend.pending(GO))
        (pending,) = page
        assert (pending.station, pending.partner) == ("MYSTATION", "LOOP")
        assert [(a.name, a.size) for a in pending.attachments] == [("po.edi", len(data))]
        sink = DirSink(tmp_path / "sink")
        wanted = Wanted(
            7,
            pending.remote_id,
            pending.station,
            pending.partner,
            pending.persisted_ms,
            pending.attachments,
        )
        backend.download([wanted], sink, GO)
        assert sink.stored(7) == {0: data}
        assert backend.acknowledge([pending.remote_id]) == set()
        assert list(backend.pending(GO)) == []
        forgotten: list[str] = []
        backend.forget([pending.remote_id], forgotten.extend)
        assert forgotten == [pending.remote_id]
    finally:
        backend.close()
    assert emu.state.duplicate_submissions() == 0


def test_check_online_logs_in_and_reports_expired_certificates(make_mft: MakeMft) -> None:
    emu = make_mft()
    now = time.time()
    emu.switches.update(
        certificates=[
            CertificateSpec("old", "TRUST", int((now - 86400) * 1000), "ACME", ("ACME",)),
            CertificateSpec("fine", "IDENTITY", int((now + 86400) * 1000), "ME", ("MYSTATION",)),
        ]
    )
    settings = MftGatewaySettings(api="mftgateway", url=emu.base_url, username=USER)
    backend = make_backend(settings, PASSWORD)
    try:
        (problem,) = backend.online_problems([])
        assert problem.startswith("certificate old (TRUST, ACME; used by ACME) expired on ")
        assert backend.sendable_problems("MYSTATION", "ANYONE") == []
        assert backend.requests_in_use() >= 0
        backend.wake()
    finally:
        backend.close()
    wrong = make_backend(settings, "not the password")
    try:
        with pytest.raises(AuthError):
            wrong.online_problems([])
    finally:
        wrong.close()
    assert "no list of stations or partners" in describe(emu.base_url, USER)
