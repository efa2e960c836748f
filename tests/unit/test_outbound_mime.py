"""Content-Type: EDI sniffed by content for .edi/.x12/.edifact, else by extension."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pytest

from as2sync.outbound.mime import content_type


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("a.edi", b"ISA*00*          *00*", "application/edi-x12"),
        ("a.edi", b"\xef\xbb\xbf\r\nISA*00*", "application/edi-x12"),
        ("a.edi", b"UNA:+.? 'UNB+UNOC:3", "application/edifact"),
        ("a.EDIFACT", b"UNB+UNOC:3+SENDER", "application/edifact"),
        ("a.x12", b"UNB+UNOC:3", "application/edifact"),  # content wins over the extension
        ("a.edi", b"hello", "application/octet-stream"),
        ("a.xml", b"ISA", None),  # only EDI extensions are sniffed; others as mimetypes says
        ("a.pdf", b"%PDF", None),
        ("noext", b"ISA", "application/octet-stream"),
    ],
)
def test_content_type(tmp_path: Path, name: str, body: bytes, expected: str | None) -> None:
    path = tmp_path / "17-stored-under-another-name"
    path.write_bytes(body)
    if expected is None:
        expected = mimetypes.guess_type(name, strict=False)[0]
        assert expected is not None and "edi" not in expected
    assert content_type(path, name) == expected
