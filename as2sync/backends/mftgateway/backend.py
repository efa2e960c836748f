"""The MFT Gateway REST backend: one :class:`~as2sync.backends.base.Backend` over one
:class:`MftClient`, its sending and receiving halves (:mod:`.sending`, :mod:`.receiving`).

Not registered yet: ``as2sync.backends.registry`` and ``config.schema`` take it in (with
:mod:`.settings`) once the outbound seam has landed; until then nothing builds it but tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from as2sync.backends.base import (
    Certificate,
    Doubt,
    KnownIds,
    Located,
    OutboundMessage,
    Pending,
    Receipt,
    Remote,
    SentRef,
    Sink,
    Tracked,
    Wanted,
)
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


class MftBackend:
    """Both halves over one client; :meth:`close` closes the client."""

    capabilities = CAPABILITIES

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

    # -- sending ----------------------------------------------------------------------------

    def claim_remote(self, station: str, partner: str) -> Remote:
        return self._sender.claim_remote(station, partner)

    def submit(self, message: OutboundMessage) -> Receipt:
        return self._sender.submit(message)

    def locate(
        self,
        station: str,
        partner: str,
        rows: Sequence[Doubt],
        *,
        attributed: Iterable[str],
        now: float,
        grace: float,
        stop: threading.Event | None = None,
    ) -> dict[int, Located]:
        return self._sender.locate(
            station, partner, rows, attributed=attributed, now=now, grace=grace, stop=stop
        )

    def track(self, station: str, partner: str, sent: Sequence[SentRef]) -> dict[int, Tracked]:
        return self._sender.track(station, partner, sent)

    # -- receiving --------------------------------------------------------------------------

    def pending(self, stop: threading.Event) -> Iterator[Sequence[Pending]]:
        return self._receiver.pending(stop)

    def relist(
        self, known: KnownIds, since: float | None, stop: threading.Event
    ) -> Iterator[Sequence[Pending]]:
        return self._receiver.relist(known, since, stop)

    def download(self, wanted: Sequence[Wanted], sink: Sink, stop: threading.Event) -> None:
        self._receiver.download(wanted, sink, stop)

    def lookup(self, remote_ids: Sequence[str]) -> Pending:
        return self._receiver.lookup(remote_ids)

    def acknowledge(self, remote_ids: Sequence[str]) -> set[str]:
        return self._receiver.acknowledge(remote_ids)

    def forget(self, remote_ids: Sequence[str], forgotten: Callable[[Sequence[str]], None]) -> None:
        self._receiver.forget(remote_ids, forgotten)


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
