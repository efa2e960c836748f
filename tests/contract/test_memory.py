"""The contract suite against the in-memory reference backend, with and without a read flag."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from as2sync.backends.base import (
    Backend,
    Content,
    Doubt,
    Found,
    Located,
    Lookup,
    OutboundFile,
    OutboundMessage,
)
from as2sync.backends.memory import (
    MEMORY_CAPABILITIES,
    Behaviour,
    Fault,
    MemoryBackend,
    MemoryServer,
    Op,
)
from as2sync.errors import (
    ContentChanged,
    InvalidRequest,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from tests.contract.sink import DirSink
from tests.contract.suite import BackendContract, Files, Harness, as_wanted, sha

STATION, PARTNER, DOWN = "MYSTATION", "ACME", "DOWN"


class FakeClock:
    """Epoch seconds that move only when told (also the server's ``sleep``)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryHarness(Harness):
    def __init__(self, *, read_flag: bool) -> None:
        self.clock = FakeClock()
        caps = replace(MEMORY_CAPABILITIES, read_flag=read_flag)
        self.server = MemoryServer(
            capabilities=caps,
            stations=[STATION],
            partners=[PARTNER],
            clock=self.clock,
            sleep=self.clock.sleep,
            page_length=3,
        )
        self.server.add_partner(STATION, DOWN, Behaviour.FAIL)
        self.backend: Backend = MemoryBackend(self.server)
        self.station, self.partner, self.failing_partner = STATION, PARTNER, DOWN
        self.grace = 30.0
        self.page_length = 3

    def now(self) -> float:
        return self.clock.now

    def pass_time(self, seconds: float) -> None:
        self.clock.now += seconds

    def submitted(self) -> list[tuple[str, Files]]:
        return [(m.remote_id, m.files) for m in self.server.sent()]

    @contextlib.contextmanager
    def _fault(self, fault: Fault) -> Iterator[None]:
        self.server.inject(Op.SUBMIT, fault)
        try:
            yield
        finally:
            self.server.clear_faults()

    def unknown_outcome(self) -> contextlib.AbstractContextManager[None]:
        return self._fault(Fault.AFTER)

    def error_before(self) -> contextlib.AbstractContextManager[None]:
        return self._fault(Fault.BEFORE)

    def receive(self, files: Files, partner: str | None = None) -> str:
        return self.server.receive(STATION, partner or PARTNER, files)

    def is_read(self, remote_id: str) -> bool:
        return self.server.is_read(remote_id)

    def exists(self, remote_id: str) -> bool:
        return self.server.received(remote_id) is not None

    def withhold(self, remote_id: str) -> None:
        self.server.withhold(remote_id)


class TestMemoryBackend(BackendContract):
    @pytest.fixture(params=[True, False], ids=["read-flag", "no-read-flag"])
    def harness(self, request: pytest.FixtureRequest) -> MemoryHarness:
        return MemoryHarness(read_flag=request.param)


# -- the memory backend's own knobs (what the contract suite does not reach) ------------------


def _server(**kwargs: object) -> tuple[MemoryServer, MemoryBackend, FakeClock]:
    clock = FakeClock()
    server = MemoryServer(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]
    return server, MemoryBackend(server), clock


def _message(tmp_path: Path, *files: tuple[str, bytes]) -> OutboundMessage:
    out = []
    for name, data in files:
        path = tmp_path / name
        path.write_bytes(data)
        out.append(OutboundFile(path, name, "text/plain", len(data), sha(data)))
    return OutboundMessage(STATION, PARTNER, out)


def test_a_refused_submit_keeps_nothing(tmp_path: Path) -> None:
    server, backend, _ = _server()
    server.inject(Op.SUBMIT, Fault.REFUSE)
    with pytest.raises(PermanentError):
        backend.submit(_message(tmp_path, ("a.edi", b"a")))
    assert server.sent() == []
    assert backend.submit(_message(tmp_path, ("a.edi", b"a"))).remote_id is not None


def test_invalid_messages_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    server, backend, _ = _server(capabilities=replace(MEMORY_CAPABILITIES, max_files_per_message=2))
    twice = _message(tmp_path, ("d", b"4"))
    for message in (
        OutboundMessage(STATION, PARTNER, []),
        _message(tmp_path, ("a", b"1"), ("b", b"2"), ("c", b"3")),
        replace(twice, files=[*twice.files, *twice.files]),
    ):
        with pytest.raises(InvalidRequest):
            backend.submit(message)
    assert server.sent() == []
    assert server.calls[Op.SUBMIT] == 0


def test_a_file_changed_after_its_claim_is_never_sent(tmp_path: Path) -> None:
    server, backend, _ = _server()
    message = _message(tmp_path, ("po.edi", b"claimed bytes"))
    (tmp_path / "po.edi").write_bytes(b"changed bytes")  # same size, other bytes
    with pytest.raises(ContentChanged):
        backend.submit(message)
    assert server.sent() == []


def test_a_download_cut_short_is_refused_and_served_whole_next_time(tmp_path: Path) -> None:
    server, backend, _ = _server(mark_read_on_download=True)
    rid = server.receive(STATION, PARTNER, [("big.edi", b"z" * 5000)])
    [pending] = [p for page in backend.pending(threading.Event()) for p in page]
    server.cut_short(rid)
    sink = DirSink(tmp_path / "one")
    backend.download([as_wanted(1, pending)], sink, threading.Event())
    assert dict(sink.outcomes) == {1: ["refused"]}
    assert not server.is_read(rid)
    sink = DirSink(tmp_path / "two")
    backend.download([as_wanted(1, pending)], sink, threading.Event())
    assert dict(sink.outcomes) == {1: ["store"]}
    assert sink.stored(1) == {0: b"z" * 5000}
    assert sink.acknowledged == {1: True}
    assert server.is_read(rid)


def test_a_download_that_breaks_off_hands_out_what_came_before(tmp_path: Path) -> None:
    server, backend, _ = _server()
    for n in range(3):
        server.receive(STATION, PARTNER, [(f"{n}.edi", b"n")])
    pending = [p for page in backend.pending(threading.Event()) for p in page]
    server.inject(Op.DOWNLOAD, Fault.AFTER)
    sink = DirSink(tmp_path)
    with pytest.raises(TransientError):
        backend.download([as_wanted(k, p) for k, p in enumerate(pending)], sink, threading.Event())
    assert dict(sink.outcomes) == {0: ["store"]}


def test_slow_calls_wait_through_the_injected_sleep(tmp_path: Path) -> None:
    _, backend, clock = _server(latency=2.5)
    start = clock.now
    backend.submit(_message(tmp_path, ("slow.edi", b"s")))
    backend.acknowledge(["<x>"])
    assert clock.now - start == 5.0


def test_a_message_invisible_for_a_while_waits_past_the_grace_then_is_found(
    tmp_path: Path,
) -> None:
    server, backend, clock = _server(visible_after=60.0)
    data = b"late to show"
    server.inject(Op.SUBMIT, Fault.AFTER)
    with pytest.raises(UnknownOutcome):
        backend.submit(_message(tmp_path, ("late.edi", data)))
    row = Doubt(1, clock.now, (Content("late.edi", len(data), sha(data)),))
    [sent] = server.sent()

    def locate(at: float) -> Located:
        return backend.locate(STATION, PARTNER, [row], attributed=(), now=at, grace=10.0)[1]

    waiting = locate(clock.now + 30)
    assert waiting.found is Found.WAIT
    assert waiting.grace_ends == row.started_at + 60.0
    assert locate(clock.now + 61) == Located(
        Found.FOUND, sent.remote_id, why="same bytes", where="sent"
    )


def test_without_lookup_a_doubt_goes_to_a_person(tmp_path: Path) -> None:
    _, backend, clock = _server(capabilities=replace(MEMORY_CAPABILITIES, lookup=Lookup.NONE))
    row = Doubt(1, clock.now, (Content("x", 1, sha(b"x")),))
    located = backend.locate(STATION, PARTNER, [row], attributed=(), now=clock.now, grace=1.0)
    assert located[1].found is Found.AMBIGUOUS


def test_without_a_read_flag_acknowledge_asks_nothing() -> None:
    server, backend, _ = _server(capabilities=replace(MEMORY_CAPABILITIES, read_flag=False))
    rid = server.receive(STATION, PARTNER, [("a", b"a")])
    assert backend.acknowledge([rid]) == set()
    assert server.calls[Op.ACKNOWLEDGE] == 0
    assert [p.remote_id for page in backend.pending(threading.Event()) for p in page] == [rid]


def test_a_message_for_no_station_of_the_account_is_not_handed_out() -> None:
    server, backend, _ = _server()
    server.receive("OTHERSTATION", PARTNER, [("a", b"a")])
    mine = server.receive(STATION, PARTNER, [("b", b"b")])
    assert [p.remote_id for page in backend.pending(threading.Event()) for p in page] == [mine]
