"""Build the v1 client and backend the configuration describes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from as2sync.backends.as2gateway.backend import As2GatewayBackend
from as2sync.backends.as2gateway.client import As2GatewayClient, Observer
from as2sync.backends.http.ratelimit import shared_limiter
from as2sync.config import Config


def make_gateway(
    config: Config, *, observer: Observer | None = None, stop: threading.Event | None = None
) -> As2GatewayClient:
    """An AS2 Gateway v1 client for ``config.gateway``; ``stop`` is the daemon's stop event
    (once set, no new request starts and every wait in the client ends).

    Every client built here shares the process-wide rate limiter, so two clients (e.g. the
    daemon's and one built by a reload) together still stay within ``gateway.rate_limit``.
    """
    gateway = config.gateway
    return As2GatewayClient(
        gateway.url,
        gateway.username,
        config.password(),
        limiter=shared_limiter(gateway.rate_limit.requests, gateway.rate_limit.per_seconds),
        timeout=gateway.timeout_seconds,
        verify=str(gateway.ca_file) if gateway.ca_file is not None else True,
        observer=observer,
        token_renew_seconds=gateway.token_renew_seconds,
        stop=stop,
    )


def make_backend(
    config: Config,
    *,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> As2GatewayBackend:
    """The v1 backend over a client from :func:`make_gateway`."""
    return As2GatewayBackend(make_gateway(config, observer=observer, stop=stop), config, clock)


def address(config: Config) -> str:
    """The API's base URL, for ``as2sync status``."""
    return config.gateway.url


def describe(config: Config) -> str:
    """Where and as whom, for ``as2sync check`` (no secret)."""
    return f"{config.gateway.url} as {config.gateway.username}"


def secrets(config: Config) -> list[str]:
    """What the log scrubber must never let through."""
    return [config.password()]
