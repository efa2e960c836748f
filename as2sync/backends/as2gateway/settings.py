"""The ``gateway`` section of the configuration when ``gateway.api`` is ``as2gateway``.

Each backend's keys live with its package: the backend's factory is their only reader, and a
new backend adds its section here, in its own package, without reshaping anyone else's.
:mod:`as2sync.config.schema` assembles them into one ``gateway`` key, told apart by ``api``.

A leaf module (pydantic only): the configuration model imports it, so it must import nothing
that imports the configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from as2sync.backends.sections import PasswordLogin, PositiveSeconds, Section

API = "as2gateway"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # the API's limit for one message, single or multipart


class RateLimit(Section):
    requests: int = Field(50, ge=1, description="Requests allowed per window (the API's is 50).")
    per_seconds: PositiveSeconds = Field(10, description="Length of the window in seconds.")


class As2GatewaySettings(PasswordLogin):
    api: Literal["as2gateway"] = Field(
        "as2gateway",
        description=(
            "The gateway's API: as2gateway (AS2 Gateway REST API v1) or mftgateway (MFT "
            "Gateway REST API). mftgateway-s3 is not available yet."
        ),
    )
    url: str = Field(
        "https://api.as2gateway.com/v1",
        description="Base URL including the API version. http:// only for loopback hosts.",
    )
    rate_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(), description="Client-side limit."
    )
    timeout_seconds: PositiveSeconds = Field(60, description="Timeout of one HTTP request.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for TLS verification.")
    token_renew_seconds: float = Field(
        300, ge=0, description="Renew the token this long before its expiry."
    )
