"""Receiving through the AS2 Gateway v1 API: drain the unread list, batch downloads, mark read.

(Being filled in by the backend-seam work: today's ``inbound/poller.py``, ``fetch.py``,
``plan.py``, ``truncation.py`` and ``zipread.py`` and the station resolution move here.)
"""

from __future__ import annotations

from collections.abc import Callable

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.config.schema import Config


class As2Receiver:
    """The :class:`~as2sync.backends.base.Receiver` half of the v1 backend."""

    def __init__(
        self, client: As2GatewayClient, config: Config, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._config = config
        self._clock = clock
