"""The emulated account: its credentials and tokens, stations, partners and request rate limit.

Stations and partners come from the settings, plus those added at runtime (``/_admin``); each
keeps the number it was given first (the ``id``/``partnerId`` the API shows). With a data dir
the runtime additions, the token signing secret and the last forced expiry are written through
(see :mod:`as2sync.emulator.datadir` for the keys this part owns), so tokens and additions
survive a restart.

Locking: one lock guards the tokens, stations and partners; every public method takes it, and
a change is written to the data dir before the lock is released. The message store reads
stations and partners from inside its own lock (lock order store, then account); nothing here
calls the store, so that order is never reversed. The rate limit's window has its own lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from as2sync.emulator.datadir import DataDir
from as2sync.emulator.ratelimit import SlidingWindow
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec
from as2sync.emulator.tokens import Claims, TokenIssuer


class Account:
    """One account, as configured by ``settings`` and restored from ``saved`` (a state document
    from the data dir, or None)."""

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        clock: Callable[[], float] = time.time,
        data: DataDir | None = None,
        saved: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._data = data
        self._lock = threading.Lock()
        self._stations: dict[str, int] = {}
        self._partners: dict[str, tuple[PartnerSpec, int]] = {}
        self._runtime_stations: list[str] = []
        self._runtime_partners: list[PartnerSpec] = []
        self._tokens = TokenIssuer()
        self._issued: list[str] = []
        self._rate = SlidingWindow(*settings.rate_limit) if settings.rate_limit else None
        for as2_id in settings.stations:
            self._add_station(as2_id)
        for spec in settings.partners:
            self._add_partner(spec)
        if saved is not None:
            self._restore(saved)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # ------------------------------------------------------------------ persistence

    def _restore(self, doc: dict[str, Any]) -> None:
        self._tokens = TokenIssuer(bytes.fromhex(doc["secret"]))
        self._tokens.revoked_before_ms = doc["revoked_before_ms"]
        for as2_id in doc["stations"]:
            self._add_station(as2_id, runtime=True)
        for p in doc["partners"]:
            self._add_partner(
                PartnerSpec(p["as2_id"], p["behaviour"], p["name"], p["partner_type"]),
                runtime=True,
            )

    def persisted(self) -> dict[str, Any]:
        """This part's keys of the state document (caller holds the lock, or no thread runs)."""
        return {
            "secret": self._tokens.secret.hex(),
            "revoked_before_ms": self._tokens.revoked_before_ms,
            "stations": list(self._runtime_stations),
            "partners": [
                {
                    "as2_id": p.as2_id,
                    "behaviour": p.behaviour,
                    "name": p.name,
                    "partner_type": p.partner_type,
                }
                for p in self._runtime_partners
            ],
        }

    def _save(self) -> None:
        """Write this part through (a no-op without a data dir). Caller holds the lock."""
        if self._data is not None:
            self._data.write(self.persisted())

    # ------------------------------------------------------------------ stations and partners

    def _add_station(self, as2_id: str, *, runtime: bool = False) -> None:
        if as2_id not in self._stations:
            self._stations[as2_id] = len(self._stations) + 1
            if runtime:
                self._runtime_stations.append(as2_id)

    def _add_partner(self, spec: PartnerSpec, *, runtime: bool = False) -> None:
        existing = self._partners.get(spec.as2_id)
        number = existing[1] if existing else len(self._partners) + 1
        self._partners[spec.as2_id] = (spec, number)
        if runtime:
            self._runtime_partners = [p for p in self._runtime_partners if p.as2_id != spec.as2_id]
            self._runtime_partners.append(spec)

    def add_station(self, as2_id: str) -> None:
        """Add a station at runtime (persisted with a data dir)."""
        if not as2_id:
            raise ValueError("station AS2 ID must not be empty")
        with self._lock:
            if as2_id not in self._stations:
                self._add_station(as2_id, runtime=True)
                self._save()

    def add_partner(self, spec: PartnerSpec) -> None:
        """Add or reconfigure a partner at runtime (persisted with a data dir)."""
        with self._lock:
            self._add_partner(spec, runtime=True)
            self._save()

    def stations(self) -> list[str]:
        with self._lock:
            return list(self._stations)

    def partners(self) -> list[PartnerSpec]:
        with self._lock:
            return [spec for spec, _ in self._partners.values()]

    def has_station(self, as2_id: str) -> bool:
        with self._lock:
            return as2_id in self._stations

    def partner(self, as2_id: str) -> PartnerSpec | None:
        """The partner's current spec, None if the account has no such partner."""
        with self._lock:
            entry = self._partners.get(as2_id)
            return entry[0] if entry else None

    def numbered_stations(self) -> list[tuple[str, int]]:
        """``(as2_id, id)`` of every station, in the order they were added."""
        with self._lock:
            return list(self._stations.items())

    def numbered_partners(self) -> list[tuple[PartnerSpec, int]]:
        """``(spec, partnerId)`` of every partner, in the order they were added."""
        with self._lock:
            return list(self._partners.values())

    # ------------------------------------------------------------------ tokens, rate limit

    def authorize(self, username: str, password: str) -> tuple[str, int] | None:
        """``(token, expiry_ms)`` for the account's credentials, None otherwise."""
        with self._lock:
            if username != self.settings.user or password != self.settings.password:
                return None
            token, expiry = self._tokens.issue(
                username, self._now_ms(), int(self.settings.token_ttl * 1000)
            )
            self._issued.append(token)
            return token, expiry

    def reissue(self, username: str) -> tuple[str, int] | None:
        """A fresh ``(token, expiry_ms)`` for the account's user without its password, for a
        front-end that has verified another credential (MFT's refresh token); None for
        another user."""
        with self._lock:
            if username != self.settings.user:
                return None
            token, expiry = self._tokens.issue(
                username, self._now_ms(), int(self.settings.token_ttl * 1000)
            )
            self._issued.append(token)
            return token, expiry

    def issued_tokens(self) -> list[str]:
        """Every token handed out since this process started (tests check logs for leaks)."""
        with self._lock:
            return list(self._issued)

    def check_token(self, token: str) -> Claims | str:
        """The token's claims, or the reason it is refused."""
        with self._lock:
            return self._tokens.check(token, self._now_ms())

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far: the next request with one is answered 401."""
        with self._lock:
            self._tokens.revoke_all(self._now_ms())
            self._save()

    def admit_request(self) -> int | None:
        """Count one request against the rate limit: None if admitted, else Retry-After."""
        if self._rate is None:
            return None
        return self._rate.acquire(self._clock())
