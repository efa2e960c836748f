"""What the MFT Gateway front-end serves beyond the shared account: its switches.

The shared :class:`~as2sync.emulator.settings.EmulatorSettings` still say who the account is
(user, password, stations, partners and their behaviour, token lifetime, rate limit, send
limit, faults). :class:`MftSettings` adds the choices where MFT Gateway's sources disagree or
are silent (see ``../shared/MFT-GATEWAY-API.md`` section 4), each switchable at runtime through
``POST /_admin/mft`` so one emulator can serve both readings to one test.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Literal

SubmitIdKey = Literal["identifier", "messageIdentifier", "as2MessageId", "as2messageId"]
CertType = Literal["IDENTITY", "TRUST", "TRUST_CHAIN", "HTTPS", "HTTPS_CHAIN"]
CERT_TYPES: tuple[CertType, ...] = ("IDENTITY", "TRUST", "TRUST_CHAIN", "HTTPS", "HTTPS_CHAIN")
CERT_TYPE_ALIASES: dict[str, CertType] = {
    "STATION": "IDENTITY",
    "PARTNER": "TRUST",
    "PARTNER_CHAIN": "TRUST_CHAIN",
}
"""The OpenAPI's names for the seed's certificate types (fact sheet section 4 item 7)."""

DAY_MS = 86_400_000


@dataclass(frozen=True)
class CertificateSpec:
    """A certificate of the account (``GET /certificate``): its expiry is what tests choose.
    Times are epoch milliseconds."""

    alias: str
    type: CertType
    expiry_ms: int
    common_name: str = ""
    belongs_to: tuple[str, ...] = ()
    valid_from_ms: int | None = None
    serial: int = 0x66C9FCF99BF8C0A39E2F0788A43E696365BCA

    def __post_init__(self) -> None:
        if self.type not in CERT_TYPES:
            raise ValueError(f"certificate type must be one of {CERT_TYPES}: {self.type!r}")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CertificateSpec:
        return cls(
            str(doc["alias"]),
            doc["type"],
            int(doc["expiry_ms"]),
            str(doc.get("common_name", "")),
            tuple(doc.get("belongs_to", ())),
            doc.get("valid_from_ms"),
        )


DEFAULT_CERTIFICATES = (
    CertificateSpec(
        "b3294fa5-4e2b-4a84-8a80-fa800e230171",
        "IDENTITY",
        1_893_456_000_000,  # 2030-01-01
        "MYSTATION",
        ("MYSTATION",),
    ),
    CertificateSpec(
        "5fa241b0-7ea6-42a2-9539-fbeb9125f671",
        "TRUST",
        1_893_456_000_000,
        "ACME",
        ("ACME",),
    ),
)


@dataclass(frozen=True)
class MftSettings:
    """The MFT front-end's switches (all defaults are the documented or safest reading).

    ``list_marks_read``: reading (b) of the issue: the inbox list itself marks what it returns
    as fetched (seed 003 section 3.2 "not yet fetched before via a call to this API"); default
    (a), only ``GET /message/inbox/{identifier}`` marks read.
    ``attachments_mark_read``: ``GET .../attachments`` marks an inbox message read too.
    ``incomplete_list``: ``/message/outbox/incomplete`` exists; False answers 404, as the
    OpenAPI's "coming soon" does.
    ``incomplete_partners``: messages to these partners end ``incomplete`` (sent, no MDN before
    the timeout) instead of sent.
    ``legacy_names``: the server still honours the pre-2023 request names (``stationAS2Id``,
    ``as2MessageIds`` ...); False (2026) ignores them, as the real server is expected to.
    ``submit_id_key``: where the submit response body carries the new message's ID (None:
    only in the ``Link`` header).
    ``url_validity``: seconds a signed attachment/MDN URL is valid (the vendor's 10 minutes).
    ``refresh_fails``: ``/refresh-session`` answers 500 whatever it is sent.
    ``certificates``: what ``GET /certificate`` lists.
    """

    list_marks_read: bool = False
    attachments_mark_read: bool = False
    incomplete_list: bool = True
    incomplete_partners: tuple[str, ...] = ()
    legacy_names: bool = False
    submit_id_key: SubmitIdKey | None = "identifier"
    url_validity: float = 600.0
    refresh_fails: bool = False
    refresh_ttl: float = 7 * 86400.0
    certificates: tuple[CertificateSpec, ...] = DEFAULT_CERTIFICATES

    def __post_init__(self) -> None:
        if self.url_validity <= 0:
            raise ValueError("url_validity must be positive")
        if self.refresh_ttl <= 0:
            raise ValueError("refresh_ttl must be positive")


class Switches:
    """The settings in force, replaceable at runtime. Thread-safe; the lock is taken alone."""

    def __init__(self, settings: MftSettings) -> None:
        self._lock = threading.Lock()
        self._settings = settings

    @property
    def current(self) -> MftSettings:
        with self._lock:
            return self._settings

    def update(self, **changes: Any) -> MftSettings:
        """Change some switches (ValueError/TypeError for unknown or invalid ones)."""
        if "incomplete_partners" in changes:
            changes["incomplete_partners"] = tuple(changes["incomplete_partners"])
        if "certificates" in changes:
            changes["certificates"] = tuple(
                c if isinstance(c, CertificateSpec) else CertificateSpec.from_doc(c)
                for c in changes["certificates"]
            )
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings
