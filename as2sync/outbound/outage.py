"""Gateway outage: while sends fail without reaching the gateway, stop claiming and probe.

Without this, every file in a 10,000-file outbox would in turn be claimed, tried, and parked
with its own back-off while the gateway is down: a request storm, and files taken out of the
outbox (where users can still see, change or withdraw them) long before they can be sent.

So after a transient send error (connection refused, DNS, 429, credentials refused) sending
pauses as a whole, with exponential back-off over *consecutive* failures; when the pause is
over, exactly one message goes as a probe (the oldest claimed one, else one new file). A probe
the gateway answers ends the outage; sending resumes at full concurrency.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import structlog

from as2sync.outbound import decide

log = structlog.get_logger(__name__)


class Outage:
    """Thread-safe; the step thread asks whether it may send and records each send's outcome
    (see :class:`as2sync.outbound.sender.Sender`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.paused_until = 0.0
        self._probing = False

    def failed(self, now: float, not_before: float | None, error: str | None) -> None:
        """A send provably did not reach the gateway (or was refused for the rate limit)."""
        with self._lock:
            self.failures += 1
            pause = now + decide.retry_delay(self.failures)
            self.paused_until = max(pause, not_before or 0.0)
            first = self.failures == 1
            retry_in = round(self.paused_until - now, 1)
        if first:
            log.warning("outbound.paused", error=error, retry_in=retry_in)

    def succeeded(self) -> None:
        """The gateway answered a send (accepted, refused, or even a 5xx)."""
        with self._lock:
            was_down = self.failures > 0
            self.failures = 0
            self.paused_until = 0.0
        if was_down:
            log.info("outbound.resumed")

    @contextlib.contextmanager
    def probe(self, now: float) -> Iterator[bool]:
        """During an outage, whether one probe may go now: the pause is over and no probe is
        in flight. If so the probe's turn is held until the block ends and given back then,
        whatever happened inside it (nothing to send, an error while choosing the probe, a
        send that proved nothing): the block sends the probe and records its outcome with
        :meth:`failed` or :meth:`succeeded` before it ends."""
        with self._lock:
            granted = self.failures > 0 and not self._probing and now >= self.paused_until
            if granted:
                self._probing = True
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._probing = False

    def active(self) -> bool:
        with self._lock:
            return self.failures > 0

    def resume_at(self) -> float | None:
        with self._lock:
            return self.paused_until if self.failures else None
