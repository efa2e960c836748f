"""MFT Gateway response bodies and headers -> plain data. Pure functions, no I/O.

Every renamed field is read by its new name first, then its old one (:mod:`.names`). A body
whose shape is not what the API promises raises :class:`ProtocolError`. Free-text fields
(statuses, reasons) are passed through as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from as2sync.backends.mftgateway import names
from as2sync.errors import ProtocolError

_OUTBOX_PATH = "/message/outbox/"
_MS_THRESHOLD = 1e11  # below: seconds (the unit of expiryTimestamp is undocumented)
# Java Date.toString() of a UTC date, the only zone the vendor's samples show.
_JAVA_DATES = ("%a %b %d %H:%M:%S UTC %Y", "%a %b %d %H:%M:%S GMT %Y")


@dataclass(frozen=True)
class SessionTokens:
    api_token: str
    refresh_token: str | None


@dataclass(frozen=True)
class MessageInfo:
    """One message (``GET /message/{inbox|outbox...}/{identifier}``), as far as the daemon
    reads it. ``internal_id`` is kept as text: it may exceed 2**53."""

    identifier: str
    internal_id: str | None
    incoming: bool | None
    station: str | None
    partner: str | None
    subject: str | None
    attachment_paths: tuple[str, ...]
    timestamp_ms: int | None
    msg_status: str | None
    mdn_status: str | None
    failure_reason: str | None
    api_fetched: bool | None


@dataclass(frozen=True)
class AttachmentUrl:
    name: str
    url: str


@dataclass(frozen=True)
class AttachmentUrls:
    total: int
    attachments: tuple[AttachmentUrl, ...]


def _object(body: object, what: str) -> Mapping[str, object]:
    if not isinstance(body, dict):
        raise ProtocolError(f"{what}: response is not a JSON object")
    return body


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def parse_session(body: object) -> SessionTokens:
    """The tokens of an ``/authorize`` or ``/refresh-session`` answer (ProtocolError without
    an API token)."""
    data = _object(body, "authorize")
    api = names.first(data, names.API_TOKEN)
    if not isinstance(api, str) or not api:
        raise ProtocolError("authorize: response has no apiToken")
    refresh = names.first(data, names.REFRESH_TOKEN)
    return SessionTokens(api, refresh if isinstance(refresh, str) and refresh else None)


def id_from_link(value: str | None) -> str | None:
    """The message ID in a submit's ``Link`` header: a bare URL ending in
    ``/message/outbox/<id>`` (not an RFC 8288 link, though ``<URL>; rel=...`` is tolerated),
    the ID percent-decoded if it was encoded. None if there is none."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("<") and text[1:].lower().startswith(("http://", "https://")):
        # "<URL>; rel=..." around a URL that may itself end in the ID's own ">".
        end = text.rfind(">", 0, text.find(";") if ";" in text else len(text))
        text = text[1:end] if end > 0 else text[1:]
    path = urlsplit(text).path if "?" in text or "#" in text else text
    at = path.find(_OUTBOX_PATH)
    if at < 0:
        return None
    identifier = unquote(path[at + len(_OUTBOX_PATH) :])
    return identifier or None


def submit_id(body: object, link: str | None) -> str | None:
    """The new message's ID: from the body (any documented key, new first), else the raw
    ``Link`` header; None if neither holds one."""
    if isinstance(body, dict):
        value = names.first(body, names.SUBMIT_ID)
        if isinstance(value, str) and value:
            return value
    return id_from_link(link)


def parse_id_list(body: object, what: str) -> list[str]:
    """``{"messages": [id, ...]}`` -> the IDs (ProtocolError for another shape)."""
    messages = _object(body, what).get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        raise ProtocolError(f"{what}: 'messages' is not a list of message IDs")
    return list(messages)


