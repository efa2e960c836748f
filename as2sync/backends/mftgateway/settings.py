"""The ``gateway`` section of the configuration when ``gateway.api`` is ``mftgateway``
(issue 13's configuration contract)::

    gateway:
      api: mftgateway
      url: https://api.mftgateway.com     # the default; no version segment
      username: you@example.com
      password: ${AS2SYNC_PASSWORD}        # or password_file / a systemd credential

A leaf module (pydantic only), like every backend's settings: the configuration model
imports it. Not registered yet (``as2sync.backends.registry`` / ``config.schema`` do that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from as2sync.backends.sections import PasswordLogin, PositiveSeconds, Section

API = "mftgateway"
DEFAULT_URL = "https://api.mftgateway.com"


class RateLimit(Section):
    requests: int = Field(
        50,
        ge=1,
        description="Requests allowed per window. MFT Gateway documents no limit; the default "
        "is the pace of the vendor's AS2 Gateway API, and a 429 or 503 pauses every request.",
    )
    per_seconds: PositiveSeconds = Field(10, description="Length of the window in seconds.")


class MftGatewaySettings(PasswordLogin):
    api: Literal["mftgateway"] = Field(
        "mftgateway", description="The gateway's API: mftgateway (MFT Gateway REST API)."
    )
    url: str = Field(
        DEFAULT_URL,
        description="Base URL, without a version segment. http:// only for loopback hosts.",
    )
    rate_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(), description="Client-side limit of API requests."
    )
    timeout_seconds: PositiveSeconds = Field(60, description="Timeout of one HTTP request.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for TLS verification.")
    token_renew_seconds: float = Field(
        300,
        ge=0,
        description="Renew the session (refresh-session) this long before the token expires.",
    )
