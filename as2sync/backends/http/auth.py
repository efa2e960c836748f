"""A REST gateway's login token (AS2 Gateway, MFT Gateway): obtained from its login call, reused,
renewed in time.

The token goes into ``Authorization: <token>`` with no scheme (the spec says so explicitly).

When it is renewed (``renew_at``), with ``lifetime = expiry - now`` at login:

* normally ``renew_seconds`` (``gateway.token_renew_seconds``) before the expiry;
* for a token living less than twice that, at half its lifetime instead, so a short-lived
  token is not renewed before every single request;
* never sooner than :data:`MIN_REUSE_SECONDS` after login, so an expiry that already lies in
  the past (a skewed clock) does not turn every request into a login; the gateway's 401 then
  triggers the renewal (the client renews once on any 401 and repeats the request).

The expiry is epoch time. The AS2 Gateway (and the emulator) send milliseconds; a number below
:data:`_MS_THRESHOLD` (1e11, i.e. 1973 in ms but the year 5138 in seconds) is taken as seconds.
A response without a usable expiry gets :data:`DEFAULT_LIFETIME_SECONDS`.

Thread safety: one lock around the check-and-login, so concurrent requests that find the token
stale wait for a single renewal instead of logging in many times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from as2sync.errors import ProtocolError
from as2sync.log import register_secret

log = structlog.get_logger(__name__)

MIN_REUSE_SECONDS = 5.0
DEFAULT_LIFETIME_SECONDS = 3600.0
_MS_THRESHOLD = 1e11


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    expires_at: float
    renew_at: float


def expiry_seconds(value: object) -> float | None:
    """Epoch seconds from the spec's ``expiry`` (milliseconds, or seconds if small)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number <= 0:  # NaN or nonsense
        return None
    return number / 1000.0 if number >= _MS_THRESHOLD else number


def parse_token(body: object, *, now: float, renew_seconds: float) -> Token:
    """The token of an /authorize response body; ProtocolError if there is none."""
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
        raise ProtocolError("authorize: response has no token")
    value: str = body["token"]
    register_secret(value)  # from now on no log line can show it
    expires_at = expiry_seconds(body.get("expiry"))
    if expires_at is None:
        log.warning("gateway.token_without_expiry", assumed_seconds=DEFAULT_LIFETIME_SECONDS)
        expires_at = now + DEFAULT_LIFETIME_SECONDS
    lifetime = expires_at - now
    renew_in = max(lifetime - renew_seconds, lifetime / 2, MIN_REUSE_SECONDS)
    return Token(value=value, expires_at=expires_at, renew_at=now + renew_in)


class TokenManager:
    """Hands out a valid token, logging in through ``login`` when there is none or it is due.

    ``login`` performs POST /authorize and returns the parsed :class:`Token`; it raises
    ``AuthError`` for rejected credentials (never retried here) or a transient error.
    ``clock`` is wall-clock epoch seconds, the scale of the gateway's expiry.
    """

    def __init__(
        self, login: Callable[[], Token], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._login = login
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None

    def token(self) -> str:
        with self._lock:
            current = self._token
            if current is None or self._clock() >= current.renew_at:
                # Drop it first: if the login fails, the next call tries again instead of
                # using a token we already decided to replace.
                self._token = None
                current = self._login()
                self._token = current
                log.debug("gateway.token_renewed", expires_at=round(current.expires_at))
            return current.value

    def invalidate(self, stale: str) -> None:
        """Forget ``stale`` after a 401, unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == stale:
                self._token = None
