"""Fixtures of the MFT Gateway tests: a started MFT emulator (API + object store) with the
shared test account, a manual clock, and authorised raw httpx clients."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from as2sync.emulator.mft.server import RunningMftEmulator, running_mft_emulator
from as2sync.emulator.mft.settings import MftSettings
from tests.conftest import EMULATOR_DEFAULTS

USER = "demo@example.com"
PASSWORD = "demo"

MakeMft = Callable[..., RunningMftEmulator]


class ManualClock:
    """An epoch-seconds clock that moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def make_mft() -> Iterator[MakeMft]:
    """``make_mft(mft=MftSettings(...), clock=..., **EmulatorSettings overrides)``."""
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> RunningMftEmulator:
            clock = overrides.pop("clock", time.time)
            mft = overrides.pop("mft", MftSettings())
            settings = replace(EMULATOR_DEFAULTS, **overrides)
            return stack.enter_context(running_mft_emulator(settings, mft, clock=clock))

        yield make


@pytest.fixture
def mft(make_mft: MakeMft) -> RunningMftEmulator:
    return make_mft()


def login(emu: RunningMftEmulator) -> dict[str, Any]:
    response = httpx.post(
        f"{emu.base_url}/authorize", json={"username": USER, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def api(mft: RunningMftEmulator) -> Iterator[httpx.Client]:
    """An httpx client on the default MFT emulator with a fresh token."""
    token = login(mft)["apiToken"]
    with httpx.Client(base_url=mft.base_url, headers={"Authorization": token}) as client:
        yield client
