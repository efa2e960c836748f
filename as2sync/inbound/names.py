"""Turn a hostile, partner-supplied attachment name into a safe, readable file name.

Attachment names come from trading partners and are used as file names in the inbox, which
other programs then read. The rules, in order:

* Directories are stripped: ``/`` and ``\\`` both separate directories (a Windows sender's
  ``C:\\out\\x.edi`` is ``x.edi``), so ``../../x``, ``/etc/x`` and ``a\\b`` become ``x``, ``x``
  and ``b``. What is left can never name another directory.
* NUL, control characters and invisible format characters (e.g. the right-to-left override
  that makes ``invoice\u202efdp.exe`` display as ``invoiceexe.pdf``) are replaced by ``_``;
  Unicode is normalised to NFC and otherwise kept (``Überweisung.xml`` stays readable).
* Characters Windows and SMB shares refuse (``<>:"|?*``) become ``_``, because inbox folders
  are often shared with Windows consumers; so do Windows' reserved device names (``CON``...).
* Leading dots and spaces are removed and so are trailing ones: a name must not become a
  dot-file (hidden, and ignored by most pick-up patterns, so the consumer would silently never
  see it), and ``.`` / ``..`` cannot survive.
* The length is capped in UTF-8 bytes (what filesystems limit), keeping the extension and
  never cutting a character in half.
* The result is never empty: ``fallback`` (e.g. ``attachment-1``) is used instead.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_FORBIDDEN = set('<>:"|?*')
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_MAX_EXTENSION_BYTES = 16  # longer "extensions" are really part of the name


def _clean_char(ch: str) -> str:
    if ch in _WINDOWS_FORBIDDEN:
        return "_"
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return "_"
    return ch


def _truncate_utf8(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that is at most ``limit`` bytes of UTF-8."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def cap_length(name: str, max_bytes: int) -> str:
    """``name`` cut to ``max_bytes`` UTF-8 bytes, keeping a short extension intact."""
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext}"
    if stem and dot and len(suffix.encode("utf-8")) <= min(_MAX_EXTENSION_BYTES, max_bytes // 2):
        room = max_bytes - len(suffix.encode("utf-8"))
        return _truncate_utf8(stem, room).rstrip(" .") + suffix
    return _truncate_utf8(name, max_bytes).rstrip(" .")


def sanitise_name(raw: str, *, max_bytes: int, fallback: str) -> str:
    """A safe file name for ``raw`` of at most ``max_bytes`` UTF-8 bytes (see module doc).

    ``fallback`` must itself be safe; it is used when nothing readable is left of ``raw``.
    """
    parts = [p for p in _SEPARATORS.split(raw) if p.strip(" .")]
    name = parts[-1] if parts else ""
    name = unicodedata.normalize("NFC", name)
    name = "".join(_clean_char(ch) for ch in name)
    name = name.strip(" .")
    if name.split(".")[0].upper() in _RESERVED:
        name = f"_{name}"
    name = cap_length(name, max_bytes)
    if not name.strip(" ._"):
        return cap_length(fallback, max_bytes)
    return name
