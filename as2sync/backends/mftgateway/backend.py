"""The MFT Gateway REST backend: one :class:`~as2sync.backends.base.Backend` over one
:class:`MftClient`, its sending and receiving halves (:mod:`.sending`, :mod:`.receiving`).

Not registered yet: ``as2sync.backends.registry`` and ``config.schema`` take it in (with
:mod:`.settings`) once the outbound seam has landed; until then nothing builds it but tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

from as2sync.backends.base import (
    Certificate,
    KnownIds,
    Pending,
)
from as2sync.backends.halves import Halves
from as2sync.backends.http.ratelimit import RateLimiter, shared_limiter
from as2sync.backends.mftgateway import online
from as2sync.backends.mftgateway.capabilities import CAPABILITIES
from as2sync.backends.mftgateway.certificates import DEFAULT_WARN_DAYS, CertificateWatch
from as2sync.backends.mftgateway.client import MftClient
from as2sync.backends.mftgateway.receiving import MftReceiver
from as2sync.backends.mftgateway.sending import MftSender
from as2sync.backends.mftgateway.settings import MftGatewaySettings
from as2sync.folders.layout import PartnerDirs

Observer = Callable[[str, int | None, float], None]


class MftBackend(Halves):
    """Both halves over one client; :meth:`close` closes the client."""

    capabilities = CAPABILITIES
    _receiver: MftReceiver  # its relisting is the backend's own (base.Relisting)

    def __init__(
        self,
        client: MftClient,
        *,
        page_length: int = 100,
        clock: Callable[[], float] = time.time,
        warn_days: int = DEFAULT_WARN_DAYS,
    ) -> None:
        self.client = client
        self._clock = clock
        self._certificates = CertificateWatch(client, warn_days=warn_days, clock=clock)
        self._sender = MftSender(client)
        self._receiver = MftReceiver(client, page_length=page_length)

    def close(self) -> None:
        self.client.close()

    # -- what the daemon and the operator commands ask ---------------------------------------

    def sendable_problems(self, station: str, partner: str) -> list[tuple[str, str]]:
        """None that can be told in advance: MFT Gateway lists no stations or partners (only
        a submit's 422 says one is unknown, and that send then goes to failed/)."""
        return []

    def online_problems(self, pairs: Sequence[PartnerDirs]) -> list[str]:
        """``as2sync check --online``: logs in (AuthError for bad credentials) and reports
        expired certificates of the account. Stations and partners cannot be confirmed: the
        API has no list of them (see :mod:`.online`)."""
        return online.problems(self.client, now=self._clock())

    def certificates(self) -> list[Certificate]:
        """The account's certificates (base.Certificates), read at most hourly; logs the
        expiry warnings (see :mod:`.certificates`)."""
        return self._certificates.current()

    def wake(self) -> None:
        self.client.wake()

    def requests_in_use(self) -> int:
        return self.client.requests_in_use()

    # -- receiving: what only this backend offers ---------------------------------------

    def relist(
        self, known: KnownIds, since: float | None, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        return self._receiver.relist(known, since, stop)


def make_backend(
    settings: MftGatewaySettings,
    password: str,
    *,
    limiter: RateLimiter | None = None,
    observer: Observer | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
    warn_days: int = DEFAULT_WARN_DAYS,
) -> MftBackend:
    """The backend for a ``gateway`` section with ``api: mftgateway``; ``password`` already
    resolved (from ``password``, ``password_file`` or a credential) by the caller. Without a
    ``limiter``, the process-wide one at the configured rate."""
    client = MftClient(
        settings.url,
        settings.username,
        password,
        limiter=limiter
        if limiter is not None
        else shared_limiter(settings.rate_limit.requests, settings.rate_limit.per_seconds),
        timeout=settings.timeout_seconds,
        verify=str(settings.ca_file) if settings.ca_file else True,
        clock=clock,
        observer=observer,
        token_renew_seconds=settings.token_renew_seconds,
        stop=stop,
    )
    return MftBackend(client, clock=clock, warn_days=warn_days)
