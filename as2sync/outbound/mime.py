"""The Content-Type a file is submitted with.

EDI files (``.edi``, ``.x12``, ``.edifact``) are told apart by content, because one extension
covers both standards: an X12 interchange starts with ``ISA``, an EDIFACT one with ``UNA``
(service string advice) or ``UNB``. Everything else goes by extension through the
:mod:`mimetypes` table, and ``application/octet-stream`` when nothing is known (the spec
allows it for "I do not know").
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

EDI_EXTENSIONS = frozenset({".edi", ".x12", ".edifact"})
X12 = "application/edi-x12"
EDIFACT = "application/edifact"
OCTET_STREAM = "application/octet-stream"

# Leading bytes that may precede the first segment: UTF-8 BOM and whitespace.
_SKIP = b"\xef\xbb\xbf \t\r\n"


def sniff_edi(head: bytes) -> str | None:
    """``application/edi-x12`` or ``application/edifact`` from the first bytes, else None."""
    start = head.lstrip(_SKIP)
    if start.startswith(b"ISA"):
        return X12
    if start.startswith((b"UNA", b"UNB")):
        return EDIFACT
    return None


def content_type(path: Path, name: str | None = None) -> str:
    """The MIME type to submit the file at ``path`` with; ``name`` decides the extension
    (the processing copy's name carries a prefix, the original name does not)."""
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if suffix in EDI_EXTENSIONS:
        with open(path, "rb") as fh:
            sniffed = sniff_edi(fh.read(64))
        if sniffed is not None:
            return sniffed
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    return guessed or OCTET_STREAM
