"""The spec's rate limit: at most N requests per sliding window of S seconds (50 per 10 s).

The window slides over the requests that were *accepted*; a refused request (429) does not
extend the wait, so a client that honours ``Retry-After`` gets through as soon as the oldest
accepted request leaves the window. The emulator serves one account, so there is one window.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class SlidingWindow:
    """Thread-safe sliding-window counter."""

    def __init__(self, limit: int, per_seconds: float) -> None:
        self.limit = limit
        self.per = per_seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, now: float) -> int | None:
        """Admit a request at ``now`` (seconds): None if admitted, else Retry-After seconds."""
        with self._lock:
            while self._times and self._times[0] <= now - self.per:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return None
            wait = self._times[0] + self.per - now
            return max(1, math.ceil(wait))
