"""Inbound: every received attachment lands in its inbox exactly once.

``engine`` (the poll the daemon runs) uses: ``poller`` (drain the unread list), ``decide``
(what a listed message needs, pure), ``plan`` (which IDs go into which request, pure),
``fetch`` (batch zips and one-by-one downloads), ``truncation`` (what a 206 covered, pure),
``zipread`` (safe zip reading), ``names`` and ``layouts`` (inbox names, pure), ``writer``
(temp file, fsync, move that never overwrites), ``store`` (ledger commits around the moves),
and ``recovery`` (finish what a crash left). The ledger tables are in ``ledger/inbound.py``.
"""
