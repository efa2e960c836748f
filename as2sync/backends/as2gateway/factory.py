"""Build the gateway client the configuration describes."""

from __future__ import annotations

import threading

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
