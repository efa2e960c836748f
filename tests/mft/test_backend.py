"""The MFT backend as the daemon will drive it (base.Backend), end to end on the emulator: a
file submitted to a loopback partner is tracked to delivered, comes back as a received
message, is listed once, downloaded byte-identical and acknowledged."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from as2sync.backends.base import Delivery, OutboundFile, OutboundMessage, SentRef, Wanted
from as2sync.backends.mftgateway.backend import make_backend
from as2sync.backends.mftgateway.settings import MftGatewaySettings
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
