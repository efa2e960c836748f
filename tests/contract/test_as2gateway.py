"""The contract suite against the AS2 Gateway v1 backend, through a real emulator on loopback.

The emulator's clock is real time; the harness's clock (the one the backend and ``locate``
are given) is real time plus an offset that :meth:`EmulatorHarness.pass_time` moves, so the
grace runs out without waiting for it (a short real pause lets the emulator deliver).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.backends.as2gateway.backend import As2GatewayBackend
from as2sync.backends.as2gateway.poller import PAGE_LENGTH
from as2sync.backends.base import Backend
from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from tests.conftest import MakeEmulator
from tests.contract.suite import BackendContract, Files, Harness
from tests.integration.outbound_support import fast_client, make_config

STATION, PARTNER, DOWN = "MYSTATION", "ACME", "DOWN"


class EmulatorHarness(Harness):
    def __init__(self, emu: RunningEmulator, base: Path) -> None:
        self.emu = emu
        self.offset = 0.0
        config = make_config(base, emu.base_url)
        self.backend: Backend = As2GatewayBackend(fast_client(emu.base_url), config, self.now)
        self.station, self.partner, self.failing_partner = STATION, PARTNER, DOWN
        self.grace = config.outbound.reconcile_grace_seconds
        self.page_length = PAGE_LENGTH

    def now(self) -> float:
        return time.time() + self.offset

    def pass_time(self, seconds: float) -> None:
        self.offset += seconds
        time.sleep(0.02)

    def submitted(self) -> list[tuple[str, Files]]:
        return [(s.message_id, tuple(s.attachments)) for s in self.emu.state.submissions()]

    @contextlib.contextmanager
    def _faults(self, faults: Faults) -> Iterator[None]:
        self.emu.state.set_faults(faults)
        try:
            yield
        finally:
            self.emu.state.set_faults(Faults())

    def unknown_outcome(self) -> contextlib.AbstractContextManager[None]:
        # The send takes effect and a 5xx comes back: it may have been a proxy after the
        # gateway acted, so the outcome is unknown.
        return self._faults(Faults(error_after=1.0, endpoints=("send",)))

    def error_before(self) -> contextlib.AbstractContextManager[None]:
        # A 429 is the v1 answer that provably did not take effect (a 5xx before the action
        # looks the same as one after it to the client).
        return self._faults(Faults(rate_limit_burst=1.0, endpoints=("send",)))

    def receive(self, files: Files, partner: str | None = None) -> str:
        return self.emu.state.seed_received(STATION, partner or PARTNER, list(files))

    def is_read(self, remote_id: str) -> bool:
        return self.exists(remote_id) and self.emu.state.is_read(remote_id)

    def exists(self, remote_id: str) -> bool:
        return remote_id in self.emu.state.received_ids()

    def withhold(self, remote_id: str) -> None:
        # The v1 gateway serves a message it no longer has as an error entry of the batch.
        self.emu.state.delete("received", [remote_id])


class TestAs2GatewayBackend(BackendContract):
    @pytest.fixture
    def harness(self, make_emulator: MakeEmulator, tmp_path: Path) -> Iterator[EmulatorHarness]:
        harness = EmulatorHarness(make_emulator(), tmp_path / "rig")
        yield harness
        harness.backend.close()
