"""Property-based (Hypothesis, stateful) tests of the exactly-once machinery, both directions.

Hypothesis drives the real engines, ledger and folders against a real emulator on loopback
through any interleaving of these events, and shrinks a failing one to the shortest story:

* work arriving: files dropped into the outbox (some with content already sent: duplicates;
  some under the name and size of a file whose send is in doubt, with other bytes: the
  fixed-name exports that reconciliation must tell apart by content),
  messages received with one to three attachments (some too big for one batch: 206 partials),
  a message from another partner whose ID differs from an earlier one only by its ``<>``,
  a message the gateway shows unread again after it was stored (a redelivery);
* one engine pass under a fault: 5xx before or after the action, a dropped connection before
  or after it, a spurious 429, an expired token, or a response slower than the client's
  timeout (the action happens, the client never hears: a timeout of unknown outcome);
* a crash at any failpoint, at its first or second hit: the failpoint raises an exception
  nothing in as2sync catches, so no line after it runs, and a new engine is built on the same
  ledger and folders (a restart); or a clean restart.

Invariants, checked after every event: no content is ever submitted twice; every message ID
the ledger records carries that row's bytes on the gateway; a message the gateway shows as
read has all its attachments in the inbox (read-but-not-stored is loss); no attachment is
ever stored twice. At the end, with the faults off, everything completes: every
dropped file submitted once and in sent/ (a duplicate drop in failed/), every attachment
stored once and byte-identical, every message read.

Every backend runs under it: the AS2 Gateway v1 backend against the emulator (which speaks
the real protocol, so faults are HTTP faults; every scenario), and the in-memory reference
backend (:mod:`as2sync.backends.memory`; one scenario per direction at half the examples, to
keep ``make test`` within its budget), whose knobs stand in for the same faults
(:data:`MEMORY_FAULTS`) and whose downloads mark read as v1's batches do, the case where a
crash between download and store would lose a message.

The crash tests of the real process (tests/e2e) SIGKILL it; these explore far more orders.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from as2sync import failpoints
from as2sync.backends.memory import Fault, MemoryBackend, MemoryServer, Op
from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import Faults
from as2sync.errors import GatewayError
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger import inbound as li
from as2sync.ledger.db import open_ledger
from as2sync.ledger.inbound import InboundState
from as2sync.outbound.engine import OutboundEngine
from tests.conftest import EMULATOR_DEFAULTS
from tests.integration import inbound_support, outbound_support

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")

CLIENT_TIMEOUT = 0.3
FAULTS: dict[str, Faults] = {
    "none": Faults(),
    "error_before": Faults(error_before=1.0),
    "error_after": Faults(error_after=1.0),
    "drop": Faults(drop=1.0),
    "drop_after": Faults(drop_after=1.0),
    "rate_limit_burst": Faults(rate_limit_burst=1.0),
    "token_expiry": Faults(token_expiry=1.0),
    "timeout": Faults(latency=CLIENT_TIMEOUT + 0.2),
    "truncate": Faults(truncate=1.0),
}
MEMORY_FAULTS: dict[str, Fault | None] = {
    "none": None,
    "error_before": Fault.BEFORE,
    "error_after": Fault.AFTER,
    "drop": Fault.BEFORE,
    "drop_after": Fault.AFTER,
    "rate_limit_burst": Fault.BEFORE,
    "token_expiry": None,  # the v1 client renews its token; nothing the seam sees
    "timeout": Fault.AFTER,  # the action happens, the answer never comes
    "truncate": None,  # downloads cut short: MemoryWorld.set_fault
}
"""The memory backend's knob for each of :data:`FAULTS` (every call of a pass gets it)."""
MEMORY_URL = "https://memory.invalid/v1"  # in the config only; the memory backend needs none
OUT_POINTS = sorted(
    p for p in ("after_claim_commit", "after_rename", "after_submitting_commit", "after_202",
                "after_archive_link")
)  # fmt: skip
IN_POINTS = sorted(
    p for p in ("after_fetching_commit", "after_download", "after_link", "after_planned",
                "after_stored", "before_mark_read")
)  # fmt: skip
CRASH_STEPS = 12  # passes tried for an armed point to be reached before it is given up
DRAIN_SECONDS = 30.0

