"""Inbound: every received attachment lands in its inbox exactly once, whatever the backend.

``engine`` (the poll the daemon runs) drives a :class:`~as2sync.backends.base.Receiver` and
uses: ``record`` and ``decide`` (what a pending message needs, decided and committed before
any download; ``decide`` is pure), ``fetch`` (the engine's side of a download: staging slots
for the backend to fill), ``names`` and ``layouts`` (inbox names, pure), ``writer`` (temp
file, fsync, move that never overwrites), ``store`` (ledger commits around the moves, then
acknowledging), ``recovery`` (finish what a crash left), ``unrecorded`` and ``summary``
(reports). How a gateway lists and serves messages is its backend's business (AS2 Gateway v1:
:mod:`as2sync.backends.as2gateway.receiving`). The ledger tables are in ``ledger/inbound.py``.
"""
