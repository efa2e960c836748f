"""Fault injection's state: the current :class:`~as2sync.emulator.settings.Faults`, the seeded
random sequence every roll draws from, and a count of the faults injected.

Where in a request each fault fires is the front-end's business (``endpoint.py`` and
``middleware.py`` for ``/v1``); this part only answers "does it fire now?" so that every
front-end sharing the account draws from one reproducible sequence.

Locking: one lock guards the three; every method takes it and calls nothing else, so it can be
used from any thread and inside any other part's lock. A roll of probability 0 draws nothing,
so switching one fault on does not shift the sequence of the others.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from as2sync.emulator.settings import Faults


class FaultInjector:
    """The fault knobs, their random sequence and counters. Thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._counts: Counter[str] = Counter()

    @property
    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        """Replace the fault configuration; a new ``seed`` restarts the random sequence."""
        with self._lock:
            self._faults = faults
            if faults.seed is not None:
                self._rng = random.Random(faults.seed)

    def roll(self, probability: float) -> bool:
        """True with ``probability`` (from the seeded random sequence)."""
        if probability <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def randrange(self, upper: int) -> int:
        """A number in ``[0, upper)`` from the random sequence (truncation points)."""
        with self._lock:
            return self._rng.randrange(upper)

    def choose_error_status(self) -> int:
        """One of the configured 5xx statuses, from the random sequence."""
        with self._lock:
            return self._rng.choice(self._faults.error_statuses)

    def count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def counts(self) -> dict[str, int]:
        """How many faults of each kind were injected (plus ``rate_limited`` for real 429s)."""
        with self._lock:
            return dict(self._counts)
