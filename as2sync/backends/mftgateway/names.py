"""MFT Gateway's field and parameter names after the 2023 renaming (seed 003 section 7).

The old names were removed (the vendor's page now says after 01 May 2024; seed 003 says
01 January 2023). A removed *query parameter* is likely ignored rather than refused, so an old
``stationAS2Id`` would silently drop its filter: requests carry only the new names, from this
table. Responses may come from either era: each field is read by its new name first, then by
its old names (:func:`first`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# -- what requests carry (new names only) ---------------------------------------------------

STATION_PARAM: Final = "stationIdentifier"
PARTNER_PARAM: Final = "partnerIdentifier"
IDENTIFIER_PARAM: Final = "identifier"
SUBJECT_PARAM: Final = "subject"  # unchanged
IDENTIFIERS_BODY: Final = "messageIdentifiers"

OLD_REQUEST_NAMES: Final = frozenset(
    {"stationAS2Id", "partnerAS2Id", "as2MessageId", "as2MessageIds", "as2_message_id"}
)
"""Names a request must never carry (tests check every request against it)."""

# -- what responses may carry: new name first, then the old ones -----------------------------

API_TOKEN: Final = ("apiToken", "api_token")
REFRESH_TOKEN: Final = ("refreshToken", "refresh_token")
IDENTIFIER: Final = ("identifier", "as2MessageId")
SENDER: Final = ("senderIdentifier", "senderAS2Id")
RECEIVER: Final = ("receiverIdentifier", "receiverAS2Id")
CERT_COMMON_NAME: Final = ("subjectCommonName", "subject_common_name")
CERT_VALID_FROM: Final = ("validFrom", "valid_from")
CERT_SERIAL: Final = ("serialNumberHex", "serialNumber", "serial_number")
CERT_TYPE_NAMES: Final = {"STATION": "IDENTITY", "PARTNER": "TRUST", "PARTNER_CHAIN": "TRUST_CHAIN"}
"""The OpenAPI's certificate type names -> the seed's (which this backend reports)."""
SUBMIT_ID: Final = ("identifier", "messageIdentifier", "as2MessageId", "as2messageId")
"""The submit response's ID: seed 003 section 3.1 shows ``as2MessageId``; the renaming lists
both ``as2MessageId`` -> ``identifier`` and ``as2messageId`` -> ``messageIdentifier``."""


def first(body: Mapping[str, object], names: tuple[str, ...]) -> object | None:
    """The value of the first of ``names`` present (and not null) in ``body``."""
    for name in names:
        value = body.get(name)
        if value is not None:
            return value
    return None
