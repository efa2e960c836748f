"""The account's certificates and their expiry warnings (issue 13; seed 002's lesson: an expired
certificate stops its partnership with CERT_HAS_EXPIRED).

The list (``GET /certificate``) and each one's metadata (``GET /certificate/{alias}``) are
read at most every :data:`REFRESH_SECONDS` (1 + one request per certificate, LOW priority); in
between the last reading is reported. Expiry: ``expiryTimestamp`` first, the ``expiry`` date
string as fall-back; types in the seed's names whichever the server used (both in
:mod:`.parsing`).

Warnings: ``certificate.expiring`` (a warning) for each certificate within ``warn_days`` of its
expiry when it enters that window and then once a day while in it, ``certificate.expired`` (an
error) likewise once it has expired. A renewed certificate (out of the window again) is warned
about afresh if it ever comes back. What was warned is kept in memory: a restarted daemon warns
once more at its first reading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from as2sync.backends.base import Certificate
from as2sync.backends.mftgateway.client import MftClient
from as2sync.errors import GatewayError, NotFound

log = structlog.get_logger("as2sync.certificates")

REFRESH_SECONDS = 3600.0
WARN_EVERY = 86400.0
DEFAULT_WARN_DAYS = 30


def read_all(client: MftClient) -> list[Certificate]:
    """Every certificate of the account with its metadata (one removed meanwhile is left out)."""
    found = []
    for ref in client.certificates():
        try:
            info = client.certificate(ref.alias)
        except NotFound:
            continue
        found.append(
            Certificate(info.alias, info.type, info.common_name, info.expires_at, info.belongs_to)
        )
    return found


class CertificateWatch:
    """The certificates as last read, refreshed when due, with the warnings above."""

    def __init__(
        self,
        client: MftClient,
        *,
        warn_days: int = DEFAULT_WARN_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._warn_days = warn_days
        self._clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._current: list[Certificate] = []
        self._warned: dict[str, float] = {}  # alias -> when last warned

    def current(self) -> list[Certificate]:
        """The certificates, read again if the last reading is older than
        :data:`REFRESH_SECONDS`. If reading fails, the previous reading is reported (logged;
        tried again at the next call); with none, the GatewayError is raised."""
        with self._lock:
            now = self._clock()
            if self._read_at is None or now - self._read_at >= REFRESH_SECONDS:
                try:
                    self._current = read_all(self._client)
                except GatewayError as exc:
                    if self._read_at is None:
                        raise
                    log.warning("certificate.read_failed", error=str(exc))
                else:
                    self._read_at = now
            self._warn(now)
            return list(self._current)

    def _warn(self, now: float) -> None:
        for cert in self._current:
            days = cert.days_left(now)
            if days is None or days > self._warn_days:
                self._warned.pop(cert.alias, None)
                continue
            last = self._warned.get(cert.alias)
            if last is not None and now - last < WARN_EVERY:
                continue
            self._warned[cert.alias] = now
            expired = cert.expired(now)
            emit = log.error if expired else log.warning
            emit(
                "certificate.expired" if expired else "certificate.expiring",
                alias=cert.alias,
                type=cert.type,
                subject=cert.subject,
                belongs_to=", ".join(cert.belongs_to) or None,
                expires=datetime.fromtimestamp(cert.expires_at or 0.0, UTC).isoformat(),
                days_left=days,
                warn_days=self._warn_days,
            )
