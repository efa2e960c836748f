"""The MFT Gateway login session: an API token renewed early by refresh token, and a fresh
login with the password when a refresh fails.

- ``POST /authorize`` (username, password) gives ``apiToken`` and ``refreshToken``.
- The API token's lifetime is undocumented: it is read from the token itself (a JWT's
  ``exp``; seconds, or milliseconds as the emulator's tokens carry) and the token is renewed
  when :func:`as2sync.backends.http.auth.parse_token`'s rule says (``renew_seconds``
  before expiry, at half the lifetime of a short-lived one; a token without ``exp`` is assumed
  to live an hour).
- Renewal is ``POST /refresh-session`` (username, refresh token). Any failure of it — the
  documented 500, a refused or missing refresh token, an unreadable answer — means logging in
  again with the password. Only that login's failure reaches the caller.
- After the server refused the token (401/403), :meth:`Session.invalidate` drops it; the next
  request refreshes (and, failing that, logs in).

Thread safety: one lock around check-and-renew, so concurrent requests wait for one renewal.
Neither token nor the password is ever logged (both are registered as secrets).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

import structlog

from as2sync.backends.http.auth import Token, parse_token
from as2sync.backends.mftgateway.parsing import SessionTokens
from as2sync.errors import GatewayError, RateLimited, ShuttingDown
from as2sync.log import register_secret

log = structlog.get_logger(__name__)


def jwt_expiry(token: str) -> object:
    """The ``exp`` claim of a JWT, read without checking its signature (only the server
    needs to trust it; we only want to know when to renew). None if it has none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims.get("exp") if isinstance(claims, dict) else None


class Session:
    """Hands out a valid API token. ``login()`` and ``refresh(refresh_token)`` make the
    requests and return the parsed tokens (raising :mod:`as2sync.errors`); ``clock`` is epoch
    seconds."""

    def __init__(
        self,
        login: Callable[[], SessionTokens],
        refresh: Callable[[str], SessionTokens],
        *,
        renew_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._login = login
        self._refresh = refresh
        self._renew_seconds = renew_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._held: Token | None = None
        self._refresh_token: str | None = None

    def token(self) -> str:
        with self._lock:
            held = self._held
            if held is not None and self._clock() < held.renew_at:
                return held.value
            self._held = None  # a failed renewal is tried again by the next call
            tokens = self._renew() if self._refresh_token else None
            if tokens is None:
                tokens = self._login()
                log.debug("gateway.logged_in")
            self._held = self._hold(tokens)
            return self._held.value

    def invalidate(self, stale: str) -> None:
        """Forget ``stale`` after the server refused it, unless already replaced."""
        with self._lock:
            if self._held is not None and self._held.value == stale:
                self._held = None

    def _renew(self) -> SessionTokens | None:
        refresh = self._refresh_token
        assert refresh is not None
        try:
            tokens = self._refresh(refresh)
        except (ShuttingDown, RateLimited):
            raise  # not a verdict on the refresh token: the caller backs off
        except GatewayError as exc:
            # The documented failure is a 500; whatever it was, the password still works.
            log.info(
                "gateway.refresh_failed",
                error=type(exc).__name__,
                status=exc.status,
                detail=str(exc),
            )
            self._refresh_token = None
            return None
        log.debug("gateway.session_refreshed")
        return tokens

    def _hold(self, tokens: SessionTokens) -> Token:
        register_secret(tokens.refresh_token)
        if tokens.refresh_token:
            self._refresh_token = tokens.refresh_token
        return parse_token(
            {"token": tokens.api_token, "expiry": jwt_expiry(tokens.api_token)},
            now=self._clock(),
            renew_seconds=self._renew_seconds,
        )
