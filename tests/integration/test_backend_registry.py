"""The registry builds the backend ``gateway.api`` selects, from the configuration alone."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Union, get_args, get_origin

from pydantic import Tag

from as2sync.backends.as2gateway.backend import As2GatewayBackend
from as2sync.backends.registry import BACKENDS, PLANNED, make_backend, registration
from as2sync.config.schema import GatewayConfig
from as2sync.emulator.server import RunningEmulator
from tests.conftest import EMULATOR_DEFAULTS, emulator_config


def test_each_registration_is_selected_by_its_own_name() -> None:
    # The gateway section's union holds one model per registered backend, tagged with its
    # name (a union of one is flattened by typing into that member's Annotated).
    base = GatewayConfig.__origin__  # type: ignore[attr-defined]
    if get_origin(base) is Union:
        members = [(get_args(m)[0], m.__metadata__) for m in get_args(base)]
    else:
        members = [(base, GatewayConfig.__metadata__)]  # type: ignore[attr-defined]
    tags = {meta.tag: model for model, metas in members for meta in metas if isinstance(meta, Tag)}
    assert tags == {name: entry.settings for name, entry in BACKENDS.items()}
    for name, entry in BACKENDS.items():
        assert entry.capabilities.name == name
        assert entry.settings.model_fields["api"].default == name
        assert name not in PLANNED


def test_the_v1_backend_is_built_from_the_config_and_talks_to_the_gateway(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    config = emulator_config(emulator, tmp_path)
    assert registration(config).describe(config) == (
        f"{emulator.base_url} as {EMULATOR_DEFAULTS.user}"
    )
    assert registration(config).secrets(config) == [EMULATOR_DEFAULTS.password]
    seen: list[tuple[str, int | None]] = []
    stop = threading.Event()
    backend = make_backend(config, observer=lambda e, s, _t: seen.append((e, s)), stop=stop)
    try:
        assert isinstance(backend, As2GatewayBackend)
        assert backend.capabilities.name == "as2gateway"
        assert backend.capabilities.max_files_per_message == 10
        assert backend.sendable_problems("MYSTATION", "ACME") == []
        assert backend.sendable_problems("MYSTATION", "NOBODY") == [
            ("partner", "partner 'NOBODY' does not exist on the gateway")
        ]
    finally:
        backend.close()
    assert seen[:3] == [("authorize", 200), ("stations", 200), ("partners", 200)]
