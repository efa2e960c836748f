"""206 Partial Content: the batch is cut at the gateway's aggregation limit."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator
from tests.integration.inbound_support import FakeGateway, Rigs


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def count(emu: RunningEmulator, method: str, fragment: str) -> int:
    return sum(1 for m, path, _s in emu.state.request_log() if m == method and fragment in path)


def test_truncation_on_a_messages_last_attachment_completes_it_and_continues(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=100)
    first = emu.state.seed_received("MYSTATION", "ACME", [("a1", b"a" * 50), ("a2", b"b" * 50)])
    second = emu.state.seed_received("MYSTATION", "ACME", [("b1", b"c" * 60)])
    rig = rigs.make(emu.base_url)
    with capture_logs() as logs:
        assert rig.poll() == 2
    (cut,) = [e for e in logs if e["event"] == "inbound.truncated"]
    assert (cut["message_id"], cut["index"], cut["complete"]) == (first, "(0,1)", 1)
    assert rig.files() == {
        "MYSTATION/ACME/inbox/a1": b"a" * 50,
        "MYSTATION/ACME/inbox/a2": b"b" * 50,
        "MYSTATION/ACME/inbox/b1": b"c" * 60,
    }
    assert emu.state.is_read(first) and emu.state.is_read(second)
    assert count(emu, "POST", "/batch/attachments") == 2
    # Whether the gateway marked a message cut exactly at its end read is not specified:
    # it is marked explicitly.
    marked = [e for e in logs if e["event"] == "inbound.marked_read" and e["message_id"] == first]
    assert [e["via"] for e in marked] == ["explicit"]


def test_truncation_in_the_middle_of_a_message_fetches_it_whole_in_the_next_request(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=100)
    first = emu.state.seed_received("MYSTATION", "ACME", [("a", b"a" * 40)])
    second = emu.state.seed_received(
        "MYSTATION", "ACME", [("b1", b"1" * 30), ("b2", b"2" * 30), ("b3", b"3" * 30)]
    )
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 2
    assert rig.files() == {
        "MYSTATION/ACME/inbox/a": b"a" * 40,
        "MYSTATION/ACME/inbox/b1": b"1" * 30,
        "MYSTATION/ACME/inbox/b2": b"2" * 30,
        "MYSTATION/ACME/inbox/b3": b"3" * 30,
    }
    assert emu.state.is_read(first) and emu.state.is_read(second)
    assert count(emu, "POST", "/batch/attachments") == 2
    assert count(emu, "GET", "/attachments/") == 0  # no attachment fetched one by one


def test_a_message_larger_than_the_gateway_limit_is_fetched_one_by_one_not_looped(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=100)
    big = emu.state.seed_received(
        "MYSTATION", "ACME", [("p1", b"1" * 70), ("p2", b"2" * 70), ("p3", b"3" * 70)]
    )
    small = emu.state.seed_received("MYSTATION", "ACME", [("s", b"s" * 10)])
    rig = rigs.make(emu.base_url)  # plans with 10 MB: only the gateway's 206 reveals the limit
    assert rig.poll() == 2
    assert rig.files() == {
        "MYSTATION/ACME/inbox/p1": b"1" * 70,
        "MYSTATION/ACME/inbox/p2": b"2" * 70,
        "MYSTATION/ACME/inbox/p3": b"3" * 70,
        "MYSTATION/ACME/inbox/s": b"s" * 10,
    }
    assert emu.state.is_read(big) and emu.state.is_read(small)
    assert count(emu, "POST", "/batch/attachments") == 2  # [big, small] then [small]
    assert count(emu, "GET", "/attachments/") == 3


def test_a_first_attachment_alone_over_the_limit_is_fetched_one_by_one(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=100)
    big = emu.state.seed_received("MYSTATION", "ACME", [("huge", b"h" * 500)])
    rig = rigs.make(emu.base_url)
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert any(e["event"] == "inbound.truncated" and e["index"] == "(0,-1)" for e in logs)
    assert rig.files() == {"MYSTATION/ACME/inbox/huge": b"h" * 500}
    assert emu.state.is_read(big)
    assert count(emu, "POST", "/batch/attachments") == 1


def test_a_message_over_the_planned_limit_never_goes_into_a_batch(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=100)
    big = emu.state.seed_received("MYSTATION", "ACME", [("p1", b"1" * 70), ("p2", b"2" * 70)])
    rig = rigs.make(emu.base_url, batch_max_bytes=100)
    assert rig.poll() == 1
    assert emu.state.is_read(big)
    assert count(emu, "POST", "/batch/attachments") == 0
    assert count(emu, "GET", "/attachments/") == 2


def test_truncation_at_the_very_last_attachment_of_the_batch_leaves_nothing_over(
    rigs: Rigs,
) -> None:
    fake = FakeGateway(truncation_for=lambda ids: (1, 1))
    fake.add("<one@x>", [("a", b"A")])
    fake.add("<two@x>", [("b1", b"B1"), ("b2", b"B2")])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport())
    assert rig.poll() == 2
    assert rig.files() == {
        "MYSTATION/ACME/inbox/a": b"A",
        "MYSTATION/ACME/inbox/b1": b"B1",
        "MYSTATION/ACME/inbox/b2": b"B2",
    }
    assert fake.requests.count(("POST", "/message/received/batch/attachments")) == 1
    assert fake.messages["<one@x>"].read
    assert fake.messages["<two@x>"].read  # marked explicitly: the fake did not


def test_a_backlog_with_many_truncations_is_stored_exactly_once(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(batch_limit_bytes=3000)
    rng = random.Random(7)
    expected: dict[str, bytes] = {}
    ids = []
    for n in range(60):
        files = [
            (f"m{n}-{k}.edi", rng.randbytes(rng.choice([10, 300, 900, 2500, 4000])))
            for k in range(rng.randint(1, 4))
        ]
        ids.append(emu.state.seed_received("MYSTATION", "ACME", files))
        expected.update({f"MYSTATION/ACME/inbox/{name}": data for name, data in files})
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 60
    assert rig.files() == expected
    assert all(emu.state.is_read(i) for i in ids)
    assert count(emu, "POST", "/batch/attachments") < 60


def test_after_one_206_the_backlog_is_planned_under_the_limit_it_revealed(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    # The "10 MB" ambiguity in miniature: the client plans 10 KiB batches (10 x 1 KiB), the
    # gateway cuts at 10,000 bytes (9 x 1 KiB). One 206 teaches the limit; the leftover joins
    # the next batch instead of costing a request of its own.
    emu = make_emulator(batch_limit_bytes=10_000)
    ids = [
        emu.state.seed_received("MYSTATION", "ACME", [(f"m{k:02}", bytes([k]) * 1024)])
        for k in range(30)
    ]
    rig = rigs.make(emu.base_url, batch_max_bytes=10 * 1024)
    with capture_logs() as logs:
        assert rig.poll() == 30
    assert len(rig.files()) == 30 and all(emu.state.is_read(m) for m in ids)
    batches = [s for m, path, s in emu.state.request_log() if "/batch/attachments" in path]
    # 10 -> 206 (9 served); then 1 + 20 left are planned 9 + 9 + 3, none cut again.
    assert batches == [206, 200, 200, 200], batches
    (learned,) = [e for e in logs if e["event"] == "inbound.batch_limit_learned"]
    assert learned["below_bytes"] == 10 * 1024 and learned["planning_bytes"] == 10 * 1024 - 1
