"""Sending through the AS2 Gateway v1 API: submit, locate after an unknown outcome, track.

The :class:`~as2sync.backends.base.Sender` half of the v1 backend. A claim records the
partnership's partner type (``partner_type``: v1's lists and partners are per type); a
submit is one multipart POST; a send of unknown outcome is located by listing and comparing
bytes (:mod:`.locating`, rules in :mod:`.matching`), with a grace as long as the partner's
``sendTimeout`` allows (:mod:`.partners`); delivery is read from the sent, failed and queued
lists (:mod:`.tracking`, rules in :mod:`.delivery`), the failed-list count kept as the
row's ``gateway_failed_seen`` fact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from as2sync.backends.as2gateway import tracking
from as2sync.backends.as2gateway.capabilities import CAPABILITIES
from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.locating import PARTNER_TYPE, Locator, partner_type
from as2sync.backends.as2gateway.model import Gateway
from as2sync.backends.base import (
    Capabilities,
    Doubt,
    Located,
    OutboundMessage,
    Receipt,
    Remote,
    SentRef,
    Tracked,
)
from as2sync.config.schema import Config


class As2Sender:
    """The :class:`~as2sync.backends.base.Sender` half of the v1 backend (thread-safe: the
    client is; the partners' sendTimeouts are kept under a lock)."""

    capabilities: Capabilities = CAPABILITIES

    def __init__(
        self, client: As2GatewayClient | Gateway, config: Config, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._config = config
        self._locator = Locator(client, clock)

    def claim_remote(self, station: str, partner: str) -> Remote:
        return {PARTNER_TYPE: self._config.partnership(station, partner).partner_type.value}

    def submit(self, message: OutboundMessage) -> Receipt:
        message_id = self._client.submit(
            message.station,
            message.partner,
            message.files,
            subject=message.subject,
            partner_type=partner_type(message.remote),
        )
        return Receipt(message_id)

    def locate(
        self,
        station: str,
        partner: str,
        rows: Sequence[Doubt],
        *,
        attributed: Iterable[str],
        now: float,
        grace: float,
        stop: threading.Event | None = None,
    ) -> dict[int, Located]:
        return self._locator.locate(
            station, partner, rows, attributed=attributed, now=now, grace=grace, stop=stop
        )

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        return tracking.track(self._client, station, partner, sent)
