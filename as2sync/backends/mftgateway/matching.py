"""Which message on MFT Gateway is which send in doubt: the pure matching rules.

A submit whose answer was lost has no ID; the gateway's lists hold IDs only. The locating
code (:mod:`.locating`) reads the messages of the partnership submitted since the earliest
doubt, and downloads the bytes of those whose attachment names fit one (every outbox box
serves its attachments here, so every candidate can be proven by content). This module
decides, without I/O or a clock of its own:

1. A message whose bytes (names, sizes, SHA-256) equal a row's claimed bytes is that row's.
   Rows and messages with the same bytes are paired oldest first, a message to a row whose
   submit began before it was stored (minus the clock skew). A send still in flight
   (``settle`` False) holding the same bytes makes those rows wait: it may be its.
2. A message whose bytes could not be read now, and whose names fit a row, keeps that row
   waiting; if its attachments are gone for good (the partner option
   ``deleteAttachmentsOnSuccessMdn``), the row is AMBIGUOUS once the grace has passed: a
   person decides (names and sizes alone never make a match).
3. A row nothing on the gateway could be is ABSENT once ``grace`` has passed since its submit
   began, and only if the walk saw every message since then (``complete``); else it waits.

So a message never settles two rows, and a row is resent only where its bytes are on the
gateway fewer times than rows hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from as2sync.backends.base import Content, Doubt, Found, Located

CLOCK_SKEW_SECONDS = 60.0
"""How far the gateway's clock may be behind ours when comparing timestamps."""

ContentKey = tuple[Content, ...]


def content_key(files: Sequence[Content]) -> ContentKey:
    return tuple(sorted(files))


def names_key(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(names))


@dataclass(frozen=True)
class Seen:
    """A message of the partnership on the gateway that may be a send in doubt.

    ``files`` are its attachments' names, sizes and SHA-256 (None: not read); ``gone`` says
    they can never be read (the gateway has no attachments for it any more)."""

    remote_id: str
    box: str
    persisted_ms: int | None
    names: tuple[str, ...]
    files: ContentKey | None
    gone: bool = False


def _eligible(row: Doubt, seen: Seen, skew: float) -> bool:
    return seen.persisted_ms is None or seen.persisted_ms >= (row.started_at - skew) * 1000


def _key(row: Doubt) -> ContentKey:
    return content_key(row.files)


def plan(
    rows: Sequence[Doubt],
    seen: Sequence[Seen],
    *,
    now: float,
    grace: float,
    complete: bool,
    skew: float = CLOCK_SKEW_SECONDS,
) -> dict[int, Located]:
    """One :class:`Located` per settleable row (see the module docstring)."""
    ordered = sorted(rows, key=lambda r: (r.started_at, r.id))
    decisions: dict[int, Located] = {}

    # 1. Proven by content.
    proven: dict[ContentKey, list[Seen]] = {}
    for item in seen:
        if item.files is not None:
            proven.setdefault(item.files, []).append(item)
    for key, items in sorted(proven.items()):
        same = [r for r in ordered if _key(r) == key and any(_eligible(r, s, skew) for s in items)]
        if any(not r.settle for r in same):
            for row in same:
                if row.settle:
                    decisions[row.id] = Located(
                        Found.WAIT, why="a send of the same bytes is still in flight"
                    )
            continue
        free = sorted(items, key=lambda s: (s.persisted_ms or 0, s.remote_id))
        for row in same:
            match = next((s for s in free if _eligible(row, s, skew)), None)
            if match is not None:
                free.remove(match)
                decisions[row.id] = Located(
                    Found.FOUND,
                    remote_id=match.remote_id,
                    why=f"found in {match.box}, same bytes (SHA-256)",
                )

    # 2 and 3.
    unread = [s for s in seen if s.files is None]
    for row in ordered:
        if not row.settle or row.id in decisions:
            continue
        names = names_key([c.name for c in row.files])
        maybes = [s for s in unread if s.names == names and _eligible(row, s, skew)]
        elapsed = now - row.started_at
        if maybes:
            listed = ", ".join(f"{s.remote_id} ({s.box})" for s in maybes)
            if elapsed >= grace and all(s.gone for s in maybes):
                decisions[row.id] = Located(
                    Found.AMBIGUOUS,
                    why=f"MFT Gateway holds {listed} with this file's name, but no longer its "
                    "bytes; it cannot be told whether it is this file",
                )
            else:
                decisions[row.id] = Located(Found.WAIT, why=f"may be {listed}; not yet read")
        elif elapsed >= grace and complete:
            decisions[row.id] = Located(
                Found.ABSENT, why=f"not on MFT Gateway {elapsed:.0f}s after the submit began"
            )
        else:
            why = "not visible yet" if complete else "the lists were not read back far enough"
            decisions[row.id] = Located(Found.WAIT, why=why)
    return decisions