def parse_message(body: object, what: str) -> MessageInfo:
    data = _object(body, what)
    identifier = names.first(data, names.IDENTIFIER)
    if not isinstance(identifier, str) or not identifier:
        raise ProtocolError(f"{what}: message has no identifier")
    incoming = _bool(data.get("incoming"))
    sender = _text(names.first(data, names.SENDER))
    receiver = _text(names.first(data, names.RECEIVER))
    paths = data.get("attachmentPaths")
    if paths is None:
        paths = []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ProtocolError(f"{what}: attachmentPaths is not a list of strings")
    raw_id = data.get("id")
    internal = (
        str(raw_id) if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None
    )
    return MessageInfo(
        identifier=identifier,
        internal_id=internal,
        incoming=incoming,
        # Our station receives what comes in and sends what goes out.
        station=receiver if incoming is not False else sender,
        partner=sender if incoming is not False else receiver,
        subject=_text(data.get("subject")),
        attachment_paths=tuple(paths),
        timestamp_ms=_int(data.get("timestamp")),
        msg_status=_text(data.get("msgStatus")),
        mdn_status=_text(data.get("mdnStatus")),
        failure_reason=_text(data.get("failureReason")) or None,
        api_fetched=_bool(data.get("apiFetched")),
    )


def parse_attachment_urls(body: object, what: str) -> AttachmentUrls:
    """``{"total": n, "attachments": [{"name", "url"}]}``; ProtocolError when an entry lacks
    its name or URL, or ``total`` disagrees with the entries."""
    data = _object(body, what)
    items = data.get("attachments")
    if not isinstance(items, list):
        raise ProtocolError(f"{what}: 'attachments' is not a list")
    found: list[AttachmentUrl] = []
    for item in items:
        if not isinstance(item, dict):
            raise ProtocolError(f"{what}: an attachment entry is not an object")
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str) or not isinstance(url, str) or not url:
            raise ProtocolError(f"{what}: an attachment entry lacks its name or url")
        found.append(AttachmentUrl(name, url))
    total = _int(data.get("total"))
    if total is None:
        total = len(found)
    if total != len(found):
        raise ProtocolError(f"{what}: total is {total} but {len(found)} attachment(s) listed")
    return AttachmentUrls(total, tuple(found))


def parse_url(body: object, what: str) -> str:
    """``{"url": ...}`` (the MDN's signed URL)."""
    url = _object(body, what).get("url")
    if not isinstance(url, str) or not url:
        raise ProtocolError(f"{what}: response has no url")
    return url


@dataclass(frozen=True)
class CertificateRef:
    alias: str
    type: str


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate's metadata. ``type`` uses the seed's names (IDENTITY, TRUST,
    TRUST_CHAIN, HTTPS, HTTPS_CHAIN) whichever the server used; ``expires_at`` is epoch
    seconds (None if the server gave no readable expiry)."""

    alias: str
    type: str
    common_name: str | None
    expires_at: float | None
    belongs_to: tuple[str, ...]


def cert_type(value: object) -> str:
    text = value.upper() if isinstance(value, str) else ""
    return names.CERT_TYPE_NAMES.get(text, text)


def parse_certificates(body: object) -> list[CertificateRef]:
    """The bare array of ``GET /certificate``."""
    if not isinstance(body, list):
        raise ProtocolError("certificates: response is not a JSON array")
    found = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("alias"), str):
            raise ProtocolError("certificates: an entry has no alias")
        found.append(CertificateRef(item["alias"], cert_type(item.get("type"))))
    return found


def expiry_seconds(timestamp: object, text: object) -> float | None:
    """Epoch seconds of a certificate's expiry: ``expiryTimestamp`` first (milliseconds, or
    seconds when small), else the ``expiry`` date string (Java ``Date.toString()``)."""
    number = _int(timestamp)
    if number is not None and number > 0:
        return number / 1000.0 if number >= _MS_THRESHOLD else float(number)
    if isinstance(text, str):
        cleaned = " ".join(text.split())
        for fmt in _JAVA_DATES:
            try:
                parsed = datetime.strptime(cleaned, fmt)
            except ValueError:
                continue
            return parsed.replace(tzinfo=UTC).timestamp()
    return None


def parse_certificate(body: object) -> CertificateInfo:
    data = _object(body, "certificate")
    alias = data.get("alias")
    if not isinstance(alias, str):
        raise ProtocolError("certificate: response has no alias")
    belongs = data.get("belongsTo")
    return CertificateInfo(
        alias=alias,
        type=cert_type(data.get("type")),
        common_name=_text(names.first(data, names.CERT_COMMON_NAME)),
        expires_at=expiry_seconds(data.get("expiryTimestamp"), data.get("expiry")),
        belongs_to=tuple(b for b in belongs if isinstance(b, str))
        if isinstance(belongs, list)
        else (),
    )
