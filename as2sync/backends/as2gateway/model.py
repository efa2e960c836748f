"""What the daemon needs from a gateway, independent of any one API's URL layout.

The AS2 Gateway v1 REST API is the first implementation (``as2gateway.py``); the MFT Gateway
API and its S3 integration are meant to follow behind the same interface. Everything here is
plain data so that decisions can be computed and tested without I/O.

Errors are raised from the tree in :mod:`as2sync.errors`. The contract each method states
about repeating (idempotent or not) is what the daemon relies on for exactly-once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# One attachment is the same to every backend (re-exported: the v1 modules name it here).
from as2sync.backends.base import Attachment as Attachment
from as2sync.backends.base import Opener as Opener
from as2sync.backends.base import OutboundFile as OutboundFile
from as2sync.backends.http.transfer import Digest as Digest


class PartnerType(enum.StrEnum):
    PRODUCTION = "production"
    TEST = "test"


class Folder(enum.StrEnum):
    """The gateway's message categories (list endpoints and delete targets)."""

    RECEIVED = "received"
    SENT = "sent"
    FAILED = "failed"
    QUEUED = "queued"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Mdn:
    persisted_ms: int | None
    error: bool
    content: str


@dataclass(frozen=True)
class MessageInfo:
    """An AS2 message as the gateway lists it (the spec's "AS2 Message" entity).

    ``station_id`` and ``partner_id`` are resolved by the caller's knowledge of which side is a
    station of the account (see :func:`resolve_sides`); ``sender_id``/``receiver_id`` are kept
    verbatim because the spec describes them ambiguously.
    """

    message_id: str
    persisted_ms: int
    sender_id: str
    receiver_id: str
    attachments: tuple[Attachment, ...]
    subject: str | None = None
    partner_type: str | None = None
    compressed: bool = False
    encrypted: bool = False
    signed: bool = False
    delivery_status: str | None = None
    mdn_status: str | None = None
    transport_status: int | None = None
    mdn: Mdn | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.attachments)


@dataclass(frozen=True)
class Page:
    total: int
    records: tuple[MessageInfo, ...]


@dataclass(frozen=True)
class Truncation:
    """``X-Batch-Truncation-Index: (i,j)``: attachment j of message i was the last one added.

    ``attachment == -1`` means nothing of message i was added (its first attachment alone
    was over the limit); the spec does not say what the gateway sends then, so this is how the
    client represents it whatever the header said.
    """

    message: int
    attachment: int


@dataclass(frozen=True)
class BatchDownload:
    """A batch-zip response streamed to ``zip_path``; ``truncation`` is set on 206."""

    zip_path: Path
    truncation: Truncation | None
    size: int


@dataclass(frozen=True)
class Station:
    as2_id: str
    name: str = ""


@dataclass(frozen=True)
class Partner:
    as2_id: str
    name: str = ""
    partner_type: str = "Production"
    pause_incoming: bool = False
    pause_outgoing: bool = False
    send_timeout: float | None = None
    """``sendTimeout``: seconds a send to this partner may wait for its answer (None: not
    given). While it waits the message is in no list the API shows (spec 5.4)."""


@dataclass(frozen=True)
class ListQuery:
    """Filters for a message list; ``None`` leaves a filter out."""

    station: str | None = None
    partner: str | None = None
    message_id: str | None = None
    partner_type: PartnerType = PartnerType.PRODUCTION
    unread_only: bool = False
    page: int = 0
    page_length: int = 100
    ascending: bool = False


class Gateway(Protocol):
    """The operations the daemon needs. Implementations must be safe to call from threads."""

    def submit(
        self,
        station: str,
        partner: str,
        files: Sequence[OutboundFile],
        *,
        subject: str | None = None,
        partner_type: PartnerType = PartnerType.PRODUCTION,
    ) -> str:
        """Enqueue one AS2 message with ``files``; return its AS2 message ID.

        Never repeated internally once the request may have reached the gateway. Raises
        ``TransientError`` when it provably did not take effect, ``PermanentError`` when the
        gateway refused it, ``InvalidRequest`` when the client refused it before sending any
        byte, ``UnknownOutcome`` when it may have been accepted, and ``ContentChanged`` when a
        file is not the bytes its ``OutboundFile`` records (see there). The caller takes any
        other exception for an unknown outcome: only these two are refusals.
        """
        ...

    def list_messages(self, folder: Folder, query: ListQuery) -> Page:
        """One page of a message list. Idempotent."""
        ...

    def get_received(self, message_id: str, *, mark_read: bool = False) -> MessageInfo:
        """One received message; ``mark_read`` marks it read on the gateway. Idempotent."""
        ...

    def download_batch(
        self, message_ids: Sequence[str], dest: Path, *, mark_read: bool
    ) -> BatchDownload:
        """Stream the batch zip of up to 100 received messages into ``dest``. Idempotent."""
        ...

    def download_attachment(
        self, message_id: str, index: int, dest: Path, *, mark_read: bool = False
    ) -> int:
        """Stream one attachment of a received message into ``dest``; return its size."""
        ...

    def sent_attachment_digest(self, message_id: str, index: int) -> Digest:
        """SHA-256 and size of attachment ``index`` of a sent message, streamed through the
        hash (nothing is stored). Idempotent."""
        ...

    def mark_read(self, message_id: str) -> None:
        """Mark one received message read. Idempotent."""
        ...

    def mark_unread(self, message_id: str) -> None:
        """Mark one received message unread again. Idempotent."""
        ...

    def delete(self, folder: Folder, message_ids: Sequence[str]) -> None:
        """Delete up to 100 messages of one folder. Idempotent (a missing ID is not an error)."""
        ...

    def stations(self) -> list[Station]:
        """All stations of the account. Idempotent."""
        ...

    def partners(self) -> list[Partner]:
        """All partners of the account. Idempotent."""
        ...

    def close(self) -> None: ...


def resolve_sides(info: MessageInfo, stations: set[str]) -> tuple[str, str] | None:
    """Return ``(station, partner)`` of a message, or None if neither side is our station.

    The spec calls ``senderId`` "the AS2 station which has received/sent this message" and
    ``receiverId`` "the AS2 partner who has sent/received" it, which reads backwards for
    received messages. We therefore trust neither field: whichever side is one of the
    account's stations is the station.
    """
    if info.receiver_id in stations and info.sender_id not in stations:
        return info.receiver_id, info.sender_id
    if info.sender_id in stations and info.receiver_id not in stations:
        return info.sender_id, info.receiver_id
    if info.sender_id in stations and info.receiver_id in stations:
        # Station-to-station traffic: the spec's literal reading (senderId is the station).
        return info.sender_id, info.receiver_id
    return None
