"""Ledger retention: finished rows older than ``ledger.retention_days`` are removed.

The default (90 days) is longer than the gateway keeps messages (70 days), so a message the
gateway could still show as unread is never forgotten by the ledger. Rows that are not finished
(in flight, in doubt) are never pruned, whatever their age.
"""

from __future__ import annotations

import structlog

from as2sync.ledger import inbound, outbound
from as2sync.ledger.db import Ledger, now

log = structlog.get_logger(__name__)


def prune(ledger: Ledger, max_age_seconds: float, duplicate_window: float = 0.0) -> int:
    """Delete finished rows older than ``max_age_seconds``; return how many.

    Outbound rows within ``duplicate_window`` are kept whatever the retention, so the duplicate
    check keeps its evidence.
    """
    current = now()
    cutoff = current - max_age_seconds
    with ledger.transaction() as session:
        removed = outbound.prune(
            session, cutoff, keep_since=current - duplicate_window
        ) + inbound.prune(session, cutoff)
    if removed:
        log.info("ledger.pruned", rows=removed)
    return removed
