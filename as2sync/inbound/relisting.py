"""When and how far back the engine asks a :class:`~as2sync.backends.base.Relisting` backend
for messages its list calls may have hidden (MFT Gateway, reading (b) of issue 13).

The backend is asked before each poll lists anything new: for what its own list calls hid in
this process (say, a lookup failed after the list answer) at every poll, and for a walk of
what the server has at the first poll of a process (and at each later one until a walk
completes: a poll that lists first could record newer messages ahead of what a killed process
lost), at the poll after one whose listing failed (an answer lost after the server acted:
nothing but a walk finds what it hid) and then every :data:`RELIST_INTERVAL` seconds. For a
walk the backend is
told which IDs the ledger knows and a floor, ``since``: the later of the ledger's creation and
the retention horizon (so nothing received before this install is fetched, and no message
whose row was pruned is taken for a new one), each widened by :data:`CLOCK_SKEW` towards the
safe side (the gateway's clock stamps the messages).
"""

from __future__ import annotations

from collections.abc import Sequence

from as2sync.backends.base import Relisting
from as2sync.inbound.context import Context
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.db import Meta

RELIST_INTERVAL = 3600.0
CLOCK_SKEW = 3600.0


class Relister:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._last_pass: float | None = None

    @property
    def backend(self) -> Relisting | None:
        backend = self._ctx.backend
        return backend if isinstance(backend, Relisting) else None

    def due(self) -> bool:
        """Whether a walk is due."""
        return self._last_pass is None or self._ctx.clock() - self._last_pass >= RELIST_INTERVAL

    def completed(self, started: float) -> None:
        self._last_pass = started

    def walk_next(self) -> None:
        """A poll's listing failed: its list calls may have hidden messages whose IDs never
        reached us (an answer lost after the server acted), so walk before the next listing,
        while nothing newer is recorded ahead of them."""
        self._last_pass = None

    def known(self, remote_ids: Sequence[str]) -> set[str]:
        with self._ctx.ledger.read() as session:
            return set(ledger_in.latest_many(session, remote_ids))

    def since(self) -> float:
        ctx = self._ctx
        horizon = ctx.clock() - ctx.config.ledger.retention_days * 86400 + CLOCK_SKEW
        with ctx.ledger.read() as session:
            created = session.get(Meta, "created_at")
            value = None if created is None else created.value
        installed = float(value) - CLOCK_SKEW if value is not None else horizon
        return max(horizon, installed)
