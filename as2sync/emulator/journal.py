"""What clients did, for tests and ``/_admin``: the request log, every submission ever accepted
(and which of them duplicate an earlier one), and the overview ``GET /_admin/state`` shows.

Nothing here is persisted or shown to API clients; it is how a test asks "was this sent twice?"
or "which requests did the daemon make?".

Locking: the request log has its own lock, taken by nothing else. The submission views read the
store in one of its transactions; the overview reads the store, the account and the fault
counters one after the other, each under its own lock, so it is consistent per part (not a
single cut across all of them, which no caller needs).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from as2sync.emulator.account import Account
from as2sync.emulator.faults import FaultInjector
from as2sync.emulator.model import Submission, SubmissionView
from as2sync.emulator.store import MessageStore


def _view(s: Submission) -> SubmissionView:
    return SubmissionView(
        message_id=s.message_id,
        station=s.station,
        partner=s.partner,
        attachments=[(a.name, a.data) for a in s.attachments],
        content_types=[a.content_type for a in s.attachments],
        subject=s.subject,
        partner_type=s.partner_type,
        profile=s.profile,
        created_at=s.created_ms / 1000,
        status=s.status,
        attempts=s.attempts,
        echo_id=s.echo_id,
    )


def _duplicates(subs: list[Submission]) -> list[str]:
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    duplicates: list[str] = []
    for s in subs:
        key = (s.station, s.partner, tuple((a.name, a.sha256) for a in s.attachments))
        if key in seen:
            duplicates.append(s.message_id)
        seen.add(key)
    return duplicates


@dataclass(frozen=True)
class Exchange:
    """One request as it arrived, for tests that check the names a client sent: the query
    parameters in order (names as sent, repeats kept), the headers (names lower-case), and
    which listener it reached (``origin``: "api", or "objects" for a second one)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    origin: str = "api"

    @property
    def query_names(self) -> list[str]:
        return [name for name, _ in self.query]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), None if it was not sent."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


class Journal:
    """The record of one emulator's clients. Thread-safe."""

    def __init__(self, account: Account, store: MessageStore, faults: FaultInjector) -> None:
        self._account = account
        self._store = store
        self._faults = faults
        self._lock = threading.Lock()
        self._request_log: list[tuple[str, str, int]] = []
        self._request_starts: list[float] = []  # arrival time of each logged request
        self._exchanges: list[Exchange] = []  # kept by front-ends that record them (MFT)

    # ------------------------------------------------------------------ request log

    def log_request(
        self, method: str, path: str, status: int, *, started_at: float | None = None
    ) -> None:
        """Record one API request when it ends; status 0 means the connection was dropped.
        ``started_at`` is when it arrived (epoch seconds; now if not given)."""
        with self._lock:
            self._request_log.append((method, path, status))
            self._request_starts.append(time.time() if started_at is None else started_at)

    def request_log(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._request_log)

    def request_starts(self) -> list[tuple[str, str, int, float]]:
        """The request log with each request's arrival time (in the order they ended)."""
        with self._lock:
            return [(*r, t) for r, t in zip(self._request_log, self._request_starts, strict=True)]

    def clear_request_log(self) -> None:
        with self._lock:
            self._request_log.clear()
            self._request_starts.clear()
            self._exchanges.clear()

    def log_exchange(self, exchange: Exchange) -> None:
        """Record one request's names and headers as it arrived."""
        with self._lock:
            self._exchanges.append(exchange)

    def exchanges(self) -> list[Exchange]:
        """Every recorded request, in the order they arrived."""
        with self._lock:
            return list(self._exchanges)

    # ------------------------------------------------------------------ submissions

    def submissions(self) -> list[SubmissionView]:
        """Every submission ever accepted (deleted ones included), oldest first."""
        with self._store.transaction() as tx:
            return [_view(s) for s in sorted(tx.submissions.values(), key=lambda s: s.seq)]

    def duplicate_submission_ids(self) -> list[str]:
        """IDs of submissions whose attachments (names and bytes) equal an earlier one's for the
        same station and partner: what an exactly-once client must never cause."""
        with self._store.transaction() as tx:
            return _duplicates(sorted(tx.submissions.values(), key=lambda s: s.seq))

    def duplicate_submissions(self) -> int:
        """How many duplicate submissions there are (see :meth:`duplicate_submission_ids`)."""
        return len(self.duplicate_submission_ids())

    # ------------------------------------------------------------------ overview

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able overview for ``GET /_admin/state``."""
        with self._store.transaction() as tx:
            received = [
                {
                    "message_id": m.message_id,
                    "station": m.station,
                    "partner": m.partner,
                    "read": m.read,
                    "attachments": [{"name": a.name, "size": a.size} for a in m.attachments],
                }
                for m in sorted(tx.received.values(), key=lambda m: m.seq)
            ]
            subs = sorted(tx.submissions.values(), key=lambda s: s.seq)
            submissions, duplicates = len(subs), _duplicates(subs)
        return {
            "stations": self._account.stations(),
            "partners": [
                {"as2_id": s.as2_id, "behaviour": s.behaviour, "partner_type": s.partner_type}
                for s in self._account.partners()
            ],
            "received": received,
            "submissions": submissions,
            "duplicate_submissions": duplicates,
            "fault_counts": self._faults.counts(),
            "requests": len(self.request_log()),
        }
