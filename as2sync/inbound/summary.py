"""The periodic info-level summary of polling.

A poll that finds nothing new is logged at debug only (``inbound.polled``): every
``inbound.poll_seconds`` forever, it would bury the events that matter. So that an operator
reading the log at info still sees that the daemon polls, ``inbound.summary`` says once per
period how many polls ran (and failed) and how many messages were stored since the last one.
"""

from __future__ import annotations

from collections.abc import Callable

from as2sync.inbound.context import log

SUMMARY_SECONDS = 3600.0


class PollSummary:
    """Counts polls; logs ``inbound.summary`` after the first poll that ends a period.

    The first period starts at the first poll; each summary starts the next one.
    """

    def __init__(self, clock: Callable[[], float], period: float = SUMMARY_SECONDS) -> None:
        self._clock = clock
        self._period = period
        self._start: float | None = None
        self._polls = self._failed = self._stored = 0

    def polled(self, *, stored: int, failed: bool) -> None:
        """One poll ended, having stored ``stored`` messages (also when it then failed)."""
        now = self._clock()
        if self._start is None:
            self._start = now
        self._polls += 1
        self._failed += failed
        self._stored += stored
        if now - self._start < self._period:
            return
        log.info(
            "inbound.summary",
            polls=self._polls,
            failed=self._failed,
            stored=self._stored,
            seconds=round(now - self._start),
        )
        self._start = now
        self._polls = self._failed = self._stored = 0
