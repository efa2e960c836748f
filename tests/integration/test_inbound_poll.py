"""Polling the emulator: list unread, batch download, write into the inbox, mark read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from as2sync.ledger import inbound as li
from as2sync.ledger.inbound import InboundState
from tests.conftest import MakeEmulator
from tests.integration.inbound_support import FakeGateway, ManualClock, Rigs


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    with Rigs(tmp_path) as rigs:
        yield rigs


def requests_to(emu: RunningEmulator, fragment: str) -> list[tuple[str, str, int]]:
    return [r for r in emu.state.request_log() if fragment in r[1]]


def test_received_messages_land_in_the_inbox_once_and_are_marked_read(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    st = emulator.state
    one = st.seed_received("MYSTATION", "ACME", [("order.edi", b"ORDER-1")])
    two = st.seed_received("MYSTATION", "ACME", [("a.xml", b"<a/>"), ("b.xml", b"<b/>")])
    rig = rigs.make(emulator.base_url)
    with capture_logs() as logs:
        assert rig.poll() == 2
    assert rig.files() == {
        "MYSTATION/ACME/inbox/order.edi": b"ORDER-1",
        "MYSTATION/ACME/inbox/a.xml": b"<a/>",
        "MYSTATION/ACME/inbox/b.xml": b"<b/>",
    }
    assert st.is_read(one) and st.is_read(two)
    stored = [e for e in logs if e["event"] == "inbound.stored"]
    assert {e["message_id"] for e in stored} == {one, two}
    assert all(e["station"] == "MYSTATION" and e["partner"] == "ACME" for e in stored)
    with rig.ledger.read() as s:
        assert {r.state for r in li.in_state(s, InboundState.READ)} == {"read"}
        assert li.pending_count(s) == 0
    assert rig.poll() == 0
    assert len(rig.files()) == 3
    assert rig.engine.stats().stored_total == 2


def test_a_poll_of_up_to_100_small_messages_uses_one_list_and_one_batch_request(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    for n in range(99):
        emulator.state.seed_received("MYSTATION", "ACME", [(f"f{n}.edi", b"x" * n)])
    rig = rigs.make(emulator.base_url)
    rig.poll()  # the first poll also logs in and asks for the stations
    emulator.state.clear_request_log()
    ids = [emulator.state.seed_received("MYSTATION", "ACME", [(f"g{n}", b"y")]) for n in range(99)]
    assert rig.poll() == 99
    assert len(requests_to(emulator, "/message/received")) == 2
    assert all(emulator.state.is_read(i) for i in ids)


def test_a_backlog_larger_than_a_page_is_drained_in_one_poll(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    ids = [
        emulator.state.seed_received("MYSTATION", "ACME", [(f"{n}.edi", b"d")]) for n in range(230)
    ]
    rig = rigs.make(emulator.base_url)
    assert rig.poll() == 230
    assert len(rig.files()) == 230
    assert all(emulator.state.is_read(i) for i in ids)


def test_two_messages_with_the_same_file_name_both_survive(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    emulator.state.seed_received("MYSTATION", "ACME", [("invoice.edi", b"first")])
    emulator.state.seed_received("MYSTATION", "ACME", [("invoice.edi", b"second")])
    rig = rigs.make(emulator.base_url)
    rig.poll()
    emulator.state.seed_received("MYSTATION", "ACME", [("invoice.edi", b"third")])
    rig.poll()
    assert rig.files() == {
        "MYSTATION/ACME/inbox/invoice.edi": b"first",
        "MYSTATION/ACME/inbox/invoice (2).edi": b"second",
        "MYSTATION/ACME/inbox/invoice (3).edi": b"third",
    }


def test_a_file_already_in_the_inbox_is_never_overwritten(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    rig = rigs.make(emulator.base_url)
    rig.inbox().mkdir(parents=True)
    (rig.inbox() / "invoice.edi").write_bytes(b"consumer has not taken me yet")
    emulator.state.seed_received("MYSTATION", "ACME", [("invoice.edi", b"new")])
    rig.poll()
    assert (rig.inbox() / "invoice.edi").read_bytes() == b"consumer has not taken me yet"
    assert (rig.inbox() / "invoice (2).edi").read_bytes() == b"new"


@pytest.mark.parametrize(
    "message_id",
    [
        "<OPENAS2-22112026083015+0000-1234@OpenAS2A_OID>",
        "<mendelson_opensource_AS2-1637051234567-3@mycompany_AS2>",
        "plain+id@host.example",
        "<a.b+c=d@[127.0.0.1]>",
    ],
)
@pytest.mark.parametrize("brackets", [True, False])
def test_message_ids_with_plus_brackets_and_at_are_fetched_and_marked_read(
    make_emulator: MakeEmulator, rigs: Rigs, message_id: str, brackets: bool
) -> None:
    emu = make_emulator(batch_folder_brackets=brackets)
    emu.state.seed_received("MYSTATION", "ACME", [("x.edi", b"X")], message_id=message_id)
    rig = rigs.make(emu.base_url)
    assert rig.poll() == 1
    assert rig.files() == {"MYSTATION/ACME/inbox/x.edi": b"X"}
    assert emu.state.is_read(message_id)


@pytest.mark.parametrize("sides", ["spec", "swapped"])
def test_the_station_is_whichever_side_is_a_station_of_the_account(
    make_emulator: MakeEmulator, rigs: Rigs, sides: str
) -> None:
    emu = make_emulator(received_sides=sides)
    emu.state.seed_received("MYSTATION", "ACME", [("x.edi", b"X")])
    rig = rigs.make(emu.base_url)
    rig.poll()
    assert rig.files() == {"MYSTATION/ACME/inbox/x.edi": b"X"}


def test_a_message_for_a_station_added_later_is_found_after_a_station_refresh(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    rig = rigs.make(emulator.base_url)
    emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    rig.poll()  # caches the station list
    emulator.state.add_station("NEWSTATION")
    emulator.state.seed_received("NEWSTATION", "ACME", [("b", b"2")])
    rig.poll()
    assert rig.files() == {
        "MYSTATION/ACME/inbox/a": b"1",
        "NEWSTATION/ACME/inbox/b": b"2",
    }


def test_a_message_that_names_no_station_is_left_unread(rigs: Rigs) -> None:
    fake = FakeGateway()
    fake.add("<ours@x>", [("a.edi", b"A")])
    fake.add("<foreign@x>", [("a.edi", b"A")], sender="ACME", receiver="SOMEONE-ELSE")
    rig = rigs.make("https://gw.example/v1", transport=fake.transport())
    with capture_logs() as logs:
        assert rig.poll() == 1
    assert fake.messages["<ours@x>"].read
    assert not fake.messages["<foreign@x>"].read
    assert any(
        e["event"] == "inbound.no_station" and e["message_id"] == "<foreign@x>" for e in logs
    )
    assert fake.requests.count(("GET", "/station")) == 1  # refreshed once, not per message
    rig.poll()
    assert fake.requests.count(("GET", "/station")) == 2
    assert rig.files() == {"MYSTATION/ACME/inbox/a.edi": b"A"}


def test_partner_type_both_fetches_production_and_test_messages(
    make_emulator: MakeEmulator, rigs: Rigs
) -> None:
    emu = make_emulator(partners=(PartnerSpec("ACME"), PartnerSpec("TESTER", partner_type="Test")))
    emu.state.seed_received("MYSTATION", "ACME", [("p.edi", b"P")])
    emu.state.seed_received("MYSTATION", "TESTER", [("t.edi", b"T")], partner_type="test")
    production = rigs.make(emu.base_url)
    production.poll()
    assert production.files() == {"MYSTATION/ACME/inbox/p.edi": b"P"}
    both = rigs.restart(production, partner_type="both")
    both.poll()
    assert both.files() == {
        "MYSTATION/ACME/inbox/p.edi": b"P",
        "MYSTATION/TESTER/inbox/t.edi": b"T",
    }


def test_fetching_is_committed_before_the_download_request(rigs: Rigs) -> None:
    fake = FakeGateway()
    fake.add("<a@x>", [("a", b"A")])
    fake.add("<b@x>", [("b", b"B")])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport())
    seen_at_download: list[set[str]] = []

    def check(method: str, path: str) -> None:
        if path.endswith("/batch/attachments"):
            with rig.ledger.read() as s:
                rows = li.in_state(s, InboundState.FETCHING)
                seen_at_download.append({r.message_id for r in rows})

    fake.on_request = check
    rig.poll()
    assert seen_at_download == [{"<a@x>", "<b@x>"}]


def test_a_stop_request_is_honoured_between_batches_and_the_rest_waits(rigs: Rigs) -> None:
    fake = FakeGateway()
    for n in range(3):
        fake.add(f"<{n}@x>", [(f"{n}", b"12345678")])
    rig = rigs.make("https://gw.example/v1", transport=fake.transport(), batch_max_bytes=10)

    def stop_at_first_batch(method: str, path: str) -> None:
        if path.endswith("/batch/attachments"):
            rig.stop.set()  # SIGTERM arrives while the first batch is downloading

    fake.on_request = stop_at_first_batch
    assert rig.poll() == 1  # the batch in flight is finished, no new one is started
    assert fake.requests.count(("POST", "/message/received/batch/attachments")) == 1
    with rig.ledger.read() as s:
        assert len(li.in_state(s, InboundState.FETCHING)) == 2
    fake.on_request = None
    rig.stop.clear()
    assert rig.poll() == 2
    assert all(m.read for m in fake.messages.values())


def test_stats_report_polls_stored_messages_and_pending_work(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    rig = rigs.make(emulator.base_url)
    assert rig.engine.stats().last_poll_at is None
    emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    emulator.state.seed_received("MYSTATION", "ACME", [("b", b"2")])
    rig.poll()
    stats = rig.engine.stats()
    assert stats.stored_total == 2 and stats.pending == 0
    assert stats.last_poll_at is not None and stats.last_stored_at is not None


def test_a_message_without_attachments_is_recorded_and_marked_read_without_a_download(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    empty = emulator.state.seed_received("MYSTATION", "ACME", [])
    rig = rigs.make(emulator.base_url)
    emulator.state.clear_request_log()
    assert rig.poll() == 1
    assert emulator.state.is_read(empty)
    assert rig.files() == {}
    assert not any("/batch/" in p for _m, p, _s in emulator.state.request_log())
    with rig.ledger.read() as s:
        assert li.latest(s, empty).state == InboundState.READ  # type: ignore[union-attr]


def test_empty_polls_log_at_debug_with_an_hourly_summary_at_info(
    emulator: RunningEmulator, rigs: Rigs
) -> None:
    clock = ManualClock()
    rig = rigs.make(emulator.base_url, clock=clock)
    with capture_logs() as logs:
        for _ in range(3):
            rig.poll()
            clock.advance(30)
    polled = [e for e in logs if e["event"] == "inbound.polled"]
    assert len(polled) == 3
    assert {(e["log_level"], e["listed"]) for e in polled} == {("debug", 0)}
    assert not [e for e in logs if e["event"] == "inbound.summary"]

    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a.edi", b"A")])
    with capture_logs() as logs:
        assert rig.poll() == 1  # a poll that found something new says so at info
    (found,) = [e for e in logs if e["event"] == "inbound.polled"]
    assert (found["log_level"], found["new"]) == ("info", 1)
    assert emulator.state.is_read(mid)

    clock.advance(3600 - 90)  # an hour after the first poll
    with capture_logs() as logs:
        rig.poll()
        clock.advance(30)
        rig.poll()
    (summary,) = [e for e in logs if e["event"] == "inbound.summary"]
    assert summary["log_level"] == "info"
    assert (summary["polls"], summary["failed"], summary["stored"]) == (5, 0, 1)
    assert summary["seconds"] == 3600

    clock.advance(3600 - 30)  # the next one covers the hour since the last summary
    with capture_logs() as logs:
        rig.poll()
    (summary,) = [e for e in logs if e["event"] == "inbound.summary"]
    assert (summary["polls"], summary["stored"], summary["seconds"]) == (2, 0, 3600)
