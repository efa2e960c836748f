"""Locating sends of unknown outcome on the MFT emulator: by content, in every outbox box,
never an attributed ID, absent only after the grace."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from as2sync.backends.base import Content, Doubt, Found, OutboundFile
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.client import MftClient
from as2sync.backends.mftgateway.locating import locate
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.settings import PartnerSpec
from tests.mft.conftest import PASSWORD, USER, MakeMft


def client_for(emu: RunningMftEmulator) -> MftClient:
    return MftClient(
        emu.base_url,
        USER,
        PASSWORD,
        limiter=RateLimiter(1000, 1.0),
        retry=RetryPolicy(attempts=2, sleep=lambda s: None),
    )


def doubt(id: int, name: str, data: bytes, started_at: float) -> Doubt:
    return Doubt(id, started_at, (Content(name, len(data), hashlib.sha256(data).hexdigest()),))


def submit(client: MftClient, tmp_path: Path, partner: str, name: str, data: bytes) -> str:
    path = tmp_path / f"{time.monotonic_ns()}-{name}"
    path.write_bytes(data)
    return client.submit("MYSTATION", partner, [OutboundFile(path, name, "text/plain", len(data))])


def test_found_by_content_in_any_box_and_absent_after_the_grace(
    make_mft: MakeMft, tmp_path: Path
) -> None:
    emu = make_mft(
        delivery_delay=0.0,
        failed_attempts=1,
        partners=(PartnerSpec("ACME"), PartnerSpec("DOWN", behaviour="fail")),
    )
    start = time.time()
    with client_for(emu) as client:
        sent = submit(client, tmp_path, "ACME", "po.edi", b"AAAA")
        other = submit(client, tmp_path, "ACME", "po.edi", b"BBBB")
        failed = submit(client, tmp_path, "DOWN", "inv.edi", b"CCCC")
        rows = [
            doubt(1, "po.edi", b"AAAA", start),
            doubt(2, "po.edi", b"ZZZZ", start),  # same name and size, never sent
        ]
        got = locate(client, "MYSTATION", "ACME", rows, attributed=[other], now=start, grace=60)
        later = locate(
            client, "MYSTATION", "ACME", rows[1:], attributed=[sent], now=start + 61, grace=60
        )
        down = locate(
            client,
            "MYSTATION",
            "DOWN",
            [doubt(3, "inv.edi", b"CCCC", start)],
            attributed=[],
            now=start,
            grace=60,
        )
    assert (got[1].found, got[1].remote_id) == (Found.FOUND, sent)
    assert got[2].found is Found.WAIT
    assert later[2].found is Found.ABSENT
    assert (down[3].found, down[3].remote_id) == (Found.FOUND, failed)


def test_attributed_ids_are_never_read_or_matched(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(delivery_delay=0.0)
    start = time.time()
    with client_for(emu) as client:
        sent = submit(client, tmp_path, "ACME", "po.edi", b"AAAA")
        emu.state.clear_request_log()
        rows = [doubt(1, "po.edi", b"AAAA", start)]
        got = locate(client, "MYSTATION", "ACME", rows, attributed=[sent], now=start + 61, grace=60)
    assert got[1].found is Found.ABSENT
    assert not [e.path for e in emu.state.journal.exchanges() if sent in e.path]


def test_a_set_stop_decides_nothing(mft: RunningMftEmulator) -> None:
    stop = threading.Event()
    stop.set()
    with client_for(mft) as client:
        rows = [doubt(1, "po.edi", b"AAAA", time.time())]
        assert (
            locate(client, "MYSTATION", "ACME", rows, attributed=[], now=0, grace=0, stop=stop)
            == {}
        )
