"""The contract of :mod:`as2sync.backends.base`, as tests every backend must pass.

A backend's module subclasses :class:`BackendContract` and provides a ``harness`` fixture
(a :class:`Harness`). Each test states one contract point from base.py's docstrings; a test
that only applies to some capabilities says so by skipping on the capability, never on the
backend's type.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from as2sync.backends.base import (
    Backend,
    Content,
    Delivery,
    Doubt,
    Found,
    Located,
    OutboundFile,
    OutboundMessage,
    Pending,
    SentRef,
    Wanted,
)
from as2sync.errors import InvalidRequest, NotFound, TransientError, UnknownOutcome
from tests.contract.sink import DirSink

Files = tuple[tuple[str, bytes], ...]


class Harness(abc.ABC):
    """The test's hands on one backend's server."""

    backend: Backend
    station: str
    partner: str
    """A partner messages can be sent to and received from; its deliveries succeed."""
    failing_partner: str
    """A partner whose deliveries fail."""
    grace: float
    """The ``grace`` the tests pass to ``locate``."""
    page_length: int
    """How many messages one page of ``pending`` holds."""

    @abc.abstractmethod
    def now(self) -> float:
        """The engine's clock (epoch seconds)."""

    @abc.abstractmethod
    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` go by (a fake clock moves; a real server is waited for)."""

    @abc.abstractmethod
    def submitted(self) -> list[tuple[str, Files]]:
        """Every message the server accepted: its ID and the files it got."""

    @abc.abstractmethod
    def unknown_outcome(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, a submit takes effect and its answer is lost."""

    @abc.abstractmethod
    def error_before(self) -> contextlib.AbstractContextManager[None]:
        """Within the block, a submit fails before it takes effect."""

    @abc.abstractmethod
    def receive(self, files: Files, partner: str | None = None) -> str:
        """A message arrives for the account; its remote ID."""

    @abc.abstractmethod
    def is_read(self, remote_id: str) -> bool: ...

    @abc.abstractmethod
    def exists(self, remote_id: str) -> bool:
        """Whether the server still has this received message."""

    @abc.abstractmethod
    def withhold(self, remote_id: str) -> None:
        """The next download does not serve this message."""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def contents(files: Files) -> tuple[Content, ...]:
    return tuple(sorted(Content(name, len(data), sha(data)) for name, data in files))


def as_wanted(key: int, p: Pending, done: frozenset[int] = frozenset()) -> Wanted:
    return Wanted(
        key=key,
        remote_id=p.remote_id,
        station=p.station,
        partner=p.partner,
        persisted_ms=p.persisted_ms,
        attachments=p.attachments,
        done=done,
        remote=p.remote,
    )


class BackendContract:
    """Every backend passes these; see the module docstring."""

    @pytest.fixture
    def backend(self, harness: Harness) -> Backend:
        return harness.backend

    @pytest.fixture
    def sink(self, tmp_path: Path) -> DirSink:
        return DirSink(tmp_path / "sink")

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def message(
        harness: Harness, tmp_path: Path, files: Files, partner: str | None = None
    ) -> OutboundMessage:
        folder = tmp_path / "outbox"
        folder.mkdir(exist_ok=True)
        out = []
        for name, data in files:
            path = folder / f"{len(list(folder.iterdir()))}-{name}"
            path.write_bytes(data)
            out.append(OutboundFile(path, name, "application/edi-x12", len(data), sha(data)))
        station, partner = harness.station, partner or harness.partner
        remote = harness.backend.claim_remote(station, partner)
        return OutboundMessage(station, partner, out, remote=remote)

    @staticmethod
    def times_on_server(harness: Harness, files: Files) -> list[str]:
        """The IDs of the messages the server got with exactly these files."""
        return [rid for rid, got in harness.submitted() if contents(got) == contents(files)]

    @staticmethod
    def locate(
        harness: Harness,
        rows: Sequence[Doubt],
        *,
        attributed: Sequence[str] = (),
        now: float | None = None,
    ) -> dict[int, Located]:
        return harness.backend.locate(
            harness.station,
            harness.partner,
            rows,
            attributed=attributed,
            now=harness.now() if now is None else now,
            grace=harness.grace,
        )

    def locate_until_settled(
        self, harness: Harness, rows: Sequence[Doubt], *, attributed: Sequence[str] = ()
    ) -> list[dict[int, Located]]:
        """Look until no row waits (time passes between looks: past the grace, and past any
        later ``grace_ends`` the backend names); every answer, in order."""
        answers = []
        for _ in range(20):
            answer = self.locate(harness, rows, attributed=attributed)
            answers.append(answer)
            waiting = [loc for loc in answer.values() if loc.found is Found.WAIT]
            if not waiting:
                break
            ends = [loc.grace_ends for loc in waiting if loc.grace_ends is not None]
            step = max([harness.grace / 4, *(e - harness.now() for e in ends)])
            harness.pass_time(max(step, 0.05))
        return answers

    @staticmethod
    def one_owner_each(answers: list[dict[int, Located]]) -> None:
        """No remote ID is ever FOUND for two rows, and no row is FOUND with two IDs."""
        owners: dict[str, int] = {}
        ids: dict[int, str] = {}
        for answer in answers:
            for row, loc in answer.items():
                if loc.found is not Found.FOUND:
                    continue
                assert loc.remote_id is not None
                assert owners.setdefault(loc.remote_id, row) == row, (loc, owners)
                assert ids.setdefault(row, loc.remote_id) == loc.remote_id, (loc, ids)

    def pending_ids(self, backend: Backend) -> list[str]:
        return [p.remote_id for page in backend.pending(threading.Event()) for p in page]

    # -- sending ----------------------------------------------------------------------------

    def test_submit_returns_a_receipt_and_the_server_has_exactly_those_bytes_once(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        files = (("po-1.edi", b"ISA*00*first\n" * 50), ("po-2.edi", b""))
        receipt = harness.backend.submit(self.message(harness, tmp_path, files))
        on_server = self.times_on_server(harness, files)
        assert len(on_server) == 1
        if receipt.remote_id is not None:
            assert on_server == [receipt.remote_id]

    def test_a_message_beyond_the_capabilities_is_refused_before_anything_is_sent(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        caps = harness.backend.capabilities
        files = tuple((f"part-{n}.edi", b"p") for n in range(caps.max_files_per_message + 1))
        with pytest.raises(InvalidRequest):
            harness.backend.submit(self.message(harness, tmp_path, files))
        assert harness.submitted() == []

    def test_concurrent_submits_each_arrive_once(self, harness: Harness, tmp_path: Path) -> None:
        # The outbound engine submits from a small pool while its step thread locates.
        messages = [
            self.message(harness, tmp_path, ((f"pool-{n}.edi", f"pooled {n}".encode()),))
            for n in range(16)
        ]
        with ThreadPoolExecutor(4) as pool:
            receipts = list(pool.map(harness.backend.submit, messages))
        for n, receipt in enumerate(receipts):
            on_server = self.times_on_server(harness, ((f"pool-{n}.edi", f"pooled {n}".encode()),))
            assert len(on_server) == 1
            assert receipt.remote_id in (None, on_server[0])

    def test_a_submit_that_failed_before_taking_effect_leaves_nothing(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        files = (("po.edi", b"never arrives"),)
        with harness.error_before(), pytest.raises(TransientError):
            harness.backend.submit(self.message(harness, tmp_path, files))
        assert self.times_on_server(harness, files) == []

    def test_an_unknown_outcome_is_located_with_its_remote_id(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        files = (("invoice.edi", b"ISA*00*in doubt\n"),)
        started = harness.now()
        with harness.unknown_outcome(), pytest.raises(UnknownOutcome):
            harness.backend.submit(self.message(harness, tmp_path, files))
        [on_server] = self.times_on_server(harness, files)
        row = Doubt(7, started, contents(files))
        answers = self.locate_until_settled(harness, [row])
        assert answers[-1][7].found is Found.FOUND, answers
        assert answers[-1][7].remote_id == on_server
        self.one_owner_each(answers)

    def test_same_name_and_size_other_bytes_each_row_gets_its_own_message(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        first = (("fixed.edi", b"first  bytes"),)
        second = (("fixed.edi", b"second bytes"),)
        rows = []
        for n, files in enumerate((first, second), start=1):
            rows.append(Doubt(n, harness.now(), contents(files)))
            with harness.unknown_outcome(), pytest.raises(UnknownOutcome):
                harness.backend.submit(self.message(harness, tmp_path, files))
        answers = self.locate_until_settled(harness, rows)
        self.one_owner_each(answers)
        assert answers[-1][1].remote_id == self.times_on_server(harness, first)[0]
        assert answers[-1][2].remote_id == self.times_on_server(harness, second)[0]

    def test_one_message_is_never_given_to_two_rows(self, harness: Harness, tmp_path: Path) -> None:
        files = (("twice.edi", b"the same bytes claimed twice"),)
        rows = [Doubt(1, harness.now(), contents(files))]
        with harness.unknown_outcome(), pytest.raises(UnknownOutcome):
            harness.backend.submit(self.message(harness, tmp_path, files))
        rows.append(Doubt(2, harness.now(), contents(files)))
        with harness.error_before(), pytest.raises(TransientError):
            harness.backend.submit(self.message(harness, tmp_path, files))
        answers = self.locate_until_settled(harness, rows)
        self.one_owner_each(answers)
        final = answers[-1]
        [on_server] = self.times_on_server(harness, files)
        found = [loc.remote_id for loc in final.values() if loc.found is Found.FOUND]
        assert found in ([], [on_server]), final
        # The message is one of theirs: both sent again would put its bytes there twice more.
        assert not all(loc.found is Found.ABSENT for loc in final.values()), final

    def test_a_message_that_did_not_arrive_is_absent_only_after_the_grace(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        files = (("lost.edi", b"refused at the door"),)
        started = harness.now()
        with harness.error_before(), pytest.raises(TransientError):
            harness.backend.submit(self.message(harness, tmp_path, files))
        row = Doubt(3, started, contents(files))
        early = self.locate(harness, [row], now=started + harness.grace / 2)
        assert early[3].found is Found.WAIT, early
        answers = self.locate_until_settled(harness, [row])
        assert answers[-1][3].found is Found.ABSENT, answers
        assert harness.now() - started >= harness.grace

    def test_attributed_ids_are_never_matched(self, harness: Harness, tmp_path: Path) -> None:
        files = (("mine.edi", b"recorded by another row"),)
        started = harness.now()
        receipt = harness.backend.submit(self.message(harness, tmp_path, files))
        [remote_id] = self.times_on_server(harness, files)
        assert receipt.remote_id in (None, remote_id)
        answers = self.locate_until_settled(
            harness, [Doubt(4, started, contents(files))], attributed=[remote_id]
        )
        assert all(a[4].remote_id != remote_id for a in answers), answers
        assert answers[-1][4].found is not Found.FOUND

    def test_a_row_that_may_still_learn_its_id_is_not_settled_and_blocks_its_match(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        files = (("inflight.edi", b"a send still in flight elsewhere"),)
        in_flight = Doubt(5, harness.now(), contents(files), settle=False)
        doubt = Doubt(6, harness.now(), contents(files))
        with harness.unknown_outcome(), pytest.raises(UnknownOutcome):
            harness.backend.submit(self.message(harness, tmp_path, files))
        answers = self.locate_until_settled(harness, [in_flight, doubt])
        for answer in answers:
            assert 5 not in answer, answer
            assert answer[6].found is not Found.FOUND, answer

    def test_locate_is_idempotent(self, harness: Harness, tmp_path: Path) -> None:
        files = (("again.edi", b"asked twice"),)
        started = harness.now()
        with harness.unknown_outcome(), pytest.raises(UnknownOutcome):
            harness.backend.submit(self.message(harness, tmp_path, files))
        rows = [Doubt(8, started, contents(files))]
        answers = self.locate_until_settled(harness, rows)
        assert self.locate(harness, rows) == answers[-1]

    def test_track_reports_delivered_and_failed(self, harness: Harness, tmp_path: Path) -> None:
        if not harness.backend.capabilities.tracks_delivery:
            pytest.skip("this backend does not track delivery")
        refs = {}
        for n, partner in ((1, harness.partner), (2, harness.failing_partner)):
            files = ((f"track-{n}.edi", f"tracked {n}".encode()),)
            started = harness.now()
            receipt = harness.backend.submit(self.message(harness, tmp_path, files, partner))
            assert receipt.remote_id is not None
            refs[partner] = SentRef(n, receipt.remote_id, started, None, None, receipt.remote)
        final: dict[str, Delivery] = {}
        for _ in range(50):
            for partner, ref in refs.items():
                tracked = harness.backend.track(harness.station, partner, [ref]).get(ref.id)
                if tracked is not None:
                    final[partner] = tracked.delivery
                    # What the engine keeps of a pass and hands to the next one.
                    refs[partner] = replace(
                        ref,
                        delivery_status=tracked.delivery_status,
                        mdn_status=tracked.mdn_status,
                        remote={**ref.remote, **tracked.remote},
                    )
            if all(d is not Delivery.PENDING for d in final.values()) and len(final) == 2:
                break
            harness.pass_time(0.1)
        assert final == {
            harness.partner: Delivery.DELIVERED,
            harness.failing_partner: Delivery.FAILED,
        }

    # -- receiving --------------------------------------------------------------------------

    def test_pending_lists_what_is_unacknowledged_each_once_per_pass(
        self, harness: Harness
    ) -> None:
        seeded = {}
        for n in range(2 * harness.page_length + 1):
            files = ((f"in-{n}.edi", f"received {n}".encode()),)
            seeded[harness.receive(files)] = files
        listed = [p for page in harness.backend.pending(threading.Event()) for p in page]
        counts = Counter(p.remote_id for p in listed)
        assert set(counts) == set(seeded)
        assert set(counts.values()) == {1}
        for p in listed:
            assert (p.station, p.partner) == (harness.station, harness.partner)
            assert [(a.name, a.size) for a in p.attachments] == [
                (name, len(data)) for name, data in seeded[p.remote_id]
            ]

    def test_pending_hands_each_message_once_while_pages_are_acknowledged(
        self, harness: Harness
    ) -> None:
        seeded = {
            harness.receive(((f"ack-{n}.edi", b"x" * n),)) for n in range(harness.page_length + 2)
        }
        handed: Counter[str] = Counter()
        for page in harness.backend.pending(threading.Event()):
            handed.update(p.remote_id for p in page)
            harness.backend.acknowledge([p.remote_id for p in page])
        assert set(handed) == seeded
        assert set(handed.values()) == {1}

    def test_download_hands_each_message_to_exactly_one_outcome_bytes_identical(
        self, harness: Harness, sink: DirSink
    ) -> None:
        seeded = {
            harness.receive((("one.edi", b"A" * 1000),)): 1,
            harness.receive((("two-a.edi", b"B" * 10), ("two-b.edi", b"C" * 20_000))): 2,
            harness.receive((("empty.edi", b""),)): 3,
        }
        pending = {
            p.remote_id: p for page in harness.backend.pending(threading.Event()) for p in page
        }
        wanted = [as_wanted(key, pending[rid]) for rid, key in seeded.items()]
        harness.backend.download(wanted, sink, threading.Event())
        assert dict(sink.outcomes) == {k: ["store"] for k in seeded.values()}
        assert sink.stored(1) == {0: b"A" * 1000}
        assert sink.stored(2) == {0: b"B" * 10, 1: b"C" * 20_000}
        assert sink.stored(3) == {0: b""}
        for rid, key in seeded.items():
            if sink.acknowledged[key] and harness.backend.capabilities.read_flag:
                assert harness.is_read(rid), rid

    def test_download_never_writes_an_attachment_stored_already(
        self, harness: Harness, sink: DirSink
    ) -> None:
        rid = harness.receive((("a.edi", b"a" * 10), ("b.edi", b"b" * 20), ("c.edi", b"c" * 30)))
        [pending] = [p for page in harness.backend.pending(threading.Event()) for p in page]
        assert pending.remote_id == rid
        harness.backend.download(
            [as_wanted(9, pending, frozenset({0, 2}))], sink, threading.Event()
        )
        assert sink.outcomes == {9: ["store"]}
        assert [index for key, index in sink.written if key == 9] in ([], [1])
        assert sink.stored(9) == {1: b"b" * 20}

    def test_a_message_not_served_is_not_stored_and_not_acknowledged(
        self, harness: Harness, sink: DirSink
    ) -> None:
        kept = harness.receive((("kept.edi", b"kept"),))
        held = harness.receive((("held.edi", b"held back"),))
        pending = {
            p.remote_id: p for page in harness.backend.pending(threading.Event()) for p in page
        }
        harness.withhold(held)
        harness.backend.download(
            [as_wanted(1, pending[kept]), as_wanted(2, pending[held])], sink, threading.Event()
        )
        assert sink.outcomes[1] == ["store"]
        assert sink.outcomes[2] in (["not_served"], ["refused"])
        assert not harness.is_read(held)
        assert sink.stored(2) == {}

    def test_a_local_storage_failure_is_reported_for_that_message_alone(
        self, harness: Harness, sink: DirSink
    ) -> None:
        ok = harness.receive((("ok.edi", b"fine"),))
        full = harness.receive((("full.edi", b"disk full"),))
        pending = {
            p.remote_id: p for page in harness.backend.pending(threading.Event()) for p in page
        }
        sink.break_storage(2)
        harness.backend.download(
            [as_wanted(1, pending[ok]), as_wanted(2, pending[full])], sink, threading.Event()
        )
        assert sink.outcomes == {1: ["store"], 2: ["storage_failed"]}

    def test_a_stopped_download_hands_nothing_out_and_acknowledges_nothing(
        self, harness: Harness, sink: DirSink
    ) -> None:
        rid = harness.receive((("stop.edi", b"not now"),))
        [pending] = [p for page in harness.backend.pending(threading.Event()) for p in page]
        stop = threading.Event()
        stop.set()
        harness.backend.download([as_wanted(1, pending)], sink, stop)
        assert dict(sink.outcomes) == {}
        assert not harness.is_read(rid)

    def test_acknowledge_makes_a_message_leave_pending_and_is_idempotent(
        self, harness: Harness
    ) -> None:
        rid = harness.receive((("read.edi", b"read me"),))
        other = harness.receive((("other.edi", b"not me"),))
        assert harness.backend.acknowledge([rid]) == set()
        assert harness.backend.acknowledge([rid]) == set()
        listed = self.pending_ids(harness.backend)
        if harness.backend.capabilities.read_flag:
            assert harness.is_read(rid)
            assert listed == [other]
        else:
            assert sorted(listed) == sorted([rid, other])
        assert not harness.is_read(other)

    def test_acknowledge_tolerates_a_vanished_message(self, harness: Harness) -> None:
        if not harness.backend.capabilities.read_flag:
            pytest.skip("without a read flag acknowledge asks nothing")
        rid = harness.receive((("gone.edi", b"deleted meanwhile"),))
        if harness.backend.capabilities.deletes:
            harness.backend.forget([rid], lambda _ids: None)
        vanished = "<never-received@contract.test>"
        assert harness.backend.acknowledge([vanished]) == {vanished}
        if harness.backend.capabilities.deletes:
            assert harness.backend.acknowledge([rid]) == {rid}

    def test_forget_deletes_reports_each_request_and_is_idempotent(self, harness: Harness) -> None:
        if not harness.backend.capabilities.deletes:
            pytest.skip("this backend does not delete")
        ids = [harness.receive(((f"del-{n}.edi", b"d"),)) for n in range(3)]
        forgotten: list[str] = []
        harness.backend.forget(ids, forgotten.extend)
        assert sorted(forgotten) == sorted(ids)
        assert not any(harness.exists(rid) for rid in ids)
        again: list[str] = []
        harness.backend.forget(ids, again.extend)  # already gone: no error
        assert sorted(again) == sorted(ids)
        assert self.pending_ids(harness.backend) == []

    def test_lookup_finds_a_received_message_without_acknowledging_it(
        self, harness: Harness
    ) -> None:
        rid = harness.receive((("look.edi", b"look me up"), ("up.edi", b"")))
        found = harness.backend.lookup([rid])
        assert found.remote_id == rid
        assert (found.station, found.partner) == (harness.station, harness.partner)
        assert [(a.name, a.size) for a in found.attachments] == [("look.edi", 10), ("up.edi", 0)]
        assert not harness.is_read(rid)
        assert harness.backend.lookup(["<nothing-here@contract.test>", rid]).remote_id == rid

    def test_lookup_of_an_unknown_id_raises_not_found(self, harness: Harness) -> None:
        with pytest.raises(NotFound):
            harness.backend.lookup(["<nothing-here@contract.test>"])
