"""The partners' ``sendTimeout`` (GET /partner), kept for an hour, for the resend grace.

A send in doubt is resent only once it cannot still be on its way (see
:func:`resend_grace`), and how long a send may be on its way is the partner's
``sendTimeout``. One request lists every partner of the account; it is made only
when a send in doubt has outlived ``outbound.reconcile_grace_seconds`` (before that the grace
cannot have run out whatever the partner says), at most once an hour while it answers, and
at most once a minute while it fails (the last list is used meanwhile; with none, the
sendTimeout counts as unknown, which is the longest usual one).
"""

from __future__ import annotations

import threading

import structlog

from as2sync.backends.as2gateway.model import Gateway
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.errors import GatewayError

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 3600.0
RETRY_SECONDS = 60.0

ASSUMED_SEND_TIMEOUT_SECONDS = 300.0
"""A partner's sendTimeout when the gateway does not say (the long end of what is usual)."""
SEND_TIMEOUT_MARGIN = 0.5
"""The resend grace is the partner's sendTimeout plus this fraction of it again: the gateway's
own work around the wait for the partner (picking the message, signing, connecting,
recording the outcome)."""


def resend_grace(floor: float, send_timeout: float | None) -> float:
    """How long after a submit began a send in doubt that is in no list may be resent.

    The queued list hides a message while it is being sent (spec 5.4), and that lasts up to
    the partner's ``sendTimeout``: resending earlier could deliver it twice to a slow partner.
    ``floor`` (``outbound.reconcile_grace_seconds``) is the least; an unknown sendTimeout
    counts as :data:`ASSUMED_SEND_TIMEOUT_SECONDS`.
    """
    timeout = ASSUMED_SEND_TIMEOUT_SECONDS if send_timeout is None else send_timeout
    return max(floor, timeout * (1 + SEND_TIMEOUT_MARGIN))


class SendTimeouts:
    """``sendTimeout`` per partner AS2 ID (thread-safe; one per engine)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timeouts: dict[str, float] = {}
        self._next_fetch = float("-inf")

    def of(self, gateway: Gateway, partner: str, now: float) -> float | None:
        """The partner's sendTimeout in seconds, or None if the gateway does not say.

        Lists the partners first when the last list is older than :data:`REFRESH_SECONDS`
        (or the last attempt failed over :data:`RETRY_SECONDS` ago).
        """
        with self._lock:
            if now >= self._next_fetch:
                self._fetch(gateway, now)
            return self._timeouts.get(partner)

    def _fetch(self, gateway: Gateway, now: float) -> None:
        try:
            with priority(Priority.LOW):
                partners = gateway.partners()
        except GatewayError as exc:
            self._next_fetch = now + RETRY_SECONDS
            log.warning("outbound.partners_failed", error=str(exc), retry_in=RETRY_SECONDS)
            return
        timeouts: dict[str, float] = {}
        for p in partners:
            # A test and a production partner may share an AS2 ID: the longer wait counts.
            if p.send_timeout is not None:
                timeouts[p.as2_id] = max(p.send_timeout, timeouts.get(p.as2_id, 0.0))
        self._timeouts = timeouts
        self._next_fetch = now + REFRESH_SECONDS
        log.debug("outbound.partners_listed", partners=len(partners))
