"""JSON entities of the spec's data model (section 3), rendered from the emulator's records.

Choices where the spec is silent or ambiguous:

- ``partnerType`` is rendered capitalised (``Production``/``Test``) as 3.2 lists the values,
  while query parameters take the lower-case form (``production``/``test``).
- ``senderId``/``receiverId`` of received messages follow ``settings.received_sides`` (see
  :data:`~as2sync.emulator.settings.ReceivedSides`); sent, failed and queued records always
  have ``senderId`` = station, ``receiverId`` = partner.
- ``mdnStatus`` of a received message is ``Received`` when the gateway answered with an MDN
  (the only positive value the spec lists) and ``Not Requested`` otherwise.
- Sent: ``transportStatusReceived`` 200, ``deliveryStatus`` ``Delivered``, ``mdnStatus``
  ``Received``. Failed attempts: ``transportStatusReceived`` as the partner answered (omitted
  for connection failures), ``Not Delivered``, ``No MDN``. Queued: ``No Status``, ``Pending``,
  and no ``attachments`` unless ``settings.queued_attachments`` (the spec warns they "may be
  missing" there).
- ``subject`` is omitted when there is none, as 3.2 says.
"""

from __future__ import annotations

from typing import Any

from as2sync.emulator.model import (
    FailedRecord,
    MdnRecord,
    ReceivedMessage,
    StoredAttachment,
    Submission,
)
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec

Entity = dict[str, Any]


def _partner_type(value: str) -> str:
    return "Test" if value.lower() == "test" else "Production"


def _attachments(items: list[StoredAttachment]) -> list[Entity]:
    return [{"name": a.name, "size": a.size} for a in items]


def _mdn(mdn: MdnRecord) -> Entity:
    return {"persistedTimestamp": mdn.persisted_ms, "mdnError": mdn.error, "content": mdn.content}


def received(msg: ReceivedMessage, settings: EmulatorSettings) -> Entity:
    if settings.received_sides == "spec":
        sender, receiver = msg.station, msg.partner
    else:
        sender, receiver = msg.partner, msg.station
    entity: Entity = {
        "as2MessageId": msg.message_id,
        "persistedTimestamp": msg.persisted_ms,
        "compressed": msg.compressed,
        "encrypted": msg.encrypted,
        "signed": msg.signed,
        "receiverId": receiver,
        "senderId": sender,
        "mdnStatus": "Received" if msg.mdn else "Not Requested",
        "partnerType": _partner_type(msg.partner_type),
        "attachments": _attachments(msg.attachments),
    }
    if msg.subject:
        entity["subject"] = msg.subject
    if msg.mdn:
        entity["mdnMessage"] = _mdn(msg.mdn)
    return entity


def _outbound_base(sub: Submission, persisted_ms: int) -> Entity:
    entity: Entity = {
        "as2MessageId": sub.message_id,
        "persistedTimestamp": persisted_ms,
        "compressed": False,
        "encrypted": True,
        "signed": True,
        "receiverId": sub.partner,
        "senderId": sub.station,
        "partnerType": _partner_type(sub.partner_type),
    }
    if sub.subject:
        entity["subject"] = sub.subject
    return entity


def sent(sub: Submission) -> Entity:
    assert sub.sent_ms is not None  # only sent entries are rendered as sent
    entity = _outbound_base(sub, sub.sent_ms)
    entity["transportStatusReceived"] = 200
    entity["deliveryStatus"] = "Delivered"
    entity["mdnStatus"] = "Received" if sub.mdn else "No MDN"
    if sub.mdn:
        entity["mdnMessage"] = _mdn(sub.mdn)
    entity["attachments"] = _attachments(sub.attachments)
    return entity


def failed(record: FailedRecord, sub: Submission) -> Entity:
    entity = _outbound_base(sub, record.persisted_ms)
    if record.transport_status is not None:
        entity["transportStatusReceived"] = record.transport_status
    entity["deliveryStatus"] = "Not Delivered"
    entity["mdnStatus"] = "No MDN"
    entity["attachments"] = _attachments(sub.attachments)
    return entity


def queued(sub: Submission, settings: EmulatorSettings) -> Entity:
    entity = _outbound_base(sub, sub.created_ms)
    entity["deliveryStatus"] = "No Status"
    entity["mdnStatus"] = "Pending"
    if settings.queued_attachments:
        entity["attachments"] = _attachments(sub.attachments)
    return entity


def partner(spec: PartnerSpec, partner_id: int, send_timeout: int = 60) -> Entity:
    """A Partner entity (spec 3.5 / 10.1.2) with plausible defaults for the unmodelled fields."""
    slug = spec.as2_id.lower().replace(" ", "-")
    return {
        "partnerId": partner_id,
        "as2Identifier": spec.as2_id,
        "name": spec.name or spec.as2_id,
        "description": f"Emulated partner ({spec.behaviour})",
        "uri": f"http://as2.{slug}.example/as2",
        "messageSubject": f"AS2 message to {spec.as2_id}",
        "compressAfter": False,
        "compressBefore": False,
        "precompressInputFiles": False,
        "encryptCert": {"id": 2 * partner_id + 1},
        "signCert": {"id": 2 * partner_id + 1},
        "useDiffCertAsSignCert": False,
        "encryptMessages": True,
        "requestAsyncMdn": False,
        "requestMdn": True,
        "requestSignedMdn": True,
        "requestHttpsMdn": False,
        "signMessage": True,
        "encryptionAlgorithm": "AES256_CBC",
        "signDigestAlgorithm": "SHA256",
        "signEncryptAlgorithm": "RSA",
        "isGlobalPartner": False,
        "partnerType": spec.partner_type,
        "httpsCert": {"id": 2 * partner_id + 2},
        "pinned": False,
        "customHeaders": [],
        "useAs2Restart": False,
        "pauseIncoming": False,
        "pauseOutgoing": spec.pause_outgoing,
        "sendTimeout": send_timeout,
        "flows": [],
    }


def station(as2_id: str, station_id: int) -> Entity:
    """A Station entity (spec 3.6 / 11.1.2)."""
    slug = as2_id.lower().replace(" ", "-")
    return {
        "id": station_id,
        "as2Identifier": as2_id,
        "name": as2_id,
        "comments": "",
        "email": f"{slug}@example.com",
        "certificate": {"id": 1000 + station_id},
        "pinned": False,
        "sftpStructure": 0,
        "emailNotifications": False,
        "sendFailureEmails": True,
        "sendMdnFailureEmails": True,
    }
