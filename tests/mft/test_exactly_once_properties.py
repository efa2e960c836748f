"""The exactly-once inbound property machine (tests/integration/test_exactly_once_properties.py)
against the MFT backend and the MFT emulator under reading (b) of issue 13, the harder one: the
list call itself marks what it returns read, so after a fault or a crash between a list answer
and the engine's recording only the backend's owed IDs (within a process) or the start-up
fetchAll walk (after a restart) find those messages.

The machine's per-step invariant "read on the gateway means stored or FETCHING in the ledger"
is v1's (its batch download marks read only after the ledger row is committed); under reading
(b) it does not hold between a list answer and the next poll by design, so this machine checks
at every step that nothing is stored twice and, at its end, that everything is stored exactly
once. One scenario, few examples (make test's budget)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.backend import MftBackend
from as2sync.backends.mftgateway.client import MftClient
from as2sync.emulator.mft.server import RunningMftEmulator, running_mft_emulator
from as2sync.emulator.mft.settings import MftSettings
from as2sync.emulator.settings import Faults
from as2sync.errors import GatewayError
from as2sync.inbound.engine import InboundEngine
from as2sync.ledger.db import open_ledger
from tests.conftest import EMULATOR_DEFAULTS
from tests.integration import inbound_support
from tests.integration.test_exactly_once_properties import (
    CLIENT_TIMEOUT,
    FAULTS,
    PROPERTY_SETTINGS,
    InboundMachine,
)
from tests.mft.conftest import PASSWORD, USER

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")

MFT_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=max(1, PROPERTY_SETTINGS.max_examples // 4))


class MftWorld:
    """The gateway as the MFT backend sees it: the MFT emulator on loopback, reading (b)."""

    def __init__(self, stack: ExitStack, overrides: dict[str, Any]) -> None:
        self._stack = stack
        self.emu: RunningMftEmulator = stack.enter_context(
            running_mft_emulator(EMULATOR_DEFAULTS, MftSettings(list_marks_read=True))
        )

    def set_fault(self, fault: str, seed: int) -> None:
        self.emu.state.set_faults(replace(FAULTS[fault], seed=seed))

    def clear_faults(self) -> None:
        self.emu.state.set_faults(Faults())

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

    def inbound_rig(
        self, rigs: inbound_support.Rigs, restart_from: inbound_support.Rig | None
    ) -> inbound_support.Rig:
        if restart_from is None:
            config = inbound_support.make_config(rigs.base, self.emu.base_url, poll_seconds=0.05)
        else:
            config = restart_from.config
            restart_from.ledger.close()
            restart_from.gateway.close()
        ledger = open_ledger(config.state_dir)
        self._stack.callback(ledger.close)
        client = MftClient(
            self.emu.base_url,
            USER,
            PASSWORD,
            limiter=RateLimiter(100_000, 1.0),
            timeout=CLIENT_TIMEOUT,
            retry=RetryPolicy(attempts=2, initial=0.001, maximum=0.001, sleep=lambda _s: None),
        )
        backend = MftBackend(client, page_length=4)
        self._stack.callback(backend.close)
        engine = InboundEngine(config, ledger, backend, clock=time.time)
        engine.start()
        return inbound_support.Rig(config, ledger, backend, engine, time.time)  # type: ignore[arg-type]


class MftInboundMachine(InboundMachine):
    world_type: ClassVar[Any] = MftWorld

    @rule()
    def poll_losing_list_answers(self) -> None:
        """Every list call acts (marks its answer read) and then fails: reading (b)'s window."""
        self.events.append("pass losing list answers")
        world: MftWorld = self.world  # type: ignore[assignment]
        world.emu.state.set_faults(Faults(error_after=1.0, endpoints=("list",)))
        try:
            self.rig.poll()
        except GatewayError:
            pass
        finally:
            world.clear_faults()

    @invariant()
    def read_means_stored_or_pending_and_nothing_stored_twice(self) -> None:
        stored = self._stored()
        twice = {k: n for k, n in stored.items() if n > 1}
        assert not twice, f"stored twice: {twice}; events: {self.events}"


@pytest.mark.timeout(600)
def test_mft_backend_reading_b_no_attachment_is_ever_stored_twice_and_none_is_lost() -> None:
    run_state_machine_as_test(MftInboundMachine, settings=MFT_SETTINGS)
