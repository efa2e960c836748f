"""File names that are not UTF-8: how they are sent and how the ledger records them.

Linux file names are bytes; an outbox may hold ``inv\\xff.edi`` written by a Latin-1 system or
an unzip tool. Python hands such a name over with the undecodable bytes as lone surrogates
(``surrogateescape``), which neither the ledger (SQLite TEXT is UTF-8) nor the gateway (JSON,
multipart) can carry. So:

* **Sent name** (:func:`wire_name`): a name that is valid UTF-8 is sent as it is. Any other
  name is sent with each byte that is not part of valid UTF-8 written as ``%XX`` and each
  ``%`` as ``%25``: ``inv\\xff.edi`` is sent as ``inv%FF.edi``, ``100%\\xe9.edi`` as
  ``100%25%E9.edi``. ``urllib.parse.unquote_to_bytes`` of such a name gives the original bytes
  back. The ledger, logs and ``status`` show this name too.
* **Paths in the ledger** (:func:`to_ledger`, :func:`from_ledger`): the file itself keeps its
  original bytes name in the outbox and in sent/ or failed/; a path that is not UTF-8 is
  recorded as a ``file:`` URI (RFC 8089, percent-encoded bytes), which no real path as2sync
  records can look like (those are absolute: they begin with ``/``).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

_URI = "file:"


def is_utf8(text: str) -> bool:
    """False if ``text`` holds undecodable bytes (lone surrogates from ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def wire_name(name: str) -> str:
    """The name under which a file is sent and recorded (see the module docstring)."""
    if is_utf8(name):
        return name
    out = []
    for char in name:
        if "\udc80" <= char <= "\udcff":  # an undecodable byte, as surrogateescape holds it
            out.append(f"%{ord(char) - 0xDC00:02X}")
        elif char == "%":
            out.append("%25")
        else:
            out.append(char)
    return "".join(out)


def to_ledger(path: Path) -> Path:
    """``path`` as the ledger can store it: itself if it is UTF-8, else a ``file:`` URI."""
    if is_utf8(str(path)):
        return path
    raw = os.fsencode(os.path.abspath(path))
    return Path(_URI + urllib.parse.quote(raw, safe="/"))


def from_ledger(path: Path) -> Path:
    """The real path a ledger path stands for (the inverse of :func:`to_ledger`)."""
    text = str(path)
    if text.startswith(_URI + "/"):
        return Path(os.fsdecode(urllib.parse.unquote_to_bytes(text[len(_URI) :])))
    return path
