"""What a station or partner name may be: an AS2 identifier that is also a safe folder name.

Station and partner AS2 IDs become folder names (``<root>/<station>/<partner>``), so a name
from the config or the command line must never reach outside that tree or into a folder the
scan cannot see. RFC 4130 allows 1 to 128 printable ASCII characters (quoted when they hold a
space); on top of that a name here may not be or hold a path component (``/``, ``\\``, ``.``,
``..``), start with a dot (hidden folders, like the ``.as2sync`` work area, are never scanned),
or start or end with a space (invisible in listings, easily lost in a script).
"""

from __future__ import annotations

MAX_LENGTH = 128


def as2_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a station or partner AS2 ID, or None when it can."""
    why = _why_not(value)
    return f"must be an AS2 identifier: {why}" if why else None


def _why_not(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_LENGTH:
        return f"1 to {MAX_LENGTH} characters"
    if any(not " " <= ch <= "~" for ch in value):
        return "printable ASCII only (no control or non-ASCII characters)"
    if "/" in value or "\\" in value:
        return "no / or \\ (it is a folder name)"
    if value.startswith("."):
        return "must not start with a dot (hidden folders are not scanned; no . or ..)"
    if value != value.strip():
        return "no leading or trailing spaces"
    return None


def check_as2_id(value: str) -> str:
    """``value`` itself if it is a valid AS2 ID (a pydantic validator); raises ValueError."""
    problem = as2_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value
