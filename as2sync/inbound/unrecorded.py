"""Received messages the ledger refused to record, kept in view until it takes them.

A :class:`~as2sync.errors.LedgerConflict` on one listed message (see :mod:`.record`) is not a
failure of the poll: nothing of that message was downloaded, it stays unread on the gateway and
every poll tries it again, while every other message goes on. It is not a bug a restart could
fix either (the ledger would refuse it just the same), so the poll ends normally, and the
conflict is an operator's problem: logged at error (``inbound.ledger_conflict``) when first met
and again at most once an hour while it lasts, and listed by ``status`` through the heartbeat
(:meth:`Unrecorded.current`). ``health`` does not fail for it, and the watchdog goes on: the
daemon is doing all it can for every other message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from as2sync.backends.base import Pending
from as2sync.errors import LedgerConflict

log = structlog.get_logger("as2sync.inbound")

LOG_EVERY = 3600.0
"""Seconds between two error logs of a conflict that lasts (it is met on every poll)."""


@dataclass(frozen=True)
class UnrecordedMessage:
    """One listed message the ledger refused to record (times are epoch seconds)."""

    station: str
    partner: str
    message_id: str
    file: str
    """The attachment names, comma separated."""
    error: str
    since: float
    """When this process first met the conflict."""


class Unrecorded:
    """The conflicts met by the latest poll (thread-safe: ``status`` reads it through the
    heartbeat from the main thread while the inbound thread polls)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, UnrecordedMessage] = {}
        self._logged_at: dict[str, float] = {}
        self._met: set[str] = set()

    def begin_poll(self) -> None:
        self._met = set()

    def met(self, pending: Pending, exc: LedgerConflict) -> None:
        """The ledger refused to record ``pending`` in this poll."""
        station, partner, message_id = pending.station, pending.partner, pending.remote_id
        now = self._clock()
        with self._lock:
            earlier = self._known.get(message_id)
            entry = UnrecordedMessage(
                station=station,
                partner=partner,
                message_id=message_id,
                file=", ".join(a.name for a in pending.attachments),
                error=str(exc),
                since=earlier.since if earlier is not None else now,
            )
            self._known[message_id] = entry
            self._met.add(message_id)
            due = now - self._logged_at.get(message_id, now - LOG_EVERY) >= LOG_EVERY
            if due:
                self._logged_at[message_id] = now
        if due:
            log.error(
                "inbound.ledger_conflict",
                station=station,
                partner=partner,
                message_id=message_id,
                file=entry.file,
                error=entry.error,
                hint="the message stays unread on the gateway and is tried again every poll "
                "(logged again hourly while it lasts); see `as2sync status`",
            )

    def end_poll(self) -> None:
        """The poll listed every unread message: a conflict it did not meet again is over
        (the ledger took the message, or it is no longer unread on the gateway)."""
        with self._lock:
            gone = [self._known.pop(mid) for mid in list(self._known) if mid not in self._met]
            for entry in gone:
                self._logged_at.pop(entry.message_id, None)
        for entry in gone:
            log.info(
                "inbound.ledger_conflict_cleared",
                station=entry.station,
                partner=entry.partner,
                message_id=entry.message_id,
                file=entry.file,
            )

    def current(self) -> list[UnrecordedMessage]:
        with self._lock:
            return sorted(self._known.values(), key=lambda e: (e.since, e.message_id))
