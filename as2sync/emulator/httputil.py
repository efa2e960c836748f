"""Small HTTP helpers of the emulated API: error bodies, query parsing, headers, body limits."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message

from as2sync.emulator.apierror import ApiError, bad_request

# Requests this much over a limit are still read (and discarded) before the 413 is sent, so a
# client that writes its whole body before reading the answer sees the 413, not a reset.
DRAIN_CAP = 64 * 1024 * 1024
# Multipart framing (boundaries, part headers) on top of the files' own limit.
MULTIPART_SLACK = 256 * 1024

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def message(status: int, text: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The spec's Generic Response (3.1): ``{"message": text}``."""
    return JSONResponse({"message": text}, status_code=status, headers=dict(headers or {}))


def error_response(exc: ApiError) -> JSONResponse:
    return message(exc.status, exc.message, exc.headers)


def parse_bool(request: Request, name: str) -> bool:
    """A boolean query parameter; absent is false, anything unrecognised is a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_request(f"Invalid boolean value for {name}: {raw}")


def parse_int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid integer value for {name}: {raw}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"{name} must be {bound}: {raw}")
    return value


def parse_partner_type(request: Request) -> str:
    raw = request.query_params.get("partnerType") or "production"
    value = raw.lower()
    if value not in ("production", "test"):
        raise bad_request(f"Invalid partnerType: {raw} (expected production or test)")
    return value


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9 !#$%&'()*+,\-.:;<=>?@\[\]^_`{|}~/]*$")


def content_disposition(filename: str) -> str:
    """``attachment; filename="..."`` safely, whatever the (partner-chosen) name contains.

    Plain printable ASCII names are sent as a quoted string as the spec shows; anything else
    (quotes, backslashes, control characters, non-ASCII) gets an ASCII fallback plus the exact
    name in RFC 6266 ``filename*=UTF-8''...`` form.
    """
    if _PLAIN_NAME.match(filename):
        return f'attachment; filename="{filename}"'
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def decode_header(request: Request, name: str) -> str | None:
    """A request header's value decoded as UTF-8 when valid (clients send raw UTF-8 file names
    in ``Name``), else Latin-1 as HTTP defines it."""
    key = name.lower().encode("latin-1")
    for raw_key, raw_value in request.headers.raw:
        if raw_key.lower() == key:
            try:
                return raw_value.decode("utf-8")
            except UnicodeDecodeError:
                return raw_value.decode("latin-1")
    return None


def guess_content_type(name: str, data: bytes) -> str:
    """What AS2G does without a Content-Type (4.4.1): by extension, and by content for .edi."""
    if name.lower().endswith(".edi"):
        head = data[:3]
        if head == b"ISA":
            return "application/edi-x12"
        if head in (b"UNA", b"UNB"):
            return "application/edifact"
        return "application/edi-consent"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """The request body, or ApiError 413 if it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    declared_size = int(declared) if declared is not None and declared.isdigit() else None
    too_big = declared_size is not None and declared_size > limit
    if declared_size is not None and declared_size > DRAIN_CAP:
        # Not worth reading: the connection is closed after the 413 instead.
        raise ApiError(413, f"{what} exceeds the maximum size of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            too_big = True
        if too_big:
            if size > DRAIN_CAP:
                break
            continue
        chunks.append(chunk)
    if too_big:
        raise ApiError(413, f"{what} exceeds the maximum size of {limit} bytes")
    return b"".join(chunks)


async def multipart_files(
    request: Request, *, part: str, limit: int, max_files: int
) -> list[tuple[str, str, bytes]]:
    """``(filename, content_type, data)`` of every ``part`` field of a multipart/form-data body
    (other fields are not part of the API and ignored). 400 for a part without a filename, no
    such part, more than ``max_files`` files or a repeated name; 413 over ``limit`` bytes."""
    body = await read_limited(request, limit + MULTIPART_SLACK, "Message")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    parsed = Request(request.scope, replay)
    try:
        form = await parsed.form(max_files=max_files, max_fields=100)
    except HTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise bad_request(f"Too many files: at most {max_files} files per message") from None
        raise bad_request(f"Invalid multipart body: {exc.detail}") from None
    try:
        files: list[tuple[str, str, bytes]] = []
        for field, value in form.multi_items():
            if field != part:
                continue
            if isinstance(value, str) or not value.filename:
                raise bad_request(f"Every '{part}' part needs a filename")
            data = await value.read()
            media = value.content_type or guess_content_type(value.filename, data)
            files.append((value.filename, media, data))
    finally:
        await form.close()
    if not files:
        raise bad_request(f"No '{part}' parts in the multipart body")
    names = [f[0] for f in files]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise bad_request(f"Each attachment must have a unique filename; repeated: {dupes}")
    total = sum(len(f[2]) for f in files)
    if total > limit:
        raise ApiError(413, f"Files add up to {total} bytes; the maximum is {limit} bytes")
    return files
