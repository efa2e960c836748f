"""Sending through the AS2 Gateway v1 API: submit, locate after an unknown outcome, track.

(Being filled in by the backend-seam work: today's ``outbound/reconcile.py`` listing and
matching and ``outbound/tracking.py`` move here.)
"""

from __future__ import annotations

from collections.abc import Callable

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.config.schema import Config


class As2Sender:
    """The :class:`~as2sync.backends.base.Sender` half of the v1 backend."""

    def __init__(
        self, client: As2GatewayClient, config: Config, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._config = config
        self._clock = clock
