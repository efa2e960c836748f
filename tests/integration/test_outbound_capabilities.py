"""The outbound engine branches on what its backend can do (Capabilities), never on which
backend it is: driven here through the in-memory reference backend with its capabilities cut
down, on a real filesystem and ledger."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from as2sync.backends.base import Doubt, Located, Lookup, OutboundMessage, Receipt
from as2sync.backends.memory import MEMORY_CAPABILITIES, Fault, MemoryBackend, MemoryServer, Op
from as2sync.ledger import outbound as lo
from as2sync.ledger.db import open_ledger
from as2sync.ledger.outbound import Submission, SubmissionState
from as2sync.outbound import decide
from as2sync.outbound.engine import OutboundEngine
from tests.integration.outbound_support import STATION, make_config


@dataclasses.dataclass
class Memory:
    server: MemoryServer
    engine: OutboundEngine
    outbox: Path
    failed: Path

    def rows(self) -> list[Submission]:
        with self.engine.ctx.ledger.read() as s:
            return lo.in_states(s, list(SubmissionState))

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        stop = threading.Event()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.engine.step(stop):
                self.engine.wait(0.05)
            if done():
                return
        raise AssertionError(f"timed out; ledger: {self.rows()}")


class IdLater(MemoryBackend):
    """A backend whose submit is accepted before the message has an ID (an upload the
    gateway picks up later): the receipt carries none."""

    def submit(self, message: OutboundMessage) -> Receipt:
        return Receipt(None, super().submit(message).remote)


@pytest.fixture
def memory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Memory]:
    param = dict(request.param)
    backend_type = param.pop("backend", MemoryBackend)
    server = MemoryServer(capabilities=dataclasses.replace(MEMORY_CAPABILITIES, **param))
    config = make_config(tmp_path, "http://127.0.0.1:9/v1")
    ledger = open_ledger(config.state_dir)
    engine = OutboundEngine(config, ledger, backend_type(server))
    base = config.folders.root / STATION / "ACME"
    (base / "outbox").mkdir(parents=True)
    engine.start()
    try:
        yield Memory(server, engine, base / "outbox", base / "failed")
    finally:
        engine.stop()
        ledger.close()


@pytest.mark.parametrize("memory", [{"lookup": Lookup.NONE}], indirect=True)
def test_without_a_lookup_an_unknown_outcome_is_held_for_a_person_not_looked_up(
    memory: Memory,
) -> None:
    memory.server.inject(Op.SUBMIT, Fault.AFTER)  # accepted, but the answer is lost
    (memory.outbox / "a.edi").write_bytes(b"ISA*1")
    memory.run_until(lambda: [r.state for r in memory.rows()] == [SubmissionState.FAILED])
    [row] = memory.rows()
    assert row.error == decide.HOLD_REASON
    assert memory.server.calls[Op.LOCATE] == 0
    assert len(memory.server.sent()) == 1  # sent once, never again
    assert (memory.failed / "a.edi").read_bytes() == b"ISA*1"


@pytest.mark.parametrize("memory", [{"tracks_delivery": False}], indirect=True)
def test_without_delivery_tracking_a_sent_file_rests_archived_and_nothing_is_asked(
    memory: Memory,
) -> None:
    (memory.outbox / "a.edi").write_bytes(b"ISA*1")
    memory.run_until(lambda: [r.state for r in memory.rows()] == [SubmissionState.ARCHIVED])
    # Tracking is due every 0.1 s (outbound_support.FAST): give it several turns.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        memory.engine.step(threading.Event())
        memory.engine.wait(0.05)
    assert memory.server.calls[Op.TRACK] == 0
    assert [r.state for r in memory.rows()] == [SubmissionState.ARCHIVED]


@pytest.mark.parametrize("memory", [{"backend": IdLater}], indirect=True)
def test_a_receipt_without_an_id_is_located_and_recorded_not_sent_again(memory: Memory) -> None:
    (memory.outbox / "a.edi").write_bytes(b"ISA*1")
    with capture_logs() as logs:
        memory.run_until(lambda: [r.state for r in memory.rows()] == [SubmissionState.DELIVERED])
    events = [e["event"] for e in logs]
    assert "outbound.accepted_without_id" in events  # expected, not an error
    assert "outbound.unexpected_error" not in events
    [row] = memory.rows()
    [sent] = memory.server.sent()  # sent once
    assert row.message_id == sent.remote_id
    assert memory.server.calls[Op.LOCATE] >= 1


class Silent(MemoryBackend):
    """A backend whose lookups learn nothing: every row is left out of the answer."""

    def locate(
        self, station: str, partner: str, rows: Sequence[Doubt], **kw: Any
    ) -> dict[int, Located]:
        self.server.request(Op.LOCATE)
        return {}


def test_a_row_the_lookup_says_nothing_about_is_looked_up_again_later_not_at_every_step(
    tmp_path: Path,
) -> None:
    now = [time.time()]
    server = MemoryServer()
    config = make_config(tmp_path, "http://127.0.0.1:9/v1")
    ledger = open_ledger(config.state_dir)
    engine = OutboundEngine(config, ledger, Silent(server), clock=lambda: now[0])
    outbox = config.folders.root / STATION / "ACME" / "outbox"
    outbox.mkdir(parents=True)
    stop = threading.Event()
    try:
        engine.start()
        server.inject(Op.SUBMIT, Fault.AFTER)  # accepted, but the answer is lost
        (outbox / "a.edi").write_bytes(b"ISA*1")
        for _ in range(200):
            now[0] += 0.05
            engine.step(stop)
            with ledger.read() as s:
                if lo.count_in_states(s, [SubmissionState.IN_DOUBT]) and server.calls[Op.LOCATE]:
                    break
        asked = server.calls[Op.LOCATE]
        assert asked == 1
        for _ in range(20):  # the clock stands still: nothing is due again
            engine.step(stop)
        assert server.calls[Op.LOCATE] == asked
        now[0] += 120  # once it is due, it is asked again
        engine.step(stop)
        assert server.calls[Op.LOCATE] == asked + 1
    finally:
        engine.stop()
        ledger.close()
