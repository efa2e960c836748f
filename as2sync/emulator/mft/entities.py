"""The JSON of MFT Gateway messages (seed 003 section 3.3), with the new names only.

Renamed fields (section 7) appear only under their new names (``identifier``,
``senderIdentifier``, ``receiverIdentifier``; the MDN's ``identifier``), so a client that still
reads an old name finds nothing, as it would against today's service. Status strings are free
text in the real service; these are the seed's examples.
"""

from __future__ import annotations

from typing import Any

from as2sync.emulator.mft.keys import OutBox, inbox_keys, internal_id, mdn_key, outbox_keys
from as2sync.emulator.model import MdnRecord, ReceivedMessage, Submission

TENANT_ID = 246669049427362
USER_AGENT = "as2sync-emulator"

_MSG_STATUS: dict[OutBox, str] = {
    "sent": "Sent",
    "queued": "Queued",
    "failed": "Failed",
    "incomplete": "Incomplete",
}


def _mdn(mdn: MdnRecord, seq: int, identifier: str, *, incoming: bool, status: str) -> Any:
    return {
        "mdnId": f"<MDN-{internal_id(seq)}@mftgateway.emulator>",
        "messageId": internal_id(seq),
        "identifier": identifier,
        "disposition": "automatic-action/MDN-sent-automatically; processed",
        "humanMessage": mdn.content,
        "rawMdnS3Key": mdn_key(not incoming, seq),
        "mic": "",
        "signed": True,
        "incoming": incoming,
        "status": status,
        "timestamp": mdn.persisted_ms,
    }


def inbox_message(m: ReceivedMessage) -> dict[str, Any]:
    """A received message (call inside the store transaction that read it)."""
    mdn_status = "Sent Signed MDN" if m.mdn is not None else ""
    headers = {"AS2-From": m.partner, "AS2-To": m.station, "Message-Id": m.message_id}
    if m.subject is not None:
        headers["Subject"] = m.subject
    return {
        "id": internal_id(m.seq),
        "identifier": m.message_id,
        "tenantId": TENANT_ID,
        "incoming": True,
        "msgStatus": "Received",
        "mdnStatus": mdn_status,
        "receiverIdentifier": m.station,
        "senderIdentifier": m.partner,
        "subject": m.subject or "",
        "attachmentPaths": inbox_keys(m),
        "timestamp": m.persisted_ms,
        "compressed": m.compressed,
        "signed": m.signed,
        "encrypted": m.encrypted,
        "mic": "",
        "micMatches": True,
        "transportStatusReceived": 200,
        "userAgent": USER_AGENT,
        "failureReason": "",
        "failures": 0,
        "mdnFailureReason": "",
        "msgExecutionStatus": 1,
        "apiFetched": m.read,
        "transportHeaders": headers,
        "mdnMessage": (
            _mdn(m.mdn, m.seq, m.message_id, incoming=False, status=mdn_status)
            if m.mdn is not None
            else None
        ),
    }


def outbox_message(s: Submission, box: OutBox) -> dict[str, Any]:
    """A submitted message as listed in ``box`` (call inside the store transaction)."""
    mdn_status = "Received Signed MDN" if box == "sent" and s.mdn is not None else ""
    failure = ""
    if box == "failed":
        failure = f"Delivery to {s.partner} failed after {s.attempts} attempt(s): HTTP 503"
    elif box == "incomplete":
        failure = f"No MDN from {s.partner} before the connection timed out"
    return {
        "id": internal_id(s.seq),
        "identifier": s.message_id,
        "tenantId": TENANT_ID,
        "incoming": False,
        "msgStatus": _MSG_STATUS[box],
        "mdnStatus": mdn_status,
        "receiverIdentifier": s.partner,
        "senderIdentifier": s.station,
        "subject": s.subject or "",
        "attachmentPaths": outbox_keys(s),
        "timestamp": s.created_ms,
        "compressed": False,
        "signed": True,
        "encrypted": True,
        "mic": "",
        "micMatches": box == "sent",
        "transportStatusReceived": 200 if box in ("sent", "incomplete") else 0,
        "userAgent": USER_AGENT,
        "failureReason": failure,
        "failures": s.attempts if box == "failed" else 0,
        "mdnFailureReason": "",
        "msgExecutionStatus": 1,
        "transportHeaders": {"AS2-From": s.station, "AS2-To": s.partner},
        "mdnMessage": (
            _mdn(s.mdn, s.seq, s.message_id, incoming=True, status=mdn_status)
            if box == "sent" and s.mdn is not None
            else None
        ),
    }
