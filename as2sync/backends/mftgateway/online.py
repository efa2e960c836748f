"""What ``as2sync check --online`` can confirm on MFT Gateway.

The API offers no list of stations or partners (only ``POST /station`` and ``/partner``
create them), so folder pairs cannot be checked against the account: an unknown station or
partner shows only as a submit's 422, which sends that file to failed/ with the gateway's
reason. What can be checked: the credentials (the login itself) and the account's
certificates, an expired one of which stops its partnership (seed 002's CERT_HAS_EXPIRED).
"""

from __future__ import annotations

from datetime import UTC, datetime

from as2sync.backends.mftgateway.certificates import read_all
from as2sync.backends.mftgateway.client import MftClient

NO_LISTS = (
    "MFT Gateway has no list of stations or partners: station and partner folders are "
    "confirmed by the first send (an unknown one is refused with HTTP 422)"
)


def problems(client: MftClient, *, now: float) -> list[str]:
    """One line per expired certificate of the account (logging in on the way)."""
    found = []
    for cert in read_all(client):
        if cert.expired(now):
            when = datetime.fromtimestamp(cert.expires_at or 0.0, UTC).strftime("%Y-%m-%d")
            whose = ", ".join(cert.belongs_to) or "no station or partner"
            found.append(
                f"certificate {cert.alias} ({cert.type}, {cert.subject or 'no CN'}; used by "
                f"{whose}) expired on {when}"
            )
    return found


def describe(url: str, username: str) -> str:
    """Where and as whom, for ``as2sync check`` (never a secret), and what it cannot check."""
    return f"MFT Gateway REST API at {url} as {username}; {NO_LISTS}"
