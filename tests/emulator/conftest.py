"""Fixtures of the emulator conformance suite: authorised httpx clients and a manual clock."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from tests.conftest import MakeEmulator

USER = "demo@example.com"
PASSWORD = "demo"

# Loading the CA bundle costs ~40 ms per httpx.Client; the emulator is plain HTTP anyway.
SSL_CONTEXT = ssl.create_default_context()


def plain_client(base_url: str = "", headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client for the emulator (caller closes it)."""
    return httpx.Client(base_url=base_url, headers=headers, verify=SSL_CONTEXT, timeout=10)


class ManualClock:
    """An epoch-seconds clock that moves only when told (injected into the emulator state)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def token_for(emu: RunningEmulator) -> str:
    with plain_client(emu.base_url) as http:
        response = http.post("/authorize", json={"username": USER, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert isinstance(token, str)
    return token


ClientFor = Callable[[RunningEmulator], httpx.Client]


@pytest.fixture
def client_for() -> Iterator[ClientFor]:
    """``client_for(emu)``: an httpx client on ``emu.base_url`` with a fresh token."""
    with contextlib.ExitStack() as stack:

        def make(emu: RunningEmulator) -> httpx.Client:
            client = plain_client(emu.base_url, headers={"Authorization": token_for(emu)})
            return stack.enter_context(client)

        yield make


@pytest.fixture
def anon(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    """A client of the default ``emulator`` without a token."""
    with plain_client(emulator.base_url) as client:
        yield client


@pytest.fixture
def api(emulator: RunningEmulator, client_for: ClientFor) -> httpx.Client:
    """An authorised client of the default ``emulator``."""
    return client_for(emulator)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(make_emulator: MakeEmulator, clock: ManualClock) -> RunningEmulator:
    """The default emulator driven by ``clock`` (delivery 1 s, echo 1 s, 3 attempts)."""
    return make_emulator(clock=clock, delivery_delay=1.0, echo_delay=1.0)


@pytest.fixture
def capi(clocked: RunningEmulator, client_for: ClientFor) -> httpx.Client:
    """An authorised client of the ``clocked`` emulator."""
    return client_for(clocked)