# Each example runs real engines against a real server, so examples are few and long; set
# AS2SYNC_PROPERTY_EXAMPLES=200 for a deep run (and --hypothesis-show-statistics to see which
# crash points fired).
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("AS2SYNC_PROPERTY_EXAMPLES", "8")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)


# The memory backend's machines run half as many examples: they exist to prove the seam (every
# backend under the same machine), and make test has a 15-minute budget on two cores.
MEMORY_SETTINGS = settings(
    PROPERTY_SETTINGS, max_examples=max(1, PROPERTY_SETTINGS.max_examples // 2)
)


class SimulatedCrash(BaseException):
    """Raised at an armed failpoint. A BaseException: as2sync's ``except Exception`` handlers
    (which keep a daemon alive through bugs) do not catch it, so it unwinds like a kill."""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EmulatorWorld:
    """The gateway as the v1 backend sees it: a real emulator on loopback."""

    def __init__(self, stack: ExitStack, overrides: dict[str, Any]) -> None:
        settings_ = replace(EMULATOR_DEFAULTS, **overrides)
        self.emu: RunningEmulator = stack.enter_context(running_emulator(settings_))

    def set_fault(self, fault: str, seed: int) -> None:
        self.emu.state.set_faults(replace(FAULTS[fault], seed=seed))

    def clear_faults(self) -> None:
        self.emu.state.set_faults(Faults())

    def submitted(self) -> list[tuple[str, list[tuple[str, bytes]]]]:
        return [(s.message_id, s.attachments) for s in self.emu.state.submissions()]

    def receive(
        self, partner: str, attachments: list[tuple[str, bytes]], message_id: str | None = None
    ) -> str:
        return self.emu.state.seed_received(
            "MYSTATION", partner, attachments, message_id=message_id
        )

    def is_read(self, message_id: str) -> bool:
        return self.emu.state.is_read(message_id)

    def set_read(self, message_id: str, read: bool) -> None:
        self.emu.state.set_read(message_id, read)

    def outbound_rig(self, base: Path, outbound: dict[str, Any]) -> outbound_support.Rig:
        return outbound_support.Rig(base, self.emu, outbound, timeout=CLIENT_TIMEOUT)

    def inbound_rig(
        self, rigs: inbound_support.Rigs, restart_from: inbound_support.Rig | None
    ) -> inbound_support.Rig:
        if restart_from is None:
            return rigs.make(self.emu.base_url, poll_seconds=0.05)
        return rigs.restart(restart_from)


class MemoryWorld:
    """The gateway as the memory backend sees it: a :class:`MemoryServer` in this process,
    on the engine's clock (``locate`` compares its acceptance times with the engine's)."""

    def __init__(self, stack: ExitStack, overrides: dict[str, Any]) -> None:
        self.server = MemoryServer(partners=("ACME", "LOOP"), mark_read_on_download=True)
        self._stack = stack
        self._ids: list[str] = []

    def set_fault(self, fault: str, seed: int) -> None:
        knob = MEMORY_FAULTS[fault]
        if knob is not None:
            for op in Op:
                self.server.inject(op, knob, times=1_000_000)
        if fault == "truncate":
            for message_id in self._received:
                self.server.cut_short(message_id, times=1_000_000)

    def clear_faults(self) -> None:
        self.server.clear_faults()

    @property
    def _received(self) -> list[str]:
        return [m for m in self._ids if self.server.received(m) is not None]

    def submitted(self) -> list[tuple[str, list[tuple[str, bytes]]]]:
        return [(m.remote_id, list(m.files)) for m in self.server.sent()]

    def receive(
        self, partner: str, attachments: list[tuple[str, bytes]], message_id: str | None = None
    ) -> str:
        rid = self.server.receive("MYSTATION", partner, attachments, remote_id=message_id)
        self._ids.append(rid)
        return rid

    def is_read(self, message_id: str) -> bool:
        return self.server.is_read(message_id)

    def set_read(self, message_id: str, read: bool) -> None:
        self.server.set_read(message_id, read)

    def outbound_rig(self, base: Path, outbound: dict[str, Any]) -> outbound_support.Rig:
        return MemoryOutboundRig(base, None, outbound, world=self)  # type: ignore[arg-type]

    def inbound_rig(
        self, rigs: inbound_support.Rigs, restart_from: inbound_support.Rig | None
    ) -> inbound_support.Rig:
        if restart_from is None:
            config = inbound_support.make_config(rigs.base, MEMORY_URL, poll_seconds=0.05)
        else:
            config = restart_from.config
            restart_from.ledger.close()
        ledger = open_ledger(config.state_dir)
        self._stack.callback(ledger.close)
        backend = MemoryBackend(self.server)
        engine = InboundEngine(config, ledger, backend, clock=time.time)
        engine.start()
        return inbound_support.Rig(config, ledger, backend, engine, time.time)  # type: ignore[arg-type]


@dataclass
class MemoryOutboundRig(outbound_support.Rig):
    """The outbound rig with the memory backend instead of a client of the emulator."""

    world: MemoryWorld | None = None

    def __post_init__(self) -> None:
        assert self.world is not None
        self.config = outbound_support.make_config(self.base, MEMORY_URL, **self.outbound)
        self.root = self.config.folders.root
        self.ledger = open_ledger(self.config.state_dir)
        self.world.server.clock = self.clock  # one clock for the server and the engine
        self.gateway = MemoryBackend(self.world.server)  # type: ignore[assignment]
        self.engine = self._engine()
        self.stop_event = threading.Event()
        self.dirs("ACME")

    def _engine(self) -> OutboundEngine:
        assert self.world is not None
        backend = MemoryBackend(self.world.server)
        return OutboundEngine(self.config, self.ledger, backend, clock=self.clock)


World = EmulatorWorld | MemoryWorld


class _Machine(RuleBasedStateMachine):
    """What both machines share: their own gateway (``world``) and temp dir, and faults."""

    emulator_overrides: ClassVar[dict[str, Any]] = {}
    world_type: ClassVar[type[World]] = EmulatorWorld

    def __init__(self) -> None:
        super().__init__()
        self._stack = ExitStack()
        self.base = Path(tempfile.mkdtemp(prefix="as2sync-prop-"))
        self._stack.callback(shutil.rmtree, self.base, ignore_errors=True)
        self.world: World = self.world_type(self._stack, self.emulator_overrides)
        self.events: list[str] = []

    def pass_under(self, fault: str, one_pass: Callable[[], object]) -> None:
        """One engine pass while the gateway injects ``fault`` into every request."""
        self.events.append(f"pass under {fault}")
        self.world.set_fault(fault, seed=len(self.events))
        try:
            one_pass()
        except GatewayError:
            pass  # what the daemon's loop does too: back off and go on
        finally:
            self.world.clear_faults()

    def crash_at(self, spec: str, one_pass: Callable[[], object]) -> None:
        """Arm ``spec``, run passes until it fires (or :data:`CRASH_STEPS` passes), disarm.

        The point may fire in the caller's thread or in an outbound worker; either way that
        thread unwinds without running another line of as2sync, and the caller stops making
        passes, so the engine is left exactly as a kill there would leave its ledger and files.
        """
        crashed = threading.Event()

        def on_hit(name: str) -> None:
            crashed.set()
            raise SimulatedCrash(name)

        failpoints.arm(spec, on_hit=on_hit)
        try:
            for _ in range(CRASH_STEPS):
                with contextlib.suppress(GatewayError):  # the daemon's loop backs off and goes on
                    one_pass()
                if crashed.is_set():
                    break
        except SimulatedCrash:
            pass
        finally:
            failpoints.arm("")
        fired = "fired" if crashed.is_set() else "not reached"
        self.events.append(f"crash at {spec}: {fired}")
        event(f"{spec.partition('@')[0]}: {fired}")

    def teardown(self) -> None:
        failpoints.arm("")
        self._stack.close()


# --------------------------------------------------------------------------------- outbound


class OutboundMachine(_Machine):
    outbound: ClassVar[dict[str, Any]] = {"max_in_flight": 1}

    def __init__(self) -> None:
        super().__init__()
        self.rig = self.world.outbound_rig(
            self.base, {**self.outbound, "reconcile_grace_seconds": 0.3}
        )
        self._stack.callback(self.rig.close)
        self.rig.start()
        self.dropped: dict[str, bytes] = {}  # label (the name, or name#n) -> content
        self.duplicates: set[str] = set()  # labels dropped with content dropped before

    def _submitted(self) -> Counter[str]:
        """How often each content was submitted to the gateway (sha256 -> count)."""
        return Counter(sha(data) for _id, files in self.world.submitted() for _name, data in files)

    @initialize()
    def first_file(self) -> None:
        self.drop(10)

    @rule(size=st.sampled_from([0, 10, 3_000]))
    def drop(self, size: int) -> None:
        name = f"po-{len(self.dropped):03}.edi"
        data = f"{self.base.name} {name}\n".encode() + b"x" * size
        self.rig.drop(name, data)
        self.dropped[name] = data
        self.events.append(f"drop {name}")

    @precondition(lambda self: bool(self.dropped))
    @rule(data=st.data())
    def drop_same_content_again(self, data: st.DataObject) -> None:
        original = data.draw(st.sampled_from(sorted(self.dropped)))
        name = f"po-{len(self.dropped):03}-again.edi"
        self.rig.drop(name, self.dropped[original])
        self.dropped[name] = self.dropped[original]
        self.duplicates.add(name)
        self.events.append(f"drop {name} = {original}")

    @rule(
        doubt=st.sampled_from(["error_before", "error_after", "drop", "drop_after", "timeout"]),
        crash=st.booleans(),
    )
    def same_name_and_size_other_bytes_after_a_doubt(self, doubt: str, crash: bool) -> None:
        """A send ends in doubt; a file of the same name and size but other bytes follows (and
        the process may die between its 202 and the commit): two rows in doubt that only the
        bytes tell apart."""
        name = f"fixed-{len(self.dropped):03}.edi"
        first = f"{self.base.name} first  {name}\n".encode()
        second = f"{self.base.name} second {name}\n".encode()
        assert len(first) == len(second)
        self._drop_as(name, first)
        for _ in range(CRASH_STEPS):
            self.pass_under(doubt, self.rig.step)
            if not (self.rig.dirs().outbox / name).exists():
                break
            self.rig.offset += 0.2  # let it settle
        self._drop_as(name, second)
        if crash:
            self.crash_at("outbound.after_202@1", self.rig.step)
            self.rig.restart()

    def _drop_as(self, name: str, data: bytes) -> None:
        label = name if name not in self.dropped else f"{name}#{len(self.dropped)}"
        if (self.rig.dirs().outbox / name).exists():
            return  # the first is still waiting: replacing it is not this story
        self.rig.drop(name, data)
        self.dropped[label] = data
        self.events.append(f"drop {name} ({data[-20:]!r})")

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def step(self, fault: str) -> None:
        self.pass_under(fault, self.rig.step)
        self.rig.offset += 0.5  # let back-off and reconcile grace run out between events

    @rule(point=st.sampled_from(OUT_POINTS), nth=st.integers(1, 2))
    def crash(self, point: str, nth: int) -> None:
        def one_pass() -> None:
            if not self.rig.step():
                self.rig.offset += 0.5

        self.drop(100)  # work that passes every point, whatever state the rest is in
        self.crash_at(f"outbound.{point}@{nth}", one_pass)
        self.rig.restart()

    @rule()
    def restart(self) -> None:
        self.events.append("restart")
        self.rig.restart()

    @invariant()
    def nothing_submitted_twice(self) -> None:
        twice = {k: n for k, n in self._submitted().items() if n > 1}
        assert not twice, f"submitted twice: {twice}; events: {self.events}"

    @invariant()
    def every_recorded_message_carries_its_rows_bytes(self) -> None:
        on_gateway = {
            message_id: sorted(sha(data) for _name, data in files)
            for message_id, files in self.world.submitted()
        }
        for row in self.rig.rows():
            if row.message_id is None:
                continue
            claimed = sorted(f.sha256 or "" for f in row.files)
            assert on_gateway.get(row.message_id) == claimed, (
                f"row {row.id} ({row.names}) recorded as {row.message_id}, which carries other "
                f"bytes; events: {self.events}"
            )

    def teardown(self) -> None:
        try:
            self._drain_and_check()
        finally:
            super().teardown()

    def _drain_and_check(self) -> None:
        originals = {n: d for n, d in self.dropped.items() if n not in self.duplicates}

        def in_sent() -> list[bytes]:
            sent = self.rig.dirs().sent
            return sorted(p.read_bytes() for p in sent.iterdir()) if sent.exists() else []

        def done() -> bool:
            self.rig.offset += 0.2
            refused = self.duplicates <= set(self.rig.names("failed"))
            return refused and len(in_sent()) >= len(originals)

        self.rig.run_until(done, timeout=DRAIN_SECONDS)
        submitted = self._submitted()
        for name, data in originals.items():
            assert submitted[sha(data)] == 1, f"{name} submitted {submitted[sha(data)]}x"
        assert in_sent() == sorted(originals.values()), "sent/ does not hold each file once"
        for name in self.duplicates:
            assert name in self.rig.names("failed"), f"duplicate {name} not refused"
        assert not self.rig.names("outbox"), self.rig.names("outbox")
        assert not list(self.rig.dirs().processing.iterdir())


class BundledOutboundMachine(OutboundMachine):
    """Files that arrive together go as one message, two messages in flight: claims are
    merged into bundles, and a bundle's outcome settles several files at once."""

    outbound: ClassVar[dict[str, Any]] = {"max_in_flight": 2, "bundle_max_files": 3}


# ---------------------------------------------------------------------------------- inbound


class InboundMachine(_Machine):
    # Attachments of 30 kB against a 40 KiB batch: bigger messages come in 206 partials.
    # Batch-zip folders without <>: bracket twins (below) could then share a folder name.
    emulator_overrides: ClassVar[dict[str, Any]] = {
        "batch_limit_bytes": 40 * 1024,
        "batch_folder_brackets": False,
    }

    def __init__(self) -> None:
        super().__init__()
        self.rigs = self._stack.enter_context(
            inbound_support.Rigs(self.base, timeout=CLIENT_TIMEOUT)
        )
        self.rig = self.world.inbound_rig(self.rigs, None)
        self.attachments: dict[str, list[bytes]] = {}  # message id -> attachment contents

    def _stored(self) -> Counter[str]:
        return Counter(sha(data) for data in self.rig.files().values())

    @initialize()
    def first_message(self) -> None:
        self.receive(2, 100)

    @rule(count=st.integers(1, 3), size=st.sampled_from([0, 100, 30_000]))
    def receive(self, count: int, size: int) -> None:
        k = len(self.attachments)
        contents = [
            f"{self.base.name} message {k} part {j}\n".encode() + b"y" * size for j in range(count)
        ]
        attachments = [(f"in-{k:03}-{j}.edi", data) for j, data in enumerate(contents)]
        message_id = self.world.receive("ACME", attachments)
        self.attachments[message_id] = contents
        self.events.append(f"receive {message_id} ({count} x {size} B)")

    @precondition(lambda self: any(m.strip("<>") not in self.attachments for m in self.attachments))
    @rule(data=st.data())
    def receive_bracket_twin(self, data: st.DataObject) -> None:
        # IDs are opaque: one that differs from an earlier one only by its <> is another
        # message (here from another partner), stored on its own.
        ids = sorted(m for m in self.attachments if m.strip("<>") not in self.attachments)
        twin = data.draw(st.sampled_from(ids)).strip("<>")
        contents = [f"{self.base.name} twin {twin}\n".encode()]
        name = f"twin-{len(self.attachments):03}.edi"
        self.world.receive("LOOP", [(name, contents[0])], message_id=twin)
        self.attachments[twin] = contents
        self.events.append(f"receive {twin} from LOOP (bracket twin)")

    @precondition(lambda self: any(self.world.is_read(m) for m in self.attachments))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        read = sorted(m for m in self.attachments if self.world.is_read(m))
        message_id = data.draw(st.sampled_from(read))
        self.world.set_read(message_id, False)
        self.events.append(f"unread again {message_id}")

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def poll(self, fault: str) -> None:
        self.pass_under(fault, self.rig.poll)
        time.sleep(0.01)

    @rule(point=st.sampled_from(IN_POINTS), nth=st.integers(1, 2))
    def crash(self, point: str, nth: int) -> None:
        self.receive(2, 30_000)  # work that passes every point (a 206 on the way)
        self.crash_at(f"inbound.{point}@{nth}", self.rig.poll)
        self.rig = self.world.inbound_rig(self.rigs, self.rig)

    @rule()
    def restart(self) -> None:
        self.events.append("restart")
        self.rig = self.world.inbound_rig(self.rigs, self.rig)

    @invariant()
    def read_means_stored_or_pending_and_nothing_stored_twice(self) -> None:
        stored = self._stored()
        twice = {k: n for k, n in stored.items() if n > 1}
        assert not twice, f"stored twice: {twice}; events: {self.events}"
        for message_id, contents in self.attachments.items():
            if not self.world.is_read(message_id):
                continue
            missing = [j for j, d in enumerate(contents) if not stored[sha(d)]]
            if not missing:
                continue
            # The batch download marks read on the gateway; the ledger's FETCHING row,
            # committed before it, is then the only memory of the message, and must be there.
            with self.rig.ledger.read() as s:
                row = li.latest(s, message_id)
                state = None if row is None else row.state
            assert state == InboundState.FETCHING, (
                f"{message_id} is read, attachments {missing} are not in the inbox, and the "
                f"ledger has it {state}: lost; events: {self.events}"
            )

    def teardown(self) -> None:
        try:
            self._drain_and_check()
        finally:
            super().teardown()

    def _drain_and_check(self) -> None:
        def done() -> bool:
            stored = self._stored()
            return all(
                self.world.is_read(m) and all(stored[sha(d)] for d in contents)
                for m, contents in self.attachments.items()
            )

        deadline = time.monotonic() + DRAIN_SECONDS
        while not done():
            assert time.monotonic() < deadline, f"not all stored and read; {self.events}"
            self.rig.poll()
            time.sleep(0.05)
        stored = self._stored()
        for message_id, contents in self.attachments.items():
            for j, data in enumerate(contents):
                assert stored[sha(data)] == 1, f"{message_id} part {j}: {stored[sha(data)]}x"
        assert not inbound_support.work_files(self.rig.root), "temp files left behind"


@pytest.mark.timeout(600)
def test_no_file_is_ever_submitted_twice_and_none_is_lost() -> None:
    run_state_machine_as_test(OutboundMachine, settings=PROPERTY_SETTINGS)


@pytest.mark.timeout(600)
def test_no_file_is_ever_submitted_twice_in_bundles_and_none_is_lost() -> None:
    run_state_machine_as_test(BundledOutboundMachine, settings=PROPERTY_SETTINGS)


@pytest.mark.timeout(600)
def test_no_attachment_is_ever_stored_twice_and_none_is_lost() -> None:
    run_state_machine_as_test(InboundMachine, settings=PROPERTY_SETTINGS)


class MemoryOutboundMachine(OutboundMachine):
    world_type = MemoryWorld


class MemoryInboundMachine(InboundMachine):
    world_type = MemoryWorld


@pytest.mark.timeout(600)
def test_memory_backend_no_file_is_ever_submitted_twice_and_none_is_lost() -> None:
    run_state_machine_as_test(MemoryOutboundMachine, settings=MEMORY_SETTINGS)


@pytest.mark.timeout(600)
def test_memory_backend_no_attachment_is_ever_stored_twice_and_none_is_lost() -> None:
    run_state_machine_as_test(MemoryInboundMachine, settings=MEMORY_SETTINGS)
