"""The MFT client end to end against the MFT emulator: login and renewal, submits, lists
that shrink, downloads from signed URLs without Authorization, expired URLs renewed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from as2sync.backends.base import OutboundFile
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.client import Box, MftClient
from as2sync.backends.mftgateway.names import OLD_REQUEST_NAMES
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.mft.settings import CertificateSpec, MftSettings
from as2sync.emulator.settings import PartnerSpec
from as2sync.errors import PermanentError
from tests.mft.conftest import PASSWORD, USER, MakeMft, ManualClock


def client_for(emu: RunningMftEmulator, **kwargs: Any) -> MftClient:
    return MftClient(
        emu.base_url,
        USER,
        PASSWORD,
        limiter=RateLimiter(1000, 1.0),
        retry=RetryPolicy(attempts=3, sleep=lambda s: None),
        **kwargs,
    )


def outbound(tmp_path: Path, name: str, data: bytes) -> OutboundFile:
    path = tmp_path / name
    path.write_bytes(data)
    return OutboundFile(path, name, "text/plain", len(data))


def paths(emu: RunningMftEmulator) -> list[str]:
    return [e.path for e in emu.state.journal.exchanges()]


def assert_only_new_names(emu: RunningMftEmulator) -> None:
    for e in emu.state.journal.exchanges():
        assert not set(e.query_names) & OLD_REQUEST_NAMES, e


def test_submits_arrive_as_sent(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(delivery_delay=0.0)
    with client_for(emu) as client:
        one = client.submit("MYSTATION", "ACME", [outbound(tmp_path, "a.txt", b"A")], subject="S")
        two = client.submit(
            "MYSTATION", "ACME", [outbound(tmp_path, "b.txt", b"B"), outbound(tmp_path, "c", b"C")]
        )
        with pytest.raises(PermanentError, match="422"):
            client.submit("MYSTATION", "NOBODY", [outbound(tmp_path, "d", b"D")])
        assert sorted(client.list_page(Box.SENT)) == sorted([one, two])
        info = client.outbox_message(Box.SENT, one)
    subs = emu.state.submissions()
    assert [(s.message_id, s.attachments) for s in subs] == [
        (one, [("a.txt", b"A")]),
        (two, [("b.txt", b"B"), ("c", b"C")]),
    ]
    assert (info.station, info.partner, info.subject) == ("MYSTATION", "ACME", "S")
    assert info.mdn_status
    assert all(e.header("authorization") != "" for e in emu.state.journal.exchanges()[1:])
    assert_only_new_names(emu)


def test_oversized_submit_is_refused(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(send_limit_bytes=4)
    with client_for(emu) as client, pytest.raises(PermanentError, match="413"):
        client.submit("MYSTATION", "ACME", [outbound(tmp_path, "a", b"12345")])


def test_the_session_is_renewed_by_refresh_and_by_login_when_that_fails(make_mft: MakeMft) -> None:
    clock = ManualClock()
    emu = make_mft(clock=clock, token_ttl=100.0)
    with client_for(emu, clock=clock) as client:
        client.list_page(Box.INBOX)
        clock.advance(60)  # past half the token's life
        client.list_page(Box.INBOX)
        assert paths(emu) == ["/authorize", "/message/inbox", "/refresh-session", "/message/inbox"]
        emu.switches.update(refresh_fails=True)
        clock.advance(60)
        client.list_page(Box.INBOX)
        assert paths(emu)[4:] == ["/refresh-session", "/authorize", "/message/inbox"]
        emu.state.expire_tokens()  # the server forgets every token: 401, renew, repeat
        emu.switches.update(refresh_fails=False)
        clock.advance(1)
        client.list_page(Box.INBOX)
        assert paths(emu)[7:] == ["/message/inbox", "/refresh-session", "/message/inbox"]
    log = emu.state.request_log()
    assert [s for _, p, s in log if p == "/refresh-session"] == [200, 500, 200]


def seed(emu: RunningMftEmulator, count: int) -> list[str]:
    return [
        emu.state.seed_received(
            "MYSTATION",
            "ACME",
            [(f"f{i}.txt", f"body {i}".encode()), (f"g{i}.txt", b"second")],
            persisted_ms=1000 + i,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("reading", ["a", "b"])
def test_the_inbox_walk_finds_every_message_once_as_the_list_shrinks(
    make_mft: MakeMft, reading: str
) -> None:
    emu = make_mft(mft=MftSettings(list_marks_read=reading == "b"))
    ids = seed(emu, 7)
    seen: list[str] = []
    with client_for(emu) as client:
        for batch in client.walk(Box.INBOX, page_length=3):
            seen += batch
            for identifier in batch:
                client.mark_read(identifier)
        assert client.list_page(Box.INBOX) == []
        assert len(client.list_page(Box.INBOX, fetch_all=True)) == 7
    assert seen == ids
    assert all(emu.state.is_read(i) for i in ids)


def test_attachments_download_without_authorization_and_expired_urls_are_renewed(
    make_mft: MakeMft, tmp_path: Path
) -> None:
    clock = ManualClock()
    emu = make_mft(clock=clock, mft=MftSettings(url_validity=30))
    (mid,) = seed(emu, 1)

    expired: list[int] = []

    def dest_for(index: int, name: str) -> Path:
        if index == 1 and not expired:
            expired.append(index)
            clock.advance(31)  # the second URL expires before it is first used
        return tmp_path / name

    with client_for(emu, clock=clock) as client:
        info = client.inbox_message(mid, mark_read=False)
        done = client.download_attachments(Box.INBOX, mid, dest_for)
    assert [(d.name, d.size) for d in done] == [("f0.txt", 6), ("g0.txt", 6)]
    assert (tmp_path / "f0.txt").read_bytes() == b"body 0"
    assert (tmp_path / "g0.txt").read_bytes() == b"second"
    assert [p.rsplit("/", 1)[-1] for p in info.attachment_paths] == ["f0.txt", "g0.txt"]
    objects = [e for e in emu.state.journal.exchanges() if e.origin == "objects"]
    assert len(objects) == 3  # f0, g0 refused (expired), g0 again
    assert all(e.header("authorization") is None for e in objects)
    assert paths(emu).count(f"/message/inbox/{mid}/attachments") == 2
    assert not emu.state.is_read(mid)  # nothing but the explicit GET marks read


def test_failed_and_incomplete_boxes(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(
        delivery_delay=0.0,
        failed_attempts=1,
        partners=(PartnerSpec("DOWN", behaviour="fail"), PartnerSpec("SLOW")),
        mft=MftSettings(incomplete_partners=("SLOW",)),
    )
    with client_for(emu) as client:
        down = client.submit("MYSTATION", "DOWN", [outbound(tmp_path, "a", b"a")])
        slow = client.submit("MYSTATION", "SLOW", [outbound(tmp_path, "b", b"b")])
        assert client.list_page(Box.FAILED, identifier=down) == [down]
        assert client.list_page(Box.INCOMPLETE) == [slow]
        failed = client.outbox_message(Box.FAILED, down)
        assert failed.msg_status == "Failed" and failed.failure_reason
        emu.switches.update(incomplete_list=False)
        assert client.list_page(Box.INCOMPLETE) == []
    assert_only_new_names(emu)


def test_forget_deletes_in_the_inbox(mft: RunningMftEmulator) -> None:
    ids = seed(mft, 2)
    with client_for(mft) as client:
        assert client.delete(Box.INBOX, ids) == ids
        assert client.delete(Box.INBOX, ids) == []
    assert mft.state.received_ids() == []


def test_certificates_with_chosen_expiry(mft: RunningMftEmulator) -> None:
    mft.switches.update(
        certificates=[
            CertificateSpec("st", "IDENTITY", 1_900_000_000_000, "MYSTATION", ("MYSTATION",)),
            {"alias": "pa", "type": "TRUST", "expiry_ms": 1_800_000_000_000, "common_name": "ACME"},
        ]
    )
    with client_for(mft) as client:
        refs = client.certificates()
        assert [(r.alias, r.type) for r in refs] == [("st", "IDENTITY"), ("pa", "TRUST")]
        partner = client.certificate("pa")
        with pytest.raises(PermanentError, match="404"):
            client.certificate("nope")
    assert (partner.common_name, partner.expires_at) == ("ACME", 1_800_000_000.0)


def test_sizes_by_ranged_get_and_digests_without_storing(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft(delivery_delay=0.0)
    (mid,) = seed(emu, 1)
    with client_for(emu) as client:
        assert client.attachment_sizes(Box.INBOX, mid) == [("f0.txt", 6), ("g0.txt", 6)]
        sent = client.submit("MYSTATION", "ACME", [outbound(tmp_path, "a.txt", b"hello")])
        ((name, digest),) = client.attachment_digests(Box.SENT, sent)
    assert (name, digest.size) == ("a.txt", 5)
    assert digest.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    ranged = [e for e in emu.state.journal.exchanges() if e.header("range")]
    assert [e.header("range") for e in ranged] == ["bytes=0-0", "bytes=0-0"]
    assert not emu.state.is_read(mid)
