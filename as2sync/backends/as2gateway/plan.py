"""Which messages go into which download request (pure).

Messages are taken in order and packed greedily into batch requests of at most ``max_ids`` IDs
and at most ``max_bytes`` of declared attachment size. A message whose declared total alone is
over ``max_bytes`` can never come whole in a batch, so it is fetched one attachment at a time
instead. A message without attachments needs no download at all. Two messages whose batch-zip
folders could have the same name (IDs that differ only by their angle brackets, with a gateway
that drops them from folder names) never share a batch, so every folder in a zip belongs to
exactly one requested message.

The plan is only the client's intention: the gateway's own limit (10 MB, smaller in tests) may
still cut a batch short; :mod:`.truncation` decides what happens then, and
:func:`limit_below` learns from it. The spec says "10 MB" without saying whether it means
10,000,000 or 10 MiB bytes, nor whether it counts attachment bytes or zip bytes; rather than
guess, the engine plans with the configured ``batch_max_bytes`` until a 206 shows where the
gateway's limit really lies, and then plans under that: after one 206, a backlog of 1 MiB
messages against a 10,000,000-byte limit goes nine to a batch, instead of every batch being
cut and its leftover costing a request of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.client import MAX_BATCH

MAX_BATCH_IDS = MAX_BATCH  # the API's limit for one batch request


@dataclass(frozen=True)
class Sized:
    """What planning needs to know about a message: its declared attachment sizes and the
    names its batch-zip folder may have (:func:`.zipread.folder_names`)."""

    key: int  # the caller's handle (the ledger row id)
    sizes: tuple[int, ...]
    folders: frozenset[str] = frozenset()

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
    current_folders: set[str] = set()
    for message in messages:
        if not message.sizes:
            steps.append(NoDownload(message.key))
            continue
        if message.total > max_bytes:
            steps.append(OneByOne(message.key))
            continue
        if current and (
            len(current) >= max_ids
            or current_bytes + message.total > max_bytes
            or not current_folders.isdisjoint(message.folders)
        ):
            steps.append(Batch(tuple(current)))
            current, current_bytes, current_folders = [], 0, set()
        current.append(message.key)
        current_bytes += message.total
        current_folders |= message.folders
    if current:
        steps.append(Batch(tuple(current)))
    return steps


def replan(keys: Sequence[int], sized: dict[int, Sized], *, max_bytes: int) -> list[Step]:
    """Plan again for the messages a truncated batch left over (with those planned after it)."""
    return plan_downloads((sized[k] for k in keys), max_bytes=max_bytes)


def limit_below(sizes: Sequence[tuple[int, ...]], message: int, attachment: int) -> int | None:
    """What a 206 at ``(message, attachment)`` (the last attachment added) proves about the
    gateway's batch limit: it is below the attachment bytes served plus the next attachment,
    which did not fit. None when there is no next attachment (nothing to learn). ``sizes`` are
    the request's messages' declared attachment sizes, in request order."""
    served = sum(sum(s) for s in sizes[:message]) + sum(sizes[message][: attachment + 1])
    if attachment + 1 < len(sizes[message]):
        return served + sizes[message][attachment + 1]
    following = [s for s in sizes[message + 1 :] if s]
    if not following:
        return None
    return served + following[0][0]
