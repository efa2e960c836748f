"""AS2 Gateway v1 response bodies and headers -> the plain data of :mod:`.model`.

Pure functions, no I/O. Tolerant where the spec says a field is optional (``subject``,
``deliveryStatus``, ``mdnMessage``, ``attachments`` of queued messages, ...); a body whose shape
is not what the API promises raises :class:`ProtocolError`.
"""

from __future__ import annotations

import math
import re
from urllib.parse import unquote

from as2sync.backends.as2gateway.model import (
    Attachment,
    Mdn,
    MessageInfo,
    Page,
    Partner,
    Station,
    Truncation,
)
from as2sync.errors import ProtocolError

_SENT_PATH = "/message/sent/"
# RFC 8288 form "<URL>; rel=..."; the URL itself may hold the ID's own angle brackets, so the
# URL runs to the last ">" that is followed only by parameters without brackets.
_LINK_TARGET = re.compile(r"^<(?P<url>.+?)>\s*(?:;[^<>]*)?$")
_TRUNCATION = re.compile(r"^\(?\s*(?P<msg>-?\d+)\s*,\s*(?P<att>-?\d+)\s*\)?$")


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _seconds(value: object) -> float | None:
    """A non-negative number of seconds (a JSON number or a numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def parse_message(record: object) -> MessageInfo:
    """One "AS2 Message" entity; only ``as2MessageId`` is required."""
    if not isinstance(record, dict):
        raise ProtocolError(f"message record is not an object: {type(record).__name__}")
    message_id = record.get("as2MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise ProtocolError("message record without as2MessageId")
    attachments = []
    raw_attachments = record.get("attachments")
    if isinstance(raw_attachments, list):
        for item in raw_attachments:
            if isinstance(item, dict):
                attachments.append(
                    Attachment(name=_str(item.get("name")) or "", size=_int(item.get("size")))
                )
    mdn = None
    raw_mdn = record.get("mdnMessage")
    if isinstance(raw_mdn, dict):
        persisted = raw_mdn.get("persistedTimestamp")
        mdn = Mdn(
            persisted_ms=_int(persisted) if persisted is not None else None,
            error=_bool(raw_mdn.get("mdnError")),
            content=_str(raw_mdn.get("content")) or "",
        )
    transport = record.get("transportStatusReceived")
    return MessageInfo(
        message_id=message_id,
        persisted_ms=_int(record.get("persistedTimestamp")),
        sender_id=_str(record.get("senderId")) or "",
        receiver_id=_str(record.get("receiverId")) or "",
        attachments=tuple(attachments),
        subject=_str(record.get("subject")),
        partner_type=_str(record.get("partnerType")),
        compressed=_bool(record.get("compressed")),
        encrypted=_bool(record.get("encrypted")),
        signed=_bool(record.get("signed")),
        delivery_status=_str(record.get("deliveryStatus")),
        mdn_status=_str(record.get("mdnStatus")),
        transport_status=_int(transport) if transport is not None else None,
        mdn=mdn,
        raw=dict(record),
    )


def parse_page(body: object) -> Page:
    """A "Pagination" of AS2 Messages; ``totalRecords`` defaults to the records' count."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ProtocolError("list response is not a Pagination (no records array)")
    records = tuple(parse_message(r) for r in body["records"])
    total = body.get("totalRecords")
    return Page(
        total=_int(total, len(records)) if total is not None else len(records), records=records
    )


def _entities(body: object, what: str) -> list[dict[str, object]]:
    if not isinstance(body, list):
        raise ProtocolError(f"{what} response is not a JSON array")
    out = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("as2Identifier"), str):
            raise ProtocolError(f"{what} entry without as2Identifier")
        out.append(item)
    return out


def parse_stations(body: object) -> list[Station]:
    return [
        Station(as2_id=str(s["as2Identifier"]), name=_str(s.get("name")) or "")
        for s in _entities(body, "station")
    ]


def parse_partners(body: object) -> list[Partner]:
    return [
        Partner(
            as2_id=str(p["as2Identifier"]),
            name=_str(p.get("name")) or "",
            partner_type=_str(p.get("partnerType")) or "Production",
            pause_incoming=_bool(p.get("pauseIncoming")),
            pause_outgoing=_bool(p.get("pauseOutgoing")),
            send_timeout=_seconds(p.get("sendTimeout")),
        )
        for p in _entities(body, "partner")
    ]


def message_id_from_link(value: str | None) -> str | None:
    """The AS2 message ID in a send response's ``Link`` header, or None if there is none.

    Accepts the spec's bare absolute URL (``https://.../v1/message/sent/<id@host>``) and the
    RFC 8288 form ``<URL>; rel=...``. Everything after the last ``/message/sent/`` is the ID
    (an ID may itself contain ``/``), percent-decoded.
    """
    if not value:
        return None
    text = value.strip()
    match = _LINK_TARGET.match(text)
    if match is not None and _SENT_PATH in match.group("url"):
        text = match.group("url").strip()
    cut = text.rfind(_SENT_PATH)
    if cut < 0:
        return None
    message_id = unquote(text[cut + len(_SENT_PATH) :]).strip()
    return message_id or None


def parse_truncation(value: str | None) -> Truncation | None:
    """``X-Batch-Truncation-Index: (i,j)`` (spaces tolerated, j may be -1), or None."""
    if value is None:
        return None
    match = _TRUNCATION.match(value.strip())
    if match is None:
        return None
    message, attachment = int(match.group("msg")), int(match.group("att"))
    if message < 0 or attachment < -1:
        return None
    return Truncation(message=message, attachment=attachment)
