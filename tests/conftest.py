"""Shared fixtures. The emulator fixtures start a real uvicorn server on 127.0.0.1.

``emulator``: a started emulator with the default test settings (:data:`EMULATOR_DEFAULTS`):
station MYSTATION, partners ACME (ok), LOOP (echo), DOWN (fail), no rate limit, small delays.
``make_emulator(**overrides)``: a factory for emulators with other settings (any
:class:`EmulatorSettings` field, plus ``clock=``); each is stopped at teardown.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from as2sync.config import Config, parse_config
from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec

EMULATOR_DEFAULTS = EmulatorSettings(
    user="demo@example.com",
    password="demo",
    stations=("MYSTATION",),
    partners=(
        PartnerSpec("ACME"),
        PartnerSpec("LOOP", behaviour="echo"),
        PartnerSpec("DOWN", behaviour="fail"),
    ),
    rate_limit=None,
    delivery_delay=0.05,
    echo_delay=0.05,
)

MakeEmulator = Callable[..., RunningEmulator]


@pytest.fixture
def make_emulator() -> Iterator[MakeEmulator]:
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> RunningEmulator:
            clock = overrides.pop("clock", time.time)
            settings = replace(EMULATOR_DEFAULTS, **overrides)
            return stack.enter_context(running_emulator(settings, clock=clock))

        yield make


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> RunningEmulator:
    return make_emulator()


def emulator_config(emulator: RunningEmulator, tmp_path: Path) -> Config:
    """A configuration for the v1 gateway ``emulator`` with the test account, parsed as
    ``as2sync`` parses it (the password from the environment, never written in the file)."""
    raw = {
        "gateway": {
            "url": emulator.base_url,
            "username": EMULATOR_DEFAULTS.user,
            "password": "${AS2SYNC_TEST_PASSWORD}",
            "timeout_seconds": 5,
        },
        "state_dir": str(tmp_path),
        "folders": {"root": str(tmp_path)},
    }
    return parse_config(raw, {"AS2SYNC_TEST_PASSWORD": EMULATOR_DEFAULTS.password})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs on two workers (``-n 2 --dist loadgroup``): the end-to-end tests go
    one after another on one worker, because each starts real daemon and gateway processes
    whose waits assume a core of their own, while everything else spreads over both."""
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("e2e"))
