"""The arithmetic of the benchmarks (pure): percentiles, ratios, rate-limit bounds, request kinds.

The rate-limit bound is exact, not a rule of thumb. The API admits at most ``limit`` requests
in any window of ``per`` seconds (50 per 10 s). So among accepted requests in arrival order,
request ``k + limit`` arrives at least ``per`` seconds after request ``k``. Two consequences are
used here:

* a *sustained* rate measured from request ``k`` to request ``k + m * limit`` (a whole number of
  windows) can never exceed ``limit / per`` -- measuring over a whole number of windows is what
  keeps the first burst (an empty window admits ``limit`` requests at once) out of the figure;
* ``n`` requests need at least ``per * floor((n - 1) / limit)`` seconds from the first to the
  last (:func:`min_span`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LIMIT = 50
PER_SECONDS = 10.0
BATCH_IDS = 100  # message IDs per batch download
LIST_PAGE = 100  # records per list page


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(measured: float | None, bound: float | None) -> float | None:
    """``measured / bound``, or None when either is unknown or the bound is not positive."""
    if measured is None or bound is None or bound <= 0:
        return None
    return measured / bound


def min_span(requests: int, limit: int = LIMIT, per: float = PER_SECONDS) -> float:
    """Least seconds between the first and the last of ``requests`` accepted requests."""
    if requests <= 1:
        return 0.0
    return per * ((requests - 1) // limit)


@dataclass(frozen=True)
class Sustained:
    """``count`` events over ``seconds``, measured between two events a whole number of windows
    apart (see the module docstring)."""

    count: int
    seconds: float
    first: int  # index of the event the measurement starts at

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf


def sustained(times: Sequence[float], *, skip: int = LIMIT, limit: int = LIMIT) -> Sustained | None:
    """The rate of events at ``times`` from event ``skip`` over the largest whole number of
    ``limit``-sized steps that fits; None when fewer than ``skip + limit + 1`` events exist.

    ``skip`` leaves out the first burst (``limit`` requests fit into an empty window at once).
    """
    ordered = sorted(times)
    steps = (len(ordered) - 1 - skip) // limit
    if steps < 1:
        return None
    count = steps * limit
    return Sustained(count, ordered[skip + count] - ordered[skip], skip)


# -- request kinds --------------------------------------------------------------------------

_LIST_FOLDERS = ("received", "sent", "failed", "queued")
_KINDS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/authorize$"), "authorize"),
    ("GET", re.compile(r"^/v1/(station|partner)$"), "directory"),
    ("POST", re.compile(r"^/v1/message/received/batch/attachments$"), "batch"),
    ("GET", re.compile(r"^/v1/message/received$"), "list received"),
    ("GET", re.compile(r"^/v1/message/(sent|failed|queued)$"), "list sent/failed/queued"),
    ("GET", re.compile(r"^/v1/message/received/.+/attachments(/.*)?$"), "attachment"),
    ("POST", re.compile(r"^/v1/message/received/.+/markUnread$"), "mark unread"),
    ("GET", re.compile(r"^/v1/message/received/.+$"), "get received"),
    ("GET", re.compile(r"^/v1/message/(sent|failed|queued)/.+$"), "get sent/failed/queued"),
    ("DELETE", re.compile(r"^/v1/message/.+$"), "delete"),
    ("POST", re.compile(r"^/v1/message/queued/.+/(stop|retry)$"), "stop/retry"),
    ("POST", re.compile(r"^/v1/message/[^/]+/[^/]+$"), "submit"),
]


def kind_of(method: str, path: str) -> str:
    """A short name for what a ``/v1`` request did (``other`` when it is none of the known)."""
    for want, pattern, name in _KINDS:
        if method == want and pattern.match(path):
            return name
    return "other"


@dataclass(frozen=True)
class RequestSummary:
    """What a run asked of the gateway, from the emulator's request log."""

    total: int
    by_kind: dict[str, int]  # answered requests (not 429) by kind
    rate_limited: int  # 429 answers
    statuses: dict[int, int]

    def count(self, *kinds: str) -> int:
        return sum(self.by_kind.get(k, 0) for k in kinds)

    def describe(self) -> str:
        parts = [f"{n} {k}" for k, n in sorted(self.by_kind.items(), key=lambda kv: -kv[1])]
        if self.rate_limited:
            parts.append(f"{self.rate_limited} answered 429")
        return ", ".join(parts) if parts else "none"


def summarize(log: Iterable[Sequence[object]]) -> RequestSummary:
    """Summarize ``[method, path, status]`` rows (the emulator's ``/_admin/requests``)."""
    kinds: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    limited = 0
    total = 0
    for method, path, status in log:
        total += 1
        code = int(str(status))
        statuses[code] += 1
        if code == 429:
            limited += 1
        else:
            kinds[kind_of(str(method), str(path))] += 1
    return RequestSummary(total, dict(kinds), limited, dict(statuses))


def per_hundred(count: int, items: int) -> float | None:
    """``count`` per 100 ``items``."""
    return None if items <= 0 else 100.0 * count / items


def inbound_request_bound(messages: int, per_batch: int) -> int:
    """Fewest requests that fetch ``messages`` one-attachment messages when a batch carries at
    most ``per_batch`` of them: one list page per 100 and one batch per ``per_batch``.

    The list that finds the list empty is not counted: a client that knows the page was not
    full needs no further list (as2sync stops there too).
    """
    if messages <= 0:
        return 0
    per_batch = max(1, min(per_batch, BATCH_IDS))
    pages = math.ceil(messages / LIST_PAGE)
    # Each page of up to 100 messages is fetched with ceil(page / per_batch) batches.
    full, rest = divmod(messages, LIST_PAGE)
    batches = full * math.ceil(LIST_PAGE / per_batch) + (math.ceil(rest / per_batch) if rest else 0)
    return pages + batches
