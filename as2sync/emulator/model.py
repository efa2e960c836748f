"""The emulator's records: received messages, outbound queue entries, failed-attempt records.

Mutable dataclasses guarded by the :class:`~as2sync.emulator.store.MessageStore`'s lock; nothing
outside a store transaction holds them. ``to_doc``/``from_doc`` convert to the JSON persisted by
:mod:`as2sync.emulator.datadir` (attachment bytes are stored as blobs, referenced by SHA-256).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "sent", "failed", "stopped"]
"""An outbound entry's state. ``failed`` is never a resting state in the emulator: between
retries an entry is ``queued``; when its attempts are used up it is ``stopped``."""


@dataclass
class StoredAttachment:
    name: str
    content_type: str
    data: bytes
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "content_type": self.content_type, "sha256": self.sha256}

    @classmethod
    def from_doc(cls, doc: dict[str, Any], blob: Callable[[str], bytes]) -> StoredAttachment:
        return cls(doc["name"], doc["content_type"], blob(doc["sha256"]), doc["sha256"])


@dataclass
class MdnRecord:
    persisted_ms: int
    error: bool
    content: str
    original_id: str

    def raw(self) -> bytes:
        """The MDN as downloaded from ``/mdn``: a multipart/report disposition notification."""
        boundary = (
            "----=_Part_MDN_"
            + hashlib.sha1(  # noqa: S324 - a boundary, not security
                self.original_id.encode()
            ).hexdigest()[:16]
        )
        disposition = (
            "automatic-action/MDN-sent-automatically; processed/error: decryption-failed"
            if self.error
            else "automatic-action/MDN-sent-automatically; processed"
        )
        return (
            "Content-Type: multipart/report; report-type=disposition-notification; "
            f'boundary="{boundary}"\r\n'
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain\r\n\r\n"
            f"{self.content}\r\n"
            f"--{boundary}\r\n"
            "Content-Type: message/disposition-notification\r\n\r\n"
            "Reporting-UA: AS2 Gateway\r\n"
            f"Original-Message-ID: {self.original_id}\r\n"
            f"Disposition: {disposition}\r\n"
            f"--{boundary}--\r\n"
        ).encode()

    def to_doc(self) -> dict[str, Any]:
        return {
            "persisted_ms": self.persisted_ms,
            "error": self.error,
            "content": self.content,
            "original_id": self.original_id,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> MdnRecord | None:
        if doc is None:
            return None
        return cls(doc["persisted_ms"], doc["error"], doc["content"], doc["original_id"])


def _mdn_doc(mdn: MdnRecord | None) -> dict[str, Any] | None:
    return None if mdn is None else mdn.to_doc()


@dataclass
class ReceivedMessage:
    seq: int
    message_id: str
    station: str
    partner: str
    attachments: list[StoredAttachment]
    subject: str | None
    partner_type: str  # "production" | "test"
    persisted_ms: int
    read: bool = False
    mdn: MdnRecord | None = None
    compressed: bool = False
    encrypted: bool = True
    signed: bool = True

    def to_doc(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "message_id": self.message_id,
            "station": self.station,
            "partner": self.partner,
            "attachments": [a.to_doc() for a in self.attachments],
            "subject": self.subject,
            "partner_type": self.partner_type,
            "persisted_ms": self.persisted_ms,
            "read": self.read,
            "mdn": _mdn_doc(self.mdn),
            "compressed": self.compressed,
            "encrypted": self.encrypted,
            "signed": self.signed,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], blob: Callable[[str], bytes]) -> ReceivedMessage:
        return cls(
            seq=doc["seq"],
            message_id=doc["message_id"],
            station=doc["station"],
            partner=doc["partner"],
            attachments=[StoredAttachment.from_doc(a, blob) for a in doc["attachments"]],
            subject=doc["subject"],
            partner_type=doc["partner_type"],
            persisted_ms=doc["persisted_ms"],
            read=doc["read"],
            mdn=MdnRecord.from_doc(doc["mdn"]),
            compressed=doc["compressed"],
            encrypted=doc["encrypted"],
            signed=doc["signed"],
        )


@dataclass
class Submission:
    """One submitted outbound message: its queue entry, and its sent record once delivered.

    ``hidden`` holds the categories it was deleted from ("queued", "stopped", "sent"); the record
    itself is kept so tests can still inspect every submission ever accepted.
    """

    seq: int
    message_id: str
    station: str
    partner: str
    attachments: list[StoredAttachment]
    subject: str | None
    partner_type: str
    profile: str | None
    created_ms: int
    status: Status = "queued"
    next_attempt_ms: int = 0
    attempts: int = 0
    sent_ms: int | None = None
    mdn: MdnRecord | None = None
    echo_due_ms: int | None = None
    echo_id: str | None = None
    hidden: set[str] = field(default_factory=set)

    def to_doc(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "message_id": self.message_id,
            "station": self.station,
            "partner": self.partner,
            "attachments": [a.to_doc() for a in self.attachments],
            "subject": self.subject,
            "partner_type": self.partner_type,
            "profile": self.profile,
            "created_ms": self.created_ms,
            "status": self.status,
            "next_attempt_ms": self.next_attempt_ms,
            "attempts": self.attempts,
            "sent_ms": self.sent_ms,
            "mdn": _mdn_doc(self.mdn),
            "echo_due_ms": self.echo_due_ms,
            "echo_id": self.echo_id,
            "hidden": sorted(self.hidden),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any], blob: Callable[[str], bytes]) -> Submission:
        return cls(
            seq=doc["seq"],
            message_id=doc["message_id"],
            station=doc["station"],
            partner=doc["partner"],
            attachments=[StoredAttachment.from_doc(a, blob) for a in doc["attachments"]],
            subject=doc["subject"],
            partner_type=doc["partner_type"],
            profile=doc["profile"],
            created_ms=doc["created_ms"],
            status=doc["status"],
            next_attempt_ms=doc["next_attempt_ms"],
            attempts=doc["attempts"],
            sent_ms=doc["sent_ms"],
            mdn=MdnRecord.from_doc(doc["mdn"]),
            echo_due_ms=doc["echo_due_ms"],
            echo_id=doc["echo_id"],
            hidden=set(doc["hidden"]),
        )


@dataclass
class FailedRecord:
    """One failed delivery attempt of a submission (the failed list has one per attempt)."""

    seq: int
    message_id: str
    attempt: int
    persisted_ms: int
    transport_status: int | None

    def to_doc(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "message_id": self.message_id,
            "attempt": self.attempt,
            "persisted_ms": self.persisted_ms,
            "transport_status": self.transport_status,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> FailedRecord:
        return cls(
            doc["seq"],
            doc["message_id"],
            doc["attempt"],
            doc["persisted_ms"],
            doc["transport_status"],
        )


@dataclass(frozen=True)
class SubmissionView:
    """A snapshot of a submission for tests and the admin API (safe to keep outside the lock)."""

    message_id: str
    station: str
    partner: str
    attachments: list[tuple[str, bytes]]
    content_types: list[str]
    subject: str | None
    partner_type: str
    profile: str | None
    created_at: float
    status: Status
    attempts: int
    echo_id: str | None


@dataclass(frozen=True)
class ReceivedView:
    """A snapshot of a received message for tests and the admin API."""

    message_id: str
    station: str
    partner: str
    attachments: list[tuple[str, bytes]]
    subject: str | None
    partner_type: str
    persisted_ms: int
    read: bool
