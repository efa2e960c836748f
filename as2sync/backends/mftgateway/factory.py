"""Build the MFT backend the configuration describes: the registry's entry points
(:class:`as2sync.backends.registry.Registration`) for ``gateway.api: mftgateway``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from as2sync.backends.mftgateway import backend, online
from as2sync.backends.mftgateway.backend import MftBackend, Observer
from as2sync.backends.mftgateway.settings import MftGatewaySettings

if TYPE_CHECKING:
    from as2sync.config.schema import Config


def settings_of(config: Config) -> MftGatewaySettings:
    gateway = config.gateway
    if not isinstance(gateway, MftGatewaySettings):  # the registry chose by gateway.api
        raise TypeError(f"gateway.api is {gateway.api!r}, not mftgateway")
    return gateway


def make_backend(
    config: Config, *, observer: Observer | None = None, stop: threading.Event | None = None
) -> MftBackend:
    """The MFT backend over one client sharing the process-wide rate limiter."""
    return backend.make_backend(
        settings_of(config),
        config.password(),
        observer=observer,
        stop=stop,
        warn_days=config.certificates.warn_days,
    )


def address(config: Config) -> str:
    """The API's base URL, for ``as2sync status``."""
    return settings_of(config).url


def describe(config: Config) -> str:
    """Where and as whom, and what cannot be checked, for ``as2sync check`` (no secret)."""
    gateway = settings_of(config)
    return online.describe(gateway.url, gateway.username)


def secrets(config: Config) -> list[str]:
    """What the log scrubber must never let through."""
    return [config.password()]
