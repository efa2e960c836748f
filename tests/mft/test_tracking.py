"""Tracking sent messages on the MFT emulator: sent -> delivered, failed -> failed with the
gateway's reason, incomplete -> uncertain (never resent), queued -> pending; a few list
requests per partnership, not one per message."""

from __future__ import annotations

from pathlib import Path

from as2sync.backends.base import Delivery, OutboundFile, SentRef
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.client import Box, MftClient
from as2sync.backends.mftgateway.parsing import MessageInfo
from as2sync.backends.mftgateway.tracking import INCOMPLETE_REASON, decide, track
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.mft.settings import MftSettings
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


def send(client: MftClient, tmp_path: Path, partner: str, n: int) -> SentRef:
    path = tmp_path / f"{partner}-{n}.txt"
    path.write_bytes(f"{partner} {n}".encode())
    item = OutboundFile(path, path.name, "text/plain", path.stat().st_size)
    remote_id = client.submit("MYSTATION", partner, [item])
    return SentRef(id=n, remote_id=remote_id, started_at=0.0, delivery_status=None, mdn_status=None)


def test_decisions() -> None:
    info = MessageInfo(
        "<a>", None, False, "ST", "PA", None, (), None, "Failed", "", "HTTP 503", None
    )
    assert decide(Box.FAILED, info).reason == "HTTP 503"
    assert decide(Box.FAILED, None).delivery is Delivery.FAILED
    assert decide(Box.INCOMPLETE, None).reason == INCOMPLETE_REASON
    assert decide(None, None).delivery is Delivery.PENDING


def test_each_box_gives_its_delivery(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(
        delivery_delay=0.0,
        failed_attempts=1,
        partners=(PartnerSpec("ACME"), PartnerSpec("DOWN", behaviour="fail"), PartnerSpec("SLOW")),
        mft=MftSettings(incomplete_partners=("SLOW",)),
    )
    with client_for(emu) as client:
        ok = [send(client, tmp_path, "ACME", n) for n in range(3)]
        down = send(client, tmp_path, "DOWN", 10)
        slow = send(client, tmp_path, "SLOW", 20)
        emu.state.clear_request_log()
        delivered = track(client, "MYSTATION", "ACME", ok)
        failed = track(client, "MYSTATION", "DOWN", [down])
        uncertain = track(client, "MYSTATION", "SLOW", [slow])
    assert {t.delivery for t in delivered.values()} == {Delivery.DELIVERED}
    assert delivered[0].mdn_status and delivered[0].delivery_status == "Sent"
    assert failed[10].delivery is Delivery.FAILED and "failed" in (failed[10].reason or "")
    assert uncertain[20].delivery is Delivery.UNCERTAIN
    assert uncertain[20].reason == INCOMPLETE_REASON
    boxes = {"/message/outbox", "/message/outbox/failed", "/message/outbox/incomplete"}
    # Requests as they arrived (the request log is written as each ends, possibly after the
    # client already has its answer).
    paths = [e.path for e in emu.state.journal.exchanges() if e.method == "GET"]
    assert len([p for p in paths if p in boxes]) == 9  # three lists per partnership
    assert len([p for p in paths if p not in boxes]) == 5  # one GET per final message


def test_queued_is_pending_and_unavailable_incomplete_list_is_empty(
    make_mft: MakeMft, tmp_path: Path
) -> None:
    emu = make_mft(delivery_delay=3600.0, mft=MftSettings(incomplete_list=False))
    with client_for(emu) as client:
        queued = send(client, tmp_path, "ACME", 1)
        result = track(client, "MYSTATION", "ACME", [queued])
    assert result[1].delivery is Delivery.PENDING


def test_a_message_a_full_page_pushed_out_is_looked_up_by_id(
    make_mft: MakeMft, tmp_path: Path
) -> None:
    emu = make_mft(delivery_delay=0.0)
    with client_for(emu) as client:
        oldest = send(client, tmp_path, "ACME", 0)
        for n in range(1, 101):
            send(client, tmp_path, "ACME", n)
        result = track(client, "MYSTATION", "ACME", [oldest])
    assert result[0].delivery is Delivery.DELIVERED
