"""The six-hour same-name rule (seed 004, section 3.1): a file uploaded under a name already
uploaded to the same station/partner within six hours is moved to ``AS2/duplicate/`` and not
sent. Routine EDI exports reuse names, so a new file must never be swallowed by it.

``outbound.s3_same_name``: ``suffix`` (default) uploads it under a readable variant of the
name, the UTC upload time inserted before the extension (``orders.edi`` →
``orders_20261201T080543Z.edi``; ``-2``, ``-3``… when that too was used), so partners' systems
still see the type; ``hold`` keeps it until the window has passed. Which names were uploaded
when is the ledger's knowledge (the caller passes it); the chosen name is recorded with the
row, so a lookup after an unknown outcome knows the key.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping

WINDOW_SECONDS = 6 * 3600
CLOCK_SKEW_SECONDS = 300
"""The gateway's clock is not ours: the window is widened by this much on our side."""


class SameName(enum.StrEnum):
    SUFFIX = "suffix"
    HOLD = "hold"


def stamped(name: str, at: float, n: int = 1) -> str:
    """``name`` with the UTC time ``at`` (and ``-n`` from 2 on) before its extension."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension ("ORDERS") or only one (".edi"): stamp the end
        stem, dot, ext = name, "", ""
    tag = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
    if n > 1:
        tag += f"-{n}"
    return f"{stem}_{tag}{dot}{ext}"


def in_window(uploaded_at: float, now: float) -> bool:
    return now - uploaded_at < WINDOW_SECONDS + CLOCK_SKEW_SECONDS


def free_at(name: str, uploads: Mapping[str, float]) -> float | None:
    """When ``name`` may be uploaded again (None: it has not been uploaded)."""
    at = uploads.get(name)
    return None if at is None else at + WINDOW_SECONDS + CLOCK_SKEW_SECONDS


def choose(name: str, uploads: Mapping[str, float], now: float, policy: SameName) -> str | None:
    """The name to upload ``name`` under now, given ``uploads`` (each name this partnership
    uploaded → when, as far as the window reaches): ``name`` itself when it is free; under
    ``suffix`` a stamped variant free as well; under ``hold`` None (wait for
    :func:`free_at`)."""
    if not _used(name, uploads, now):
        return name
    if policy is SameName.HOLD:
        return None
    n = 1
    while _used(candidate := stamped(name, now, n), uploads, now):
        n += 1
    return candidate


def _used(name: str, uploads: Mapping[str, float], now: float) -> bool:
    at = uploads.get(name)
    return at is not None and in_window(at, now)
