"""The contract suite (tests/contract) against the MFT Gateway backend, through the MFT
emulator on loopback.

The emulator's clock is real time; the harness's clock (the one ``locate`` is given) is real
time plus an offset that :meth:`MftHarness.pass_time` moves, so the grace runs out without
waiting for it (a short real pause lets the emulator deliver).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from as2sync.backends.base import Backend
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.backend import MftBackend
from as2sync.backends.mftgateway.client import MftClient
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.settings import Faults
from tests.contract.suite import BackendContract, Files, Harness
from tests.mft.conftest import PASSWORD, USER, MakeMft

STATION, PARTNER, DOWN = "MYSTATION", "ACME", "DOWN"
PAGE_LENGTH = 5
GRACE = 60.0


class MftHarness(Harness):
    def __init__(self, emu: RunningMftEmulator) -> None:
        self.emu = emu
        self.offset = 0.0
        client = MftClient(
            emu.base_url,
            USER,
            PASSWORD,
            limiter=RateLimiter(1000, 1.0),
            retry=RetryPolicy(attempts=3, sleep=lambda s: None),
        )
        self.backend: Backend = MftBackend(client, page_length=PAGE_LENGTH)
        self.station, self.partner, self.failing_partner = STATION, PARTNER, DOWN
        self.grace = GRACE
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
        # The submit takes effect and a 5xx comes back: the outcome is unknown.
        return self._faults(Faults(error_after=1.0, endpoints=("send",)))

    def error_before(self) -> contextlib.AbstractContextManager[None]:
        # A 429 is refused before acting (a 5xx before the action looks like one after it).
        return self._faults(Faults(rate_limit_burst=1.0, endpoints=("send",)))

    def receive(self, files: Files, partner: str | None = None) -> str:
        return self.emu.state.seed_received(STATION, partner or PARTNER, list(files))

    def is_read(self, remote_id: str) -> bool:
        return self.exists(remote_id) and self.emu.state.is_read(remote_id)

    def exists(self, remote_id: str) -> bool:
        return remote_id in self.emu.state.received_ids()

    def withhold(self, remote_id: str) -> None:
        # MFT serves a message it no longer has as a 404 of its attachment listing.
        self.emu.state.delete("received", [remote_id])


class TestMftGatewayBackend(BackendContract):
    @pytest.fixture
    def harness(self, make_mft: MakeMft) -> Iterator[MftHarness]:
        harness = MftHarness(make_mft(delivery_delay=0.0, failed_attempts=1))
        yield harness
        harness.backend.close()
