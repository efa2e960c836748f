"""JWT-shaped bearer tokens (HS256), as the spec's ``POST /authorize`` hands out.

The tokens are stateless like the real service's JWTs: a token is valid if its signature checks
out, it has not reached ``exp``, and it was issued after the last "revoke everything"
(:meth:`TokenIssuer.revoke_all`, the emulator's forced expiry). With a data dir the signing
secret is persisted, so tokens survive an emulator restart; without one they do not, and a
client must re-authorize on 401 either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    subject: str
    issued_ms: int
    expiry_ms: int


class TokenIssuer:
    """Issues and checks tokens. Not thread-safe by itself: the state's lock guards it."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.revoked_before_ms = 0

    def issue(self, subject: str, now_ms: int, ttl_ms: int) -> tuple[str, int]:
        """Return ``(token, expiry_ms)`` for ``subject``."""
        # Tokens issued in the same millisecond as a revoke_all must still be distinguishable,
        # so issue time is at least revoked_before_ms.
        issued = max(now_ms, self.revoked_before_ms)
        expiry = issued + ttl_ms
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {"sub": subject, "iat": issued, "exp": expiry, "jti": uuid.uuid4().hex}
            ).encode()
        )
        signature = _b64(
            hmac.new(self.secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        return f"{header}.{payload}.{signature}", expiry

    def check(self, token: str, now_ms: int) -> Claims | str:
        """The token's claims if valid, else a reason (for the 401 message)."""
        parts = token.split(".")
        if len(parts) != 3:
            return "Invalid token"
        header, payload, signature = parts
        expected = _b64(
            hmac.new(self.secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        if not hmac.compare_digest(signature, expected):
            return "Invalid token"
        try:
            data = json.loads(_unb64(payload))
            claims = Claims(str(data["sub"]), int(data["iat"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return "Invalid token"
        if claims.expiry_ms <= now_ms or claims.issued_ms < self.revoked_before_ms:
            return "Token expired"
        return claims

    def revoke_all(self, now_ms: int) -> None:
        """Make every token issued so far invalid (issued strictly before now+1 ms)."""
        self.revoked_before_ms = max(self.revoked_before_ms, now_ms + 1)
