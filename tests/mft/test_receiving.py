"""The MFT receiver against the MFT emulator: pending hands each unread message out once with
its attachments' names and sizes, downloads are byte-identical and never mark read, and the
per-message outcomes, acknowledge, forget and lookup follow the seam (base.Receiver)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from as2sync.backends.base import Attachment, Pending, Wanted
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.client import MftClient
from as2sync.backends.mftgateway.receiving import MftReceiver
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.errors import NotFound
from tests.contract.sink import DirSink
from tests.mft.conftest import PASSWORD, USER, MakeMft, ManualClock

GO = threading.Event()


def receiver_for(emu: RunningMftEmulator, page_length: int = 100, **kwargs: object) -> MftReceiver:
    client = MftClient(
        emu.base_url,
        USER,
        PASSWORD,
        limiter=RateLimiter(1000, 1.0),
        retry=RetryPolicy(attempts=2, sleep=lambda s: None),
        **kwargs,
    )
    return MftReceiver(client, page_length=page_length)


def seed(emu: RunningMftEmulator, files: list[tuple[str, bytes]], n: int = 0) -> str:
    return emu.state.seed_received("MYSTATION", "ACME", files, persisted_ms=1000 + n, subject="S")


def wanted(key: int, p: Pending, done: frozenset[int] = frozenset()) -> Wanted:
    return Wanted(key, p.remote_id, p.station, p.partner, p.persisted_ms, p.attachments, done)


def test_pending_hands_out_each_unread_message_with_names_and_sizes(
    mft: RunningMftEmulator,
) -> None:
    ids = [seed(mft, [(f"a{i}.edi", b"x" * (i + 1)), ("b.txt", b"bb")], i) for i in range(3)]
    mft.state.set_read(ids[1], True)
    pages = list(receiver_for(mft).pending(GO))
    got = [p for page in pages for p in page]
    assert [p.remote_id for p in got] == [ids[0], ids[2]]
    first = got[0]
    assert (first.station, first.partner, first.subject) == ("MYSTATION", "ACME", "S")
    assert first.attachments == (Attachment("a0.edi", 1), Attachment("b.txt", 2))
    assert first.persisted_ms == 1000
    assert first.remote["sender_id"] == "ACME" and first.remote["receiver_id"] == "MYSTATION"
    assert not any(mft.state.is_read(i) for i in (ids[0], ids[2]))


def test_pending_hands_each_message_once_while_pages_are_acknowledged(
    mft: RunningMftEmulator,
) -> None:
    ids = [seed(mft, [("f.txt", bytes([i]))], i) for i in range(7)]
    receiver = receiver_for(mft, page_length=3)
    seen: list[str] = []
    for page in receiver.pending(GO):
        seen += [p.remote_id for p in page]
        receiver.acknowledge([p.remote_id for p in page])
    assert seen == ids
    assert list(receiver.pending(GO)) == []


def test_download_is_byte_identical_skips_done_and_leaves_acknowledging_to_the_engine(
    make_mft: MakeMft, tmp_path: Path
) -> None:
    clock = ManualClock()
    emu = make_mft(clock=clock)
    mid = seed(emu, [("one.edi", b"ISA*1"), ("two.edi", b"ISA*22"), ("three.edi", b"3")])
    receiver = receiver_for(emu, clock=clock)
    (pending,) = [p for page in receiver.pending(GO) for p in page]
    sink = DirSink(tmp_path)
    receiver.download([wanted(7, pending, frozenset({1}))], sink, GO)
    assert sink.outcomes[7] == ["store"] and sink.acknowledged[7] is False
    assert sink.stored(7) == {0: b"ISA*1", 2: b"3"}
    assert [(k, i) for k, i in sink.written] == [(7, 0), (7, 2)]
    assert not emu.state.is_read(mid)
    objects = [e for e in emu.state.journal.exchanges() if e.origin == "objects"]
    assert objects and all(e.header("authorization") is None for e in objects)


def test_an_expired_url_during_a_download_is_renewed(make_mft: MakeMft, tmp_path: Path) -> None:
    clock = ManualClock()
    emu = make_mft(clock=clock)
    seed(emu, [("a", b"A"), ("b", b"B")])
    receiver = receiver_for(emu, clock=clock)
    (pending,) = [p for page in receiver.pending(GO) for p in page]
    sink = DirSink(tmp_path)
    original = sink.stage

    def stage(key: int) -> object:
        slot = original(key)
        temp_for = slot.temp_for

        def later(index: int) -> Path:
            if index == 1 and not getattr(later, "done", False):
                later.done = True
                clock.advance(601)  # the URLs of this listing expire before b is fetched
            return temp_for(index)

        slot.temp_for = later
        return slot

    sink.stage = stage
    receiver.download([wanted(1, pending)], sink, GO)
    assert sink.stored(1) == {0: b"A", 1: b"B"}


@pytest.mark.parametrize("change", ["deleted", "renamed", "resized"])
def test_a_message_not_served_as_recorded_is_not_stored(
    mft: RunningMftEmulator, tmp_path: Path, change: str
) -> None:
    mid = seed(mft, [("a.txt", b"abc")])
    receiver = receiver_for(mft)
    (pending,) = [p for page in receiver.pending(GO) for p in page]
    item = wanted(3, pending)
    if change == "deleted":
        mft.state.delete("received", [mid])
    elif change == "renamed":
        item = Wanted(3, mid, "MYSTATION", "ACME", 0, (Attachment("other.txt", 3),))
    else:
        item = Wanted(3, mid, "MYSTATION", "ACME", 0, (Attachment("a.txt", 4),))
    sink = DirSink(tmp_path)
    receiver.download([item], sink, GO)
    expected = {"deleted": "not_served", "renamed": "refused", "resized": "refused"}[change]
    assert sink.outcomes[3] == [expected]
    assert sink.stored(3) == {}


def test_a_storage_failure_is_that_message_alone(mft: RunningMftEmulator, tmp_path: Path) -> None:
    seed(mft, [("a", b"A")], 0)
    seed(mft, [("b", b"B")], 1)
    receiver = receiver_for(mft)
    first, second = [p for page in receiver.pending(GO) for p in page]
    sink = DirSink(tmp_path)
    sink.break_storage(1)
    receiver.download([wanted(1, first), wanted(2, second)], sink, GO)
    assert (sink.outcomes[1], sink.outcomes[2]) == (["storage_failed"], ["store"])


def test_a_stopped_download_hands_nothing_out(mft: RunningMftEmulator, tmp_path: Path) -> None:
    seed(mft, [("a", b"A")])
    receiver = receiver_for(mft)
    (pending,) = [p for page in receiver.pending(GO) for p in page]
    stopped = threading.Event()
    stopped.set()
    sink = DirSink(tmp_path)
    receiver.download([wanted(1, pending)], sink, stopped)
    assert dict(sink.outcomes) == {}


def test_acknowledge_forget_and_lookup(mft: RunningMftEmulator) -> None:
    ids = [seed(mft, [("a", b"A")], i) for i in range(3)]
    receiver = receiver_for(mft)
    found = receiver.lookup(["<nope@x>", ids[0]])
    assert found.remote_id == ids[0] and not mft.state.is_read(ids[0])
    bare = receiver.lookup([ids[1].strip("<>")])
    assert bare.remote_id == ids[1]
    assert receiver.acknowledge([ids[0], "<gone@x>"]) == {"<gone@x>"}
    assert mft.state.is_read(ids[0])
    assert receiver.acknowledge([ids[0]]) == set()  # idempotent
    reported: list[list[str]] = []
    receiver.forget(ids[1:], lambda chunk: reported.append(list(chunk)))
    receiver.forget(ids[1:], lambda chunk: reported.append(list(chunk)))
    assert reported == [ids[1:], ids[1:]]
    assert mft.state.received_ids() == [ids[0]]
    with pytest.raises(NotFound):
        receiver.lookup(["<nope@x>"])


def test_the_listing_pending_read_serves_the_download(
    mft: RunningMftEmulator, tmp_path: Path
) -> None:
    mid = seed(mft, [("a", b"A")])
    receiver = receiver_for(mft)
    (pending,) = [p for page in receiver.pending(GO) for p in page]
    receiver.download([wanted(1, pending)], DirSink(tmp_path), GO)
    listings = [e for e in mft.state.journal.exchanges() if e.path.endswith("/attachments")]
    assert [e.path for e in listings] == [f"/message/inbox/{mid}/attachments"]
