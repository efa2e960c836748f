"""The AS2 Gateway REST API v1 backend: its sending and receiving halves over one client.

Thin on purpose: :class:`~.sending.As2Sender` and :class:`~.receiving.As2Receiver` hold the
v1 strategies; this class only puts them behind one :class:`~as2sync.backends.base.Backend`
and adds what the operator commands ask of a backend (is a pair usable, the online check).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from as2sync.backends.as2gateway import online
from as2sync.backends.as2gateway.capabilities import CAPABILITIES
from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.receiving import As2Receiver
from as2sync.backends.as2gateway.sending import As2Sender
from as2sync.backends.base import (
    Capabilities,
)
from as2sync.backends.halves import Halves
from as2sync.backends.http.ratelimit import shared_limiter
from as2sync.config.schema import Config
from as2sync.folders.layout import PartnerDirs


class As2GatewayBackend(Halves):
    """One v1 client shared by both halves (and so one token and one rate limit)."""

    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self, client: As2GatewayClient, config: Config, clock: Callable[[], float]
    ) -> None:
        self.client = client
        limit = config.gateway.rate_limit
        # The process-wide limiter the factory gave the client (same arguments, same one).
        self._limiter = shared_limiter(limit.requests, limit.per_seconds)
        self._sender = As2Sender(client, config, clock)
        self._receiver = As2Receiver(client, config, clock)

    def close(self) -> None:
        self.client.close()

    # -- what the operator commands ask ---------------------------------------------------------

    def sendable_problems(self, station: str, partner: str) -> list[tuple[str, str]]:
        return online.sendable_problems(self.client, station, partner)

    def online_problems(self, pairs: Sequence[PartnerDirs]) -> list[str]:
        return online.online_problems(self.client, pairs)

    # -- what the daemon asks -------------------------------------------------------------------

    def wake(self) -> None:
        """After the stop event is set: wake the rate-limit waiters queued behind a pause
        (they do not watch the event themselves)."""
        self._limiter.wake()

    def requests_in_use(self) -> int:
        """Requests counted in the rate limit's current window (a metric)."""
        return self._limiter.in_use()
