"""The emulator's account: stations, partners, messages, tokens, counters. Thread-safe.

One re-entrant lock guards everything; every public method takes it, so the HTTP handlers (in
uvicorn's event loop thread) and a test (in its own thread) can use the state concurrently.

Time drives the outbound life cycle, computed lazily: every public method first "advances" the
state to ``clock()``. An entry submitted at ``t`` is queued until ``t + delivery_delay``; then
it is sent (or, for a ``fail`` partner, one failed record per attempt, attempts
``delivery_delay`` apart, then stopped). An ``echo`` partner's message comes back as a received
message at ``sent + echo_delay``. Computing transitions from timestamps (instead of a
background thread) makes them deterministic with an injected clock, and a restart from a data
dir simply catches up.

With ``settings.data_dir`` every mutation is written through to the :class:`DataDir` before the
method returns, so whatever the HTTP layer acknowledged survives a SIGKILL of the emulator.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from as2sync.emulator import entities, ids
from as2sync.emulator.apierror import not_found
from as2sync.emulator.datadir import DataDir
from as2sync.emulator.model import (
    FailedRecord,
    MdnRecord,
    ReceivedMessage,
    ReceivedView,
    StoredAttachment,
    Submission,
    SubmissionView,
)
from as2sync.emulator.ratelimit import SlidingWindow
from as2sync.emulator.settings import EmulatorSettings, Faults, PartnerSpec
from as2sync.emulator.tokens import Claims, TokenIssuer

ListFolder = Literal["received", "sent", "failed", "queued"]
DeleteFolder = Literal["received", "sent", "failed", "queued", "stopped"]
SortCol = Literal["persistedTimestamp", "receiverId", "senderId", "subject"]

# The failed record's "HTTP response code received" for a fail partner's attempts.
FAIL_TRANSPORT_STATUS = 503


@dataclass(frozen=True)
class ListParams:
    """A list request's parameters, validated by the HTTP layer (spec section 5)."""

    sort_col: SortCol = "persistedTimestamp"
    descending: bool = True
    partner_type: str = "production"
    page_offset: int = 0
    page_length: int = 10
    partner: str | None = None
    station: str | None = None
    message_id: str | None = None
    subject: str | None = None
    query: str | None = None  # queued only: matches any of the four above
    unread_only: bool = False  # received only


@dataclass(frozen=True)
class BatchEntry:
    """One folder of the batch zip: the files added, or the ``.error`` text."""

    folder: str
    files: list[tuple[str, bytes]]
    error: str | None = None


@dataclass(frozen=True)
class BatchPlan:
    """What the batch zip holds; ``truncation`` is ``(i, j)`` when the size limit was hit."""

    entries: list[BatchEntry]
    truncation: tuple[int, int] | None


def _contains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle.lower() in haystack.lower()


