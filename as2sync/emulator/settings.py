"""Configuration of the emulator: account, stations, partners, timing, limits and faults.

Everything is plain frozen data so a test can build settings in one expression and the CLI can
build the same object from its arguments. Nothing here does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Behaviour = Literal["ok", "echo", "fail"]
"""What happens to a message sent to a partner.

``ok``: delivered after ``delivery_delay`` (sent, Delivered, MDN Received).
``echo``: delivered, and after ``echo_delay`` the same attachments come back from the partner as
a received message (a loopback partner for demos and round-trip tests).
``fail``: every delivery attempt fails; after ``failed_attempts`` attempts the queue entry is
stopped (one record per attempt in the failed list).
"""

BEHAVIOURS: tuple[Behaviour, ...] = ("ok", "echo", "fail")

ReceivedSides = Literal["spec", "swapped"]
"""How ``senderId``/``receiverId`` are filled for *received* messages.

The spec (3.2) describes ``senderId`` as "the AS2 station which has received/sent this message"
and ``receiverId`` as "the AS2 partner who has sent/received this message", i.e. literally the
station is always ``senderId``. ``spec`` follows that text; ``swapped`` fills the fields the way
the AS2 headers read (a received message's sender is the partner). Sent messages are the same in
both readings: ``senderId`` = station, ``receiverId`` = partner.
"""

FAULT_ENDPOINTS: frozenset[str] = frozenset(
    {
        "authorize",
        "send",
        "list",
        "get",
        "markunread",
        "attachment",
        "batch",
        "mdn",
        "stop",
        "retry",
        "delete",
        "partner",
        "station",
        "refresh",  # MFT Gateway's POST /refresh-session
        "certificate",  # MFT Gateway's GET /certificate
        "urls",  # MFT Gateway's .../attachments and .../mdn (signed URLs, not the bytes)
        # Pseudo-endpoint: any request carrying markAsRead=true (get, attachment, batch).
        "markread",
    }
)
"""Endpoint names accepted in :attr:`Faults.endpoints` (``markread`` is a pseudo-endpoint)."""

DOWNLOAD_ENDPOINTS: frozenset[str] = frozenset({"attachment", "batch", "mdn"})


@dataclass(frozen=True)
class PartnerSpec:
    """A trading partner of the account.

    ``partner_type`` is the spec's "Production" or "Test"; a message for a test partner must be
    sent, and is listed, with ``partnerType=test``.
    """

    as2_id: str
    behaviour: Behaviour = "ok"
    name: str = ""
    partner_type: Literal["Production", "Test"] = "Production"
    pause_outgoing: bool = False
    """Shown as ``pauseOutgoing`` in the partner list (``as2sync check --online`` warns)."""

    def __post_init__(self) -> None:
        if not self.as2_id:
            raise ValueError("partner AS2 ID must not be empty")
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"partner behaviour must be one of {BEHAVIOURS}: {self.behaviour!r}")

    @classmethod
    def parse(cls, text: str) -> PartnerSpec:
        """``"ACME"``, ``"LOOP:echo"``, ``"DOWN:fail"`` (the CLI's ``--partner`` syntax)."""
        as2_id, sep, behaviour = text.rpartition(":")
        if not sep or behaviour not in BEHAVIOURS:
            return cls(text)
        return cls(as2_id, behaviour=behaviour)


@dataclass(frozen=True)
class Faults:
    """Fault injection; every probability is in [0, 1] and everything defaults to off.

    Per targeted request the faults are rolled in this order and at most one fires:
    ``rate_limit_burst`` (spurious 429), ``token_expiry`` (a valid token answered 401),
    ``drop`` (connection closed, no response, action NOT taken), ``error_before`` (5xx, action
    not taken), then the action runs, then ``drop_after`` (action taken, connection closed
    without a response), ``error_after`` (action taken, 5xx returned), ``truncate`` (the full
    ``Content-Length`` is announced, part of the body sent, connection closed).

    ``endpoints`` restricts faults to these endpoint names (see :data:`FAULT_ENDPOINTS`);
    ``None`` means every endpoint except ``authorize``, and for ``truncate`` only the download
    endpoints (attachment, batch, mdn). ``latency`` is added to every ``/v1`` request, targeted
    or not. ``seed`` makes the rolls reproducible.
    """

    error_before: float = 0.0
    error_after: float = 0.0
    drop: float = 0.0
    drop_after: float = 0.0
    truncate: float = 0.0
    latency: float = 0.0
    endpoints: tuple[str, ...] | None = None
    rate_limit_burst: float = 0.0
    token_expiry: float = 0.0
    seed: int | None = None
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)

    def __post_init__(self) -> None:
        for name in (
            "error_before",
            "error_after",
            "drop",
            "drop_after",
            "truncate",
            "rate_limit_burst",
            "token_expiry",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1]: {value}")
        if self.latency < 0:
            raise ValueError("Faults.latency must not be negative")
        if self.endpoints is not None:
            unknown = set(self.endpoints) - FAULT_ENDPOINTS
            if unknown:
                raise ValueError(
                    f"unknown fault endpoints {sorted(unknown)}; known: {sorted(FAULT_ENDPOINTS)}"
                )
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError("Faults.error_statuses must be non-empty 5xx codes")

    @property
    def any_active(self) -> bool:
        return any(
            (
                self.error_before,
                self.error_after,
                self.drop,
                self.drop_after,
                self.truncate,
                self.rate_limit_burst,
                self.token_expiry,
            )
        )

    def targets(self, endpoint: str, *, marks_read: bool = False) -> bool:
        """Whether faults (other than latency and truncate) apply to this endpoint."""
        if self.endpoints is None:
            return endpoint != "authorize"
        return endpoint in self.endpoints or (marks_read and "markread" in self.endpoints)

    def truncates(self, endpoint: str, *, marks_read: bool = False) -> bool:
        """Whether ``truncate`` applies to this endpoint's responses."""
        if self.endpoints is None:
            return endpoint in DOWNLOAD_ENDPOINTS
        return self.targets(endpoint, marks_read=marks_read)


MIB = 1024 * 1024


@dataclass(frozen=True)
class EmulatorSettings:
    """Everything the emulator serves. Times are seconds; sizes are bytes.

    ``rate_limit`` is ``(requests, per_seconds)`` for the whole account (sliding window), or
    ``None`` for no limit. ``batch_limit_bytes`` is the batch-download aggregation limit (the
    spec's 10 MB), ``send_limit_bytes`` the per-message send limit (also 10 MB in the spec).
    ``batch_folder_brackets`` names batch-zip folders exactly like the message ID (with ``<>``);
    ``False`` strips the brackets. ``queued_attachments`` includes ``attachments`` in queued
    entities (the spec warns they "may be missing", so by default they are).
    ``failed_attempts`` is how many delivery attempts a ``fail`` partner gets before the entry is
    stopped; attempts are ``delivery_delay`` apart. ``send_timeout`` is the ``sendTimeout``
    every partner entity shows; ``None`` shows how long the emulator really takes to deliver
    (``delivery_delay`` rounded up, at least 1 s). ``port=0`` picks a free port.
    """

    user: str = "demo@example.com"
    password: str = "demo"  # noqa: S105 - the documented demo credential, not a secret
    stations: tuple[str, ...] | list[str] = ("MYSTATION",)
    partners: tuple[PartnerSpec, ...] | list[PartnerSpec] = (
        PartnerSpec("ACME"),
        PartnerSpec("LOOP", behaviour="echo"),
        PartnerSpec("DOWN", behaviour="fail"),
    )
    token_ttl: float = 86400.0
    rate_limit: tuple[int, float] | None = (50, 10.0)
    delivery_delay: float = 0.2
    echo_delay: float = 0.5
    failed_attempts: int = 3
    batch_limit_bytes: int = 10 * MIB
    send_limit_bytes: int = 10 * MIB
    max_files: int = 10
    data_dir: Path | None = None
    faults: Faults = field(default_factory=Faults)
    received_sides: ReceivedSides = "swapped"
    batch_folder_brackets: bool = True
    queued_attachments: bool = False
    send_timeout: float | None = None
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def partner_send_timeout(self) -> int:
        """The ``sendTimeout`` shown for every partner (whole seconds, as the API shows it)."""
        if self.send_timeout is not None:
            return math.ceil(self.send_timeout)
        return max(1, math.ceil(self.delivery_delay))

    def __post_init__(self) -> None:
        if self.rate_limit is not None and (self.rate_limit[0] < 1 or self.rate_limit[1] <= 0):
            raise ValueError("rate_limit must be (requests >= 1, per_seconds > 0) or None")
        if self.failed_attempts < 1:
            raise ValueError("failed_attempts must be at least 1")
        if self.received_sides not in ("spec", "swapped"):
            raise ValueError("received_sides must be 'spec' or 'swapped'")
        if self.send_timeout is not None and self.send_timeout < 0:
            raise ValueError("send_timeout must not be negative")
        for name in ("token_ttl", "delivery_delay", "echo_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
