"""Settle tracking: a file is ready once its size and mtime stayed the same for
``settle_seconds``, measured from when as2sync first saw it.

Not from the file's mtime: ``cp -p``, ``rsync -t`` and unzip preserve an old mtime on a file
that is still being written, so "mtime is old" proves nothing. The clock starts at the first
observation and restarts at every observed change. The state is in memory only: after a
restart every file simply settles once more, which delays it by ``settle_seconds`` and cannot
send a partial file.

Memory is one small slotted record per waiting file; nothing is held per ready file beyond it.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from as2sync.outbound.scanner import Observation


@dataclass(slots=True)
class Waiting:
    """One outbox file as2sync knows about and has not claimed yet."""

    station: str
    partner: str
    path: str
    name: str
    size: int
    mtime_ns: int
    first_seen: float
    stable_since: float
    not_before: float = 0.0
    """After a failed claim (storage error): do not try again before this time."""

    def order_key(self) -> tuple[float, int, str]:
        """Oldest first: by first sight, then by mtime (one scan sees many files at once)."""
        return (self.first_seen, self.mtime_ns, self.name)


REFILL = 256


class Readiness:
    """The set of waiting files and their settle clocks. Not thread-safe: one owner."""

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._waiting: dict[str, Waiting] = {}
        # The next ready files in order, selected REFILL at a time: draining a backlog of
        # 10,000 files must not cost a pass over all of them per file.
        self._queue: deque[Waiting] = deque()
        self._queue_fresh = False

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, path: str) -> bool:
        return path in self._waiting

    def observe(self, obs: Observation, now: float) -> Waiting:
        """Record an observation; a new file or a changed size/mtime restarts its clock."""
        entry = self._waiting.get(obs.path)
        if entry is None:
            entry = Waiting(
                obs.station, obs.partner, obs.path, obs.name, obs.size, obs.mtime_ns, now, now
            )
            self._waiting[obs.path] = entry
            self._queue_fresh = False
        elif (entry.size, entry.mtime_ns) != (obs.size, obs.mtime_ns):
            entry.size, entry.mtime_ns, entry.stable_since = obs.size, obs.mtime_ns, now
            self._queue_fresh = False
        return entry

    def forget(self, path: str) -> None:
        self._waiting.pop(path, None)

    def forget_missing(self, station: str, partner: str, present: set[str]) -> None:
        """After a full scan of one outbox: drop what was not seen in it."""
        gone = [
            p
            for p, w in self._waiting.items()
            if w.station == station and w.partner == partner and p not in present
        ]
        for path in gone:
            del self._waiting[path]

    def retain_pairs(self, pairs: set[tuple[str, str]]) -> None:
        """Drop files of partnerships that no longer exist (their folder was removed)."""
        gone = [p for p, w in self._waiting.items() if (w.station, w.partner) not in pairs]
        for path in gone:
            del self._waiting[path]

    def settled(self, entry: Waiting, now: float) -> bool:
        return now - entry.stable_since >= self.settle_seconds

    def defer(self, entry: Waiting, until: float) -> None:
        """Do not offer ``entry`` as ready before ``until`` (its claim failed)."""
        entry.not_before = until

    def ready(self, now: float, limit: int | None = None) -> list[Waiting]:
        """Files unchanged for ``settle_seconds`` as last observed, oldest first; at most
        ``limit`` of them (a partial selection, so a long backlog is not sorted every time).

        The caller confirms with one more ``stat`` just before claiming (:meth:`confirm`).
        """
        settled = (
            w for w in self._waiting.values() if self.settled(w, now) and w.not_before <= now
        )
        if limit is None:
            return sorted(settled, key=Waiting.order_key)
        return heapq.nsmallest(limit, settled, key=Waiting.order_key)

    def pop_ready(self, now: float) -> Waiting | None:
        """The oldest ready file, or None. Same order as :meth:`ready`, but the selection is
        kept between calls until a file is added or changes."""
        refilled = False
        while True:
            if not self._queue_fresh or (not self._queue and not refilled):
                self._queue = deque(self.ready(now, limit=REFILL))
                self._queue_fresh = refilled = True
            if not self._queue:
                return None
            entry = self._queue.popleft()
            current = self._waiting.get(entry.path)
            if current is entry and self.settled(entry, now) and entry.not_before <= now:
                return entry

    def confirm(self, entry: Waiting, obs: Observation | None, now: float) -> bool:
        """The claim-time check: True if the file still has the settled size and mtime.

        A changed file restarts its clock; a vanished or no longer eligible one is forgotten.
        """
        if obs is None:
            self.forget(entry.path)
            return False
        self.observe(obs, now)
        return self.settled(entry, now)

    def next_ready_at(self) -> float | None:
        """When the earliest settling file will have settled (None: nothing is settling)."""
        times = [
            max(w.stable_since + self.settle_seconds, w.not_before) for w in self._waiting.values()
        ]
        return min(times) if times else None

    def oldest_first_seen(self) -> float | None:
        return min((w.first_seen for w in self._waiting.values()), default=None)

    def entries(self) -> Iterable[Waiting]:
        return self._waiting.values()