class EmulatorState:
    """Everything the emulated account holds. See the module docstring for the life cycle."""

    def __init__(
        self, settings: EmulatorSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.RLock()
        self._stations: dict[str, int] = {}
        self._partners: dict[str, tuple[PartnerSpec, int]] = {}
        self._runtime_stations: list[str] = []
        self._runtime_partners: list[PartnerSpec] = []
        self._received: dict[str, ReceivedMessage] = {}
        self._subs: dict[str, Submission] = {}
        self._failed: list[FailedRecord] = []
        self._pending: set[str] = set()
        self._seq = 0
        self._faults = settings.faults
        self._fault_rng = random.Random(settings.faults.seed)
        self._id_rng = random.Random(settings.faults.seed)
        self._fault_counts: Counter[str] = Counter()
        self._request_log: list[tuple[str, str, int]] = []
        self._request_starts: list[float] = []  # arrival time of each logged request
        self._tokens = TokenIssuer()
        self._issued: list[str] = []
        self._rate = SlidingWindow(*settings.rate_limit) if settings.rate_limit else None
        self._store = DataDir(settings.data_dir) if settings.data_dir else None
        for as2_id in settings.stations:
            self._add_station(as2_id)
        for spec in settings.partners:
            self._add_partner(spec)
        if self._store is not None:
            self._load(self._store)

    # ------------------------------------------------------------------ time, ids, persistence

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _load(self, store: DataDir) -> None:
        doc = store.load()
        if doc is None:
            self._save()  # persist the signing secret so tokens survive a restart
            return
        self._tokens = TokenIssuer(bytes.fromhex(doc["secret"]))
        self._tokens.revoked_before_ms = doc["revoked_before_ms"]
        self._seq = doc["seq"]
        for as2_id in doc["stations"]:
            self._add_station(as2_id, runtime=True)
        for p in doc["partners"]:
            self._add_partner(
                PartnerSpec(p["as2_id"], p["behaviour"], p["name"], p["partner_type"]),
                runtime=True,
            )
        for r in doc["received"]:
            msg = ReceivedMessage.from_doc(r, store.get_blob)
            self._received[msg.message_id] = msg
        for s in doc["submissions"]:
            sub = Submission.from_doc(s, store.get_blob)
            self._subs[sub.message_id] = sub
            if sub.status == "queued" or (sub.echo_due_ms is not None and sub.echo_id is None):
                self._pending.add(sub.message_id)
        self._failed = [FailedRecord.from_doc(f) for f in doc["failed"]]

    def _save(self) -> None:
        """Write the whole state through (a no-op without a data dir). Caller holds the lock."""
        if self._store is None:
            return
        doc: dict[str, Any] = {
            "secret": self._tokens.secret.hex(),
            "revoked_before_ms": self._tokens.revoked_before_ms,
            "seq": self._seq,
            "stations": self._runtime_stations,
            "partners": [
                {
                    "as2_id": p.as2_id,
                    "behaviour": p.behaviour,
                    "name": p.name,
                    "partner_type": p.partner_type,
                }
                for p in self._runtime_partners
            ],
            "received": [m.to_doc() for m in self._received.values()],
            "submissions": [s.to_doc() for s in self._subs.values()],
            "failed": [f.to_doc() for f in self._failed],
        }
        self._store.write(doc)

    def _put_blobs(self, attachments: Iterable[StoredAttachment]) -> None:
        # Blobs become durable before the state.json that references them (see datadir.py).
        if self._store is not None:
            for att in attachments:
                self._store.put_blob(att.data)

    # ------------------------------------------------------------------ life cycle

    def _advance(self) -> None:
        """Apply every transition due by now (see module docstring). Caller holds the lock."""
        if not self._pending:
            return
        now = self.now_ms()
        delay = int(self.settings.delivery_delay * 1000)
        changed = False
        for mid in sorted(self._pending, key=lambda m: self._subs[m].seq):
            sub = self._subs[mid]
            while sub.status == "queued" and sub.next_attempt_ms <= now:
                changed = True
                at = sub.next_attempt_ms
                sub.attempts += 1
                # A partner missing after a restart with other settings: delivery fails.
                spec = self._partners.get(sub.partner)
                behaviour = spec[0].behaviour if spec else "fail"
                if behaviour == "fail":
                    record = FailedRecord(
                        self._next_seq(), mid, sub.attempts, at, FAIL_TRANSPORT_STATUS
                    )
                    self._failed.append(record)
                    if sub.attempts >= self.settings.failed_attempts:
                        sub.status = "stopped"
                    else:
                        sub.next_attempt_ms = at + max(delay, 1)
                else:
                    sub.status = "sent"
                    sub.sent_ms = at
                    sub.mdn = MdnRecord(
                        at,
                        False,
                        f"The AS2 message {sub.message_id} sent to {sub.partner} was received. "
                        "The content may still be rejected by the recipient's application.",
                        sub.message_id,
                    )
                    if behaviour == "echo" and sub.echo_id is None:
                        sub.echo_due_ms = at + int(self.settings.echo_delay * 1000)
            if sub.echo_due_ms is not None and sub.echo_id is None and sub.echo_due_ms <= now:
                changed = True
                sub.echo_id = self._create_received(
                    station=sub.station,
                    partner=sub.partner,
                    attachments=[replace(a) for a in sub.attachments],
                    subject=sub.subject,
                    partner_type=sub.partner_type,
                    message_id=None,
                    persisted_ms=sub.echo_due_ms,
                    read=False,
                    with_mdn=True,
                )
            if sub.status != "queued" and (sub.echo_due_ms is None or sub.echo_id is not None):
                self._pending.discard(mid)
        if changed:
            self._save()

    # ------------------------------------------------------------------ stations and partners

    def _add_station(self, as2_id: str, *, runtime: bool = False) -> None:
        if as2_id not in self._stations:
            self._stations[as2_id] = len(self._stations) + 1
            if runtime:
                self._runtime_stations.append(as2_id)

    def _add_partner(self, spec: PartnerSpec, *, runtime: bool = False) -> None:
        existing = self._partners.get(spec.as2_id)
        number = existing[1] if existing else len(self._partners) + 1
        self._partners[spec.as2_id] = (spec, number)
        if runtime:
            self._runtime_partners = [p for p in self._runtime_partners if p.as2_id != spec.as2_id]
            self._runtime_partners.append(spec)

    def add_station(self, as2_id: str) -> None:
        """Add a station at runtime (persisted with a data dir)."""
        if not as2_id:
            raise ValueError("station AS2 ID must not be empty")
        with self._lock:
            if as2_id not in self._stations:
                self._add_station(as2_id, runtime=True)
                self._save()

    def add_partner(self, spec: PartnerSpec) -> None:
        """Add or reconfigure a partner at runtime (persisted with a data dir)."""
        with self._lock:
            self._add_partner(spec, runtime=True)
            self._save()

    def stations(self) -> list[str]:
        with self._lock:
            return list(self._stations)

    def partners(self) -> list[PartnerSpec]:
        with self._lock:
            return [spec for spec, _ in self._partners.values()]

    def station_entities(self, query: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                entities.station(as2_id, number)
                for as2_id, number in self._stations.items()
                if not query or _contains(as2_id, query)
            ]

    def partner_entities(self, query: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                entities.partner(spec, number, self.settings.partner_send_timeout)
                for spec, number in self._partners.values()
                if not query or _contains(spec.as2_id, query) or _contains(spec.name, query)
            ]

    # ------------------------------------------------------------------ auth, rate limit, faults

    def authorize(self, username: str, password: str) -> tuple[str, int] | None:
        """``(token, expiry_ms)`` for the account's credentials, None otherwise."""
        with self._lock:
            if username != self.settings.user or password != self.settings.password:
                return None
            token, expiry = self._tokens.issue(
                username, self.now_ms(), int(self.settings.token_ttl * 1000)
            )
            self._issued.append(token)
            return token, expiry

    def issued_tokens(self) -> list[str]:
        """Every token handed out since this process started (tests check logs for leaks)."""
        with self._lock:
            return list(self._issued)

    def check_token(self, token: str) -> Claims | str:
        """The token's claims, or the reason it is refused."""
        with self._lock:
            return self._tokens.check(token, self.now_ms())

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far: the next request with one is answered 401."""
        with self._lock:
            self._tokens.revoke_all(self.now_ms())
            self._save()

    def rate_limit(self) -> int | None:
        """Count one request against the rate limit: None if admitted, else Retry-After."""
        if self._rate is None:
            return None
        return self._rate.acquire(self._clock())

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault configuration; a new ``seed`` restarts the random sequence."""
        with self._lock:
            self._faults = faults
            if faults.seed is not None:
                self._fault_rng = random.Random(faults.seed)

    def roll(self, probability: float) -> bool:
        """True with ``probability`` (from the faults' seeded random sequence)."""
        if probability <= 0.0:
            return False
        with self._lock:
            return self._fault_rng.random() < probability

    def fault_randrange(self, upper: int) -> int:
        """A number in ``[0, upper)`` from the faults' random sequence (truncation points)."""
        with self._lock:
            return self._fault_rng.randrange(upper)

    def choose_error_status(self) -> int:
        with self._lock:
            return self._fault_rng.choice(self._faults.error_statuses)

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._fault_counts[kind] += 1

    def fault_counts(self) -> dict[str, int]:
        """How many faults of each kind were injected (plus ``rate_limited`` for real 429s)."""
        with self._lock:
            return dict(self._fault_counts)

    def log_request(
        self, method: str, path: str, status: int, *, started_at: float | None = None
    ) -> None:
        """Record one ``/v1`` request when it ends; status 0 means the connection was dropped.
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

    # ------------------------------------------------------------------ received messages

    def _create_received(
        self,
        *,
        station: str,
        partner: str,
        attachments: list[StoredAttachment],
        subject: str | None,
        partner_type: str,
        message_id: str | None,
        persisted_ms: int,
        read: bool,
        with_mdn: bool,
    ) -> str:
        """Add a received message (caller holds the lock and saves)."""
        mid = message_id or ids.received_id(self._id_rng, persisted_ms, partner, station)
        while mid in self._received:  # a generated ID never collides with an existing one
            mid = ids.received_id(self._id_rng, persisted_ms, partner, station)
        self._put_blobs(attachments)
        mdn = (
            MdnRecord(
                persisted_ms,
                False,
                f"The AS2 message {mid} from {partner} was received by {station} "
                "and decrypted successfully.",
                mid,
            )
            if with_mdn
            else None
        )
        self._received[mid] = ReceivedMessage(
            seq=self._next_seq(),
            message_id=mid,
            station=station,
            partner=partner,
            attachments=attachments,
            subject=subject,
            partner_type=partner_type.lower(),
            persisted_ms=persisted_ms,
            read=read,
            mdn=mdn,
        )
        return mid

    def seed_received(
        self,
        station: str,
        partner: str,
        attachments: Sequence[tuple[str, bytes]],
        subject: str | None = None,
        partner_type: str = "production",
        message_id: str | None = None,
        *,
        read: bool = False,
        persisted_ms: int | None = None,
        content_types: Sequence[str] | None = None,
        with_mdn: bool = True,
    ) -> str:
        """Add a message received from ``partner`` for ``station``; return its AS2 message ID.

        Names are stored verbatim (hostile names like ``../../x`` are the point of some tests).
        Raises ValueError for an unknown station/partner or an ID that already exists.
        """
        with self._lock:
            self._advance()
            if station not in self._stations:
                raise ValueError(f"unknown station {station!r}")
            if partner not in self._partners:
                raise ValueError(f"unknown partner {partner!r}")
            if message_id is not None and message_id in self._received:
                raise ValueError(f"received message {message_id!r} already exists")
            if partner_type.lower() not in ("production", "test"):
                raise ValueError("partner_type must be 'production' or 'test'")
            types = list(content_types or ["application/octet-stream"] * len(attachments))
            mid = self._create_received(
                station=station,
                partner=partner,
                attachments=[
                    StoredAttachment(name, ctype, bytes(data))
                    for (name, data), ctype in zip(attachments, types, strict=True)
                ],
                subject=subject,
                partner_type=partner_type,
                message_id=message_id,
                persisted_ms=self.now_ms() if persisted_ms is None else persisted_ms,
                read=read,
                with_mdn=with_mdn,
            )
            self._save()
            return mid

    def received_ids(self) -> list[str]:
        """Every received message ID, oldest first."""
        with self._lock:
            self._advance()
            return [m.message_id for m in sorted(self._received.values(), key=lambda m: m.seq)]

    def received(self, message_id: str) -> ReceivedView:
        """A snapshot of one received message (KeyError if unknown)."""
        with self._lock:
            self._advance()
            m = self._received[message_id]
            return ReceivedView(
                m.message_id,
                m.station,
                m.partner,
                [(a.name, a.data) for a in m.attachments],
                m.subject,
                m.partner_type,
                m.persisted_ms,
                m.read,
            )

    def is_read(self, message_id: str) -> bool:
        """Whether a received message is marked read (KeyError if unknown)."""
        with self._lock:
            self._advance()
            return self._received[message_id].read

    def set_read(self, message_id: str, read: bool) -> None:
        """Set a received message's read flag (KeyError if unknown)."""
        with self._lock:
            self._received[message_id].read = read
            self._save()

    # ------------------------------------------------------------------ submissions

    def submit(
        self,
        station: str,
        partner: str,
        attachments: Sequence[tuple[str, str, bytes]],
        *,
        subject: str | None,
        partner_type: str,
        profile: str | None,
    ) -> str:
        """Enqueue an outbound message of ``(name, content_type, data)``; return its ID.

        Raises ApiError 404 for an unknown station, or a partner unknown for ``partner_type``.
        The entry is durable (with a data dir) before this returns.
        """
        with self._lock:
            self._advance()
            if station not in self._stations:
                raise not_found(f"No AS2 station found with AS2 ID {station}")
            spec = self._partners.get(partner)
            if spec is None or spec[0].partner_type.lower() != partner_type:
                raise not_found(f"No {partner_type} AS2 partner found with AS2 ID {partner}")
            now = self.now_ms()
            mid = ids.gateway_id(self._id_rng, now)
            stored = [StoredAttachment(n, ct, data) for n, ct, data in attachments]
            self._put_blobs(stored)
            self._subs[mid] = Submission(
                seq=self._next_seq(),
                message_id=mid,
                station=station,
                partner=partner,
                attachments=stored,
                subject=subject,
                partner_type=partner_type,
                profile=profile,
                created_ms=now,
                next_attempt_ms=now + int(self.settings.delivery_delay * 1000),
            )
            self._pending.add(mid)
            self._save()
            return mid

    def submissions(self) -> list[SubmissionView]:
        """Every submission ever accepted (deleted ones included), oldest first."""
        with self._lock:
            self._advance()
            return [
                SubmissionView(
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
                for s in sorted(self._subs.values(), key=lambda s: s.seq)
            ]

    def duplicate_submission_ids(self) -> list[str]:
        """IDs of submissions whose attachments (names and bytes) equal an earlier one's for the
        same station and partner: what an exactly-once client must never cause."""
        with self._lock:
            seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
            duplicates: list[str] = []
            for s in sorted(self._subs.values(), key=lambda s: s.seq):
                key = (s.station, s.partner, tuple((a.name, a.sha256) for a in s.attachments))
                if key in seen:
                    duplicates.append(s.message_id)
                seen.add(key)
            return duplicates

    def duplicate_submissions(self) -> int:
        """How many duplicate submissions there are (see :meth:`duplicate_submission_ids`)."""
        return len(self.duplicate_submission_ids())

    # ------------------------------------------------------------------ HTTP-facing queries

    def list_messages(self, folder: ListFolder, params: ListParams) -> tuple[int, list[Any]]:
        """``(totalRecords, records)`` of one page of a message list (spec section 5)."""
        with self._lock:
            self._advance()
            rows = self._rows(folder, params)
            total = len(rows)
            key_col = params.sort_col

            def key(row: tuple[int, dict[str, Any]]) -> tuple[Any, int]:
                # Only ``subject`` can be missing (omitted when empty); it sorts as "".
                # The sequence number breaks ties so pages never overlap or skip.
                value = row[1].get(key_col)
                return (value if value is not None else ""), row[0]

            rows.sort(key=key, reverse=params.descending)
            start = params.page_offset * params.page_length
            return total, [entity for _, entity in rows[start : start + params.page_length]]

    def _rows(self, folder: ListFolder, p: ListParams) -> list[tuple[int, dict[str, Any]]]:
        """Matching ``(seq, entity)`` rows of a folder, unsorted."""

        def matches(mid: str, station: str, partner: str, subject: str | None, ptype: str) -> bool:
            if ptype != p.partner_type:
                return False
            if p.query is not None:
                return any(_contains(v, p.query) for v in (mid, station, partner, subject))
            return (
                (p.partner is None or partner == p.partner)
                and (p.station is None or station == p.station)
                and (p.message_id is None or mid == p.message_id)
                and (p.subject is None or _contains(subject, p.subject))
            )

        if folder == "received":
            return [
                (m.seq, entities.received(m, self.settings))
                for m in self._received.values()
                if matches(m.message_id, m.station, m.partner, m.subject, m.partner_type)
                and not (p.unread_only and m.read)
            ]
        if folder == "failed":
            return [
                (f.seq, entities.failed(f, self._subs[f.message_id]))
                for f in self._failed
                if matches(
                    f.message_id,
                    self._subs[f.message_id].station,
                    self._subs[f.message_id].partner,
                    self._subs[f.message_id].subject,
                    self._subs[f.message_id].partner_type,
                )
            ]
        visible = self._sent_visible if folder == "sent" else self._queued_listed
        render: Callable[[Submission], dict[str, Any]] = (
            entities.sent if folder == "sent" else lambda s: entities.queued(s, self.settings)
        )
        return [
            (s.seq, render(s))
            for s in self._subs.values()
            if visible(s) and matches(s.message_id, s.station, s.partner, s.subject, s.partner_type)
        ]

    @staticmethod
    def _sent_visible(sub: Submission) -> bool:
        return sub.status == "sent" and "sent" not in sub.hidden

    @staticmethod
    def _queued_listed(sub: Submission) -> bool:
        return sub.status == "queued" and "queued" not in sub.hidden

    @staticmethod
    def _stopped_visible(sub: Submission) -> bool:
        return sub.status == "stopped" and "stopped" not in sub.hidden

    def _get_received(self, message_id: str) -> ReceivedMessage:
        msg = self._received.get(message_id)
        if msg is None:
            raise not_found(f"No received AS2 message found with ID {message_id}")
        return msg

    def _get_sent(self, message_id: str) -> Submission:
        sub = self._subs.get(message_id)
        if sub is None or not self._sent_visible(sub):
            raise not_found(f"No sent AS2 message found with ID {message_id}")
        return sub

    def _get_queue_entry(self, message_id: str) -> Submission:
        """A queue entry that is waiting or stopped (both are "queue entries" for stop/retry)."""
        sub = self._subs.get(message_id)
        if sub is None or not (self._queued_listed(sub) or self._stopped_visible(sub)):
            raise not_found(f"No queued AS2 message found with ID {message_id}")
        return sub

    def get_message(self, folder: ListFolder, message_id: str, *, mark_read: bool) -> Any:
        """One AS2 Message entity (spec section 6); failed gives the latest attempt."""
        with self._lock:
            self._advance()
            if folder == "received":
                msg = self._get_received(message_id)
                if mark_read and not msg.read:
                    msg.read = True
                    self._save()
                return entities.received(msg, self.settings)
            if folder == "sent":
                return entities.sent(self._get_sent(message_id))
            if folder == "queued":
                return entities.queued(self._get_queue_entry(message_id), self.settings)
            records = [f for f in self._failed if f.message_id == message_id]
            if not records:
                raise not_found(f"No failed AS2 message found with ID {message_id}")
            return entities.failed(records[-1], self._subs[message_id])

    def mark_unread(self, message_id: str) -> None:
        with self._lock:
            self._advance()
            msg = self._get_received(message_id)
            if msg.read:
                msg.read = False
                self._save()

    def _attachments_of(self, folder: str, message_id: str) -> list[StoredAttachment]:
        if folder == "received":
            return self._get_received(message_id).attachments
        return self._get_sent(message_id).attachments

    def _mark_read_on_download(self, folder: str, message_id: str, mark_read: bool) -> None:
        if mark_read and folder == "received":
            msg = self._received[message_id]
            if not msg.read:
                msg.read = True
                self._save()

    def attachment(
        self, folder: str, message_id: str, index: int, *, mark_read: bool
    ) -> tuple[str, bytes]:
        """``(name, data)`` of attachment ``index`` of a received or sent message."""
        with self._lock:
            self._advance()
            items = self._attachments_of(folder, message_id)
            if not 0 <= index < len(items):
                raise not_found(f"No attachment with index {index} in AS2 message {message_id}")
            # Marked only once the attachment is known to exist: a 404 marks nothing.
            self._mark_read_on_download(folder, message_id, mark_read)
            return items[index].name, items[index].data

    def all_attachments(
        self, folder: str, message_id: str, *, mark_read: bool
    ) -> list[tuple[str, bytes]]:
        with self._lock:
            self._advance()
            items = [(a.name, a.data) for a in self._attachments_of(folder, message_id)]
            self._mark_read_on_download(folder, message_id, mark_read)
            return items

    def mdn(self, folder: str, message_id: str) -> bytes:
        """The raw MDN of a received or sent message; 404 if it has none."""
        with self._lock:
            self._advance()
            if folder == "received":
                record = self._get_received(message_id).mdn
            else:
                record = self._get_sent(message_id).mdn
            if record is None:
                raise not_found(f"No MDN found for AS2 message {message_id}")
            return record.raw()

    def batch(self, message_ids: Sequence[str], *, mark_read: bool) -> BatchPlan:
        """Plan the batch zip (spec 7.3): add attachments in order while the running total stays
        within ``batch_limit_bytes``; stop at the first one that would exceed it.

        ``truncation`` is ``(i, j)``, message and attachment index of the last attachment added,
        as the spec says; so when the limit falls exactly after a message's last attachment the
        header names that attachment, and the next message is absent from the zip. When no
        attachment at all was added before the stop, it is ``(i, -1)`` with ``i`` the message
        whose first attachment did not fit (the spec is silent on this case). IDs that cannot be
        served get a folder with a ``.error`` file and do not count towards the limit. With
        ``mark_read`` only fully archived messages are marked read, and that happens here,
        before the zip is streamed: like the real service, a response lost in transit still
        leaves them marked.
        """
        limit = self.settings.batch_limit_bytes
        with self._lock:
            self._advance()
            entries: list[BatchEntry] = []
            complete: list[ReceivedMessage] = []
            truncation: tuple[int, int] | None = None
            last_added: tuple[int, int] | None = None
            total = 0
            for i, mid in enumerate(message_ids):
                folder = mid if self.settings.batch_folder_brackets else mid.strip("<>")
                msg = self._received.get(mid)
                if msg is None:
                    entries.append(
                        BatchEntry(folder, [], f"No received AS2 message found with ID {mid}")
                    )
                    continue
                if not msg.attachments:
                    entries.append(
                        BatchEntry(folder, [], f"No attachments found for AS2 message {mid}")
                    )
                    continue
                files: list[tuple[str, bytes]] = []
                for j, att in enumerate(msg.attachments):
                    if total + att.size > limit:
                        truncation = last_added or (i, -1)
                        break
                    total += att.size
                    files.append((att.name, att.data))
                    last_added = (i, j)
                if files or truncation is None:
                    entries.append(BatchEntry(folder, files))
                if truncation is not None:
                    break
                complete.append(msg)
            if mark_read:
                changed = [m for m in complete if not m.read]
                for m in changed:
                    m.read = True
                if changed:
                    self._save()
            return BatchPlan(entries, truncation)

    # ------------------------------------------------------------------ queue control, delete

    def stop(self, message_id: str) -> None:
        """Stop retrying a queue entry (idempotent for an already stopped one)."""
        with self._lock:
            self._advance()
            sub = self._get_queue_entry(message_id)
            if sub.status == "queued":
                sub.status = "stopped"
                self._pending.discard(message_id)
                self._save()

    def retry(self, message_id: str) -> None:
        """Resume a stopped entry: queued again, a fresh set of attempts from now."""
        with self._lock:
            self._advance()
            sub = self._get_queue_entry(message_id)
            if sub.status == "stopped":
                sub.status = "queued"
                sub.attempts = 0
                sub.next_attempt_ms = self.now_ms() + int(self.settings.delivery_delay * 1000)
                self._pending.add(message_id)
                self._save()

    def delete(self, folder: DeleteFolder, message_ids: Sequence[str]) -> int:
        """Delete messages of one category; return how many were deleted (unknown IDs skipped).

        Deleting a queue entry (queued or stopped) removes it from the queue for good; the
        submission stays visible to :meth:`submissions` with status ``stopped``.
        """
        with self._lock:
            self._advance()
            deleted = 0
            for mid in dict.fromkeys(message_ids):
                if folder == "received":
                    deleted += self._received.pop(mid, None) is not None
                elif folder == "failed":
                    before = len(self._failed)
                    self._failed = [f for f in self._failed if f.message_id != mid]
                    deleted += len(self._failed) < before
                else:
                    sub = self._subs.get(mid)
                    if sub is None:
                        continue
                    visible = {
                        "sent": self._sent_visible,
                        "queued": self._queued_listed,
                        "stopped": self._stopped_visible,
                    }[folder]
                    if not visible(sub):
                        continue
                    deleted += 1
                    if folder == "sent":
                        sub.hidden.add("sent")
                    else:
                        sub.status = "stopped"
                        sub.hidden.update({"queued", "stopped"})
                        self._pending.discard(mid)
            if deleted:
                self._save()
            return deleted

    # ------------------------------------------------------------------ admin snapshot

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able overview for ``GET /_admin/state``."""
        with self._lock:
            self._advance()
            return {
                "stations": list(self._stations),
                "partners": [
                    {"as2_id": s.as2_id, "behaviour": s.behaviour, "partner_type": s.partner_type}
                    for s, _ in self._partners.values()
                ],
                "received": [
                    {
                        "message_id": m.message_id,
                        "station": m.station,
                        "partner": m.partner,
                        "read": m.read,
                        "attachments": [{"name": a.name, "size": a.size} for a in m.attachments],
                    }
                    for m in sorted(self._received.values(), key=lambda m: m.seq)
                ],
                "submissions": len(self._subs),
                "duplicate_submissions": self.duplicate_submission_ids(),
                "fault_counts": dict(self._fault_counts),
                "requests": len(self._request_log),
            }
