"""What every outbound step needs: configuration, ledger, the backend, a clock and counters.

The engine sends through ``backend`` only (:class:`as2sync.backends.base.Sending`: submit,
locate, track) and reads what it can do from its ``capabilities``; it never knows which
gateway API it drives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from as2sync.backends.base import Capabilities, Sending
from as2sync.config.schema import Config, OutboundConfig
from as2sync.folders.instance import instance_id
from as2sync.folders.layout import PartnerDirs, partner_dirs
from as2sync.ledger.db import Ledger
from as2sync.ledger.outbound import Submission
from as2sync.outbound.decide import FactsKey, claim_facts


class Counters:
    """Files sent and failed since start, for ``OutboundEngine.stats`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent_total = 0
        self.failed_total = 0
        self.last_send_at: float | None = None

    def sent(self, files: int, at: float) -> None:
        with self._lock:
            self.sent_total += files
            self.last_send_at = at

    def failed(self, files: int) -> None:
        with self._lock:
            self.failed_total += files


@dataclass(frozen=True)
class Context:
    config: Config
    ledger: Ledger
    backend: Sending
    clock: Callable[[], float]
    counters: Counters = field(default_factory=Counters)

    @property
    def outbound(self) -> OutboundConfig:
        return self.config.outbound

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    def facts(self, sub: Submission) -> FactsKey:
        """The row's claim facts as a key (:func:`~.decide.claim_facts`): rows are bundled,
        located and tracked together only with rows of equal keys."""
        keys = self.backend.claim_remote(sub.station, sub.partner).keys()
        return claim_facts(sub.remote, keys)

    @cached_property
    def instance(self) -> str:
        """This instance's id, part of every processing name it plans (see folders.instance)."""
        return instance_id(self.config.state_dir)

    def dirs(self, station: str, partner: str) -> PartnerDirs:
        return partner_dirs(self.config, station, partner)
