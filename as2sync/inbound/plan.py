"""Which messages go into which download request (pure).

Messages are taken in order and packed greedily into batch requests of at most ``max_ids`` IDs
and at most ``max_bytes`` of declared attachment size. A message whose declared total alone is
over ``max_bytes`` can never come whole in a batch, so it is fetched one attachment at a time
instead. A message without attachments needs no download at all.

The plan is only the client's intention: the gateway's own limit (10 MB, smaller in tests) may
still cut a batch short; :mod:`as2sync.inbound.truncation` decides what happens then.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_BATCH_IDS = 100  # the API's limit for one batch request


@dataclass(frozen=True)
class Sized:
    """What planning needs to know about a message: its ID and declared attachment sizes."""

    key: int  # the caller's handle (the ledger row id)
    sizes: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class Batch:
    """One batch request for these messages, in this order."""

    keys: tuple[int, ...]


@dataclass(frozen=True)
class OneByOne:
    """Fetch this message's attachments one request each."""

    key: int


@dataclass(frozen=True)
class NoDownload:
    """The message has no attachments: nothing to download."""

    key: int


Step = Batch | OneByOne | NoDownload


def plan_downloads(
    messages: Iterable[Sized], *, max_bytes: int, max_ids: int = MAX_BATCH_IDS
) -> list[Step]:
    """Group ``messages`` (in order) into download steps; see the module docstring."""
    steps: list[Step] = []
    current: list[int] = []
    current_bytes = 0
    for message in messages:
        if not message.sizes:
            steps.append(NoDownload(message.key))
            continue
        if message.total > max_bytes:
            steps.append(OneByOne(message.key))
            continue
        if current and (len(current) >= max_ids or current_bytes + message.total > max_bytes):
            steps.append(Batch(tuple(current)))
            current, current_bytes = [], 0
        current.append(message.key)
        current_bytes += message.total
    if current:
        steps.append(Batch(tuple(current)))
    return steps


def replan(keys: Sequence[int], sizes: dict[int, tuple[int, ...]], *, max_bytes: int) -> list[Step]:
    """Plan again for the messages a truncated batch left over."""
    return plan_downloads((Sized(k, sizes[k]) for k in keys), max_bytes=max_bytes)
