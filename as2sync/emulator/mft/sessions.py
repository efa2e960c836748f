"""MFT Gateway's refresh tokens: ``/authorize`` hands one out beside the API token, and
``/refresh-session`` trades it (with the username) for a new pair without the password.

Refresh tokens are signed like the API tokens (:class:`~as2sync.emulator.tokens.TokenIssuer`)
with a secret of their own, so neither can stand in for the other; forcing API tokens to expire
(``/_admin/expire-tokens``) leaves refresh tokens valid, which is what makes a refresh the way
back. They do not survive an emulator restart (the client then logs in with its password, as
after any failed refresh).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from as2sync.emulator.tokens import Claims, TokenIssuer


class RefreshTokens:
    """Issues and checks refresh tokens. Thread-safe (one lock, taken alone)."""

    def __init__(self, ttl: Callable[[], float], *, clock: Callable[[], float] = time.time) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._issuer = TokenIssuer()

    def issue(self, username: str) -> str:
        with self._lock:
            token, _ = self._issuer.issue(
                username, int(self._clock() * 1000), int(self._ttl() * 1000)
            )
            return token

    def check(self, token: str, username: str) -> bool:
        """Whether ``token`` is a valid refresh token of ``username``."""
        with self._lock:
            claims = self._issuer.check(token, int(self._clock() * 1000))
        return isinstance(claims, Claims) and claims.subject == username
