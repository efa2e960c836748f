"""MFT Gateway's certificate metadata (seed 003 section 6, new names of section 7).

``GET /certificate[?certType=T]`` is a bare array of ``{"alias", "type"}``; the filter accepts
the seed's type names and the OpenAPI's (STATION, PARTNER, PARTNER_CHAIN), and the answer uses
the seed's. ``GET /certificate/{alias}`` is the metadata without the certificate itself; dates
are both Java ``Date.toString()`` text (``expiry``, ``validFrom``) and epoch milliseconds
(``expiryTimestamp``, ``validFromTimestamp``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from as2sync.emulator.apierror import ApiError, bad_request
from as2sync.emulator.mft.settings import (
    CERT_TYPE_ALIASES,
    CERT_TYPES,
    DAY_MS,
    CertificateSpec,
)


def java_date(ms: int) -> str:
    """``Sun Jan 17 00:00:00 UTC 2038``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


def listing(certs: tuple[CertificateSpec, ...], cert_type: str | None) -> list[dict[str, str]]:
    wanted = None
    if cert_type:
        wanted = CERT_TYPE_ALIASES.get(cert_type.upper(), cert_type.upper())
        if wanted not in CERT_TYPES:
            raise bad_request(f"Invalid certType: {cert_type}")
    return [{"alias": c.alias, "type": c.type} for c in certs if wanted in (None, c.type)]


def metadata(certs: tuple[CertificateSpec, ...], alias: str) -> dict[str, Any]:
    cert = next((c for c in certs if c.alias == alias), None)
    if cert is None:
        raise ApiError(404, f"Unable to find certificate with alias: {alias}")
    valid_from = (
        cert.valid_from_ms if cert.valid_from_ms is not None else cert.expiry_ms - 730 * DAY_MS
    )
    dn = f"CN={cert.common_name}, O=Emulated, C=US"
    return {
        "alias": cert.alias,
        "type": cert.type,
        "serialNumberHex": format(cert.serial, "x"),
        "serialNumberDecimal": str(cert.serial),
        "subjectCommonName": cert.common_name,
        "subjectDistinguishName": dn,
        "issuerCommonName": cert.common_name,
        "issuerDistinguishName": dn,
        "validFrom": java_date(valid_from),
        "validFromTimestamp": valid_from,
        "expiry": java_date(cert.expiry_ms),
        "expiryTimestamp": cert.expiry_ms,
        "belongsTo": list(cert.belongs_to),
    }
