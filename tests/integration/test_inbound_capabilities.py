"""The inbound engine branches on what a backend can do, never on which backend it is.

A backend whose server keeps no read flag is never asked to acknowledge (READ is committed
when the message is stored), and one that cannot delete is never asked to forget, even with
``delete_after_store``. The receiver here is the smallest one that speaks the seam: it lists
one message once and serves it through the engine's staging slots.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from structlog.testing import capture_logs

from as2sync.backends.as2gateway.capabilities import CAPABILITIES
from as2sync.backends.base import Attachment, Capabilities, Pending, Sink, Wanted
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger import inbound as li
from as2sync.ledger.db import open_ledger
from as2sync.ledger.inbound import InboundState
from tests.integration.inbound_support import inbox_files, make_config

NO_READ_FLAG = dataclasses.replace(CAPABILITIES, name="test", read_flag=False, deletes=False)


class OneMessage:
    """Lists ``<m@x>`` (one attachment) in its first pass only; serves it whole."""

    def __init__(self, capabilities: Capabilities) -> None:
        self.capabilities = capabilities
        self.calls: list[str] = []
        self._listed = False

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        if not self._listed:
            self._listed = True
            attachment = Attachment("order.edi", 5)
            yield [Pending("<m@x>", "ME", "ACME", 1_700_000_000_000, (attachment,))]

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        self.calls.append("download")
        slots = []
        for w in wanted:
            slot = sink.stage(w.key)
            slot.add_stream(0, io.BytesIO(b"ORDER"), w.attachments[0].size)
            slots.append(slot)
        sink.store(slots, acknowledged=[False] * len(slots))

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        raise AssertionError("not asked here")

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        self.calls.append("acknowledge")
        return set()

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        self.calls.append("forget")
        forgotten(remote_ids)


def test_without_a_read_flag_or_deletes_the_engine_only_downloads(tmp_path: Path) -> None:
    config = make_config(tmp_path, "https://unused.example", delete_after_store=True)
    ledger = open_ledger(config.state_dir)
    receiver = OneMessage(NO_READ_FLAG)
    try:
        engine = InboundEngine(config, ledger, receiver)
        engine.start()
        with capture_logs() as logs:
            assert engine.poll(threading.Event()) == 1
            assert engine.poll(threading.Event()) == 0
        assert receiver.calls == ["download"]
        with ledger.read() as s:
            (row,) = li.in_state(s, InboundState.READ)  # the ledger is the only memory
        assert row.message_id == "<m@x>"
        assert [e["via"] for e in logs if e["event"] == "inbound.marked_read"] == ["ledger"]
        assert inbox_files(config.folders.root) == {"ME/ACME/inbox/order.edi": b"ORDER"}
    finally:
        ledger.close()


def test_with_a_read_flag_and_deletes_the_engine_acknowledges_and_forgets(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "https://unused.example", delete_after_store=True)
    ledger = open_ledger(config.state_dir)
    receiver = OneMessage(dataclasses.replace(NO_READ_FLAG, read_flag=True, deletes=True))
    try:
        engine = InboundEngine(config, ledger, receiver)
        engine.start()
        assert engine.poll(threading.Event()) == 1
        assert receiver.calls == ["download", "acknowledge", "forget"]
        with ledger.read() as s:
            assert [r.message_id for r in li.in_state(s, InboundState.DELETED)] == ["<m@x>"]
    finally:
        ledger.close()


class OnePerRequest(OneMessage):
    """Lists nothing; forgets one ID per request."""

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        yield from ()

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        for remote_id in remote_ids:
            self.calls.append(f"forget {remote_id}")
            forgotten([remote_id])


def test_two_read_generations_of_one_message_are_each_recorded_deleted_once(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "https://unused.example", delete_after_store=True)
    ledger = open_ledger(config.state_dir)
    message = Pending("<m@x>", "ME", "ACME", 1_700_000_000_000, ())
    try:
        with ledger.transaction() as s:
            for generation in (1, 2):
                row = li.record_fetching(s, message, now=1.0, generation=generation)
                li.message_stored(s, [row.id], now=1.0)
                li.message_read(s, [row.id], now=1.0)
        receiver = OnePerRequest(dataclasses.replace(NO_READ_FLAG, read_flag=True, deletes=True))
        engine = InboundEngine(config, ledger, receiver)
        engine.start()
        assert engine.poll(threading.Event()) == 0
        assert receiver.calls == ["forget <m@x>", "forget <m@x>"]
        with ledger.read() as s:
            assert [r.generation for r in li.in_state(s, InboundState.DELETED)] == [1, 2]
    finally:
        ledger.close()


class AlwaysListed(OneMessage):
    """A server without a read flag: it lists ``<m@x>`` in every pass."""

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        self._listed = False
        yield from super().pending(stop)


def test_without_a_read_flag_a_stored_message_listed_again_is_never_stored_again(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, "https://unused.example", on_redelivery="store-again")
    ledger = open_ledger(config.state_dir)
    receiver = AlwaysListed(NO_READ_FLAG)
    try:
        engine = InboundEngine(config, ledger, receiver)
        engine.start()
        with capture_logs() as logs:
            assert engine.poll(threading.Event()) == 1
            assert engine.poll(threading.Event()) == 0
            assert engine.poll(threading.Event()) == 0
        assert receiver.calls == ["download"]
        assert not [e for e in logs if e["event"] == "inbound.redelivered"]
        with ledger.read() as s:
            (row,) = li.in_state(s, InboundState.READ)
        assert (row.generation, row.redeliveries) == (1, 0)
        assert inbox_files(config.folders.root) == {"ME/ACME/inbox/order.edi": b"ORDER"}
    finally:
        ledger.close()
