"""The emulator's messages: received messages, submissions and failed attempts, their life cycle
in time, and their persistence under ``--data``. Thread-safe.

Time drives the outbound life cycle, computed lazily: every transaction first "advances" the
records to ``clock()``. An entry submitted at ``t`` is queued until ``t + delivery_delay``; then
it is sent (or, for a ``fail`` partner, one failed record per attempt, attempts
``delivery_delay`` apart, then stopped). An ``echo`` partner's message comes back as a received
message at ``sent + echo_delay``. Computing transitions from timestamps (instead of a background
thread) makes them deterministic with an injected clock, and a restart from a data dir simply
catches up.

Locking: one lock guards every record. The records are reachable only inside
``with store.transaction() as tx`` (or the methods here, which open one): it takes the lock,
advances, and on leaving writes the store's keys through to the data dir if anything changed
(``tx.changed()``), all before the lock is released, so whatever a front-end acknowledged after
its transaction survives a SIGKILL of the emulator. Inside a transaction the store asks the
account about stations and partners (lock order store, then account); a transaction must not
open another one. A front-end implements its API's folders and queries on top of transactions
(``folders.py`` for ``/v1``); the records are plain mutable dataclasses (``model.py``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from as2sync.emulator import ids
from as2sync.emulator.account import Account
from as2sync.emulator.apierror import not_found
from as2sync.emulator.datadir import DataDir
from as2sync.emulator.model import (
    FailedRecord,
    MdnRecord,
    ReceivedMessage,
    ReceivedView,
    StoredAttachment,
    Submission,
)
from as2sync.emulator.settings import EmulatorSettings

# The failed record's "HTTP response code received" for a fail partner's attempts.
FAIL_TRANSPORT_STATUS = 503


@dataclass
class Records:
    """Everything the store holds. ``pending`` indexes the submissions with a step still due
    (queued, or sent with an echo not yet received), so advancing skips the settled ones."""

    received: dict[str, ReceivedMessage] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    failed: list[FailedRecord] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)
    seq: int = 0


class Transaction:
    """The records, while the store's lock is held (see :meth:`MessageStore.transaction`).

    ``received``, ``submissions`` and ``failed`` may be changed in place; say so with
    :meth:`changed`. A submission enters or leaves the queue only through :meth:`queue` and
    :meth:`stop`, which keep the life cycle's index in step.
    """

    def __init__(self, records: Records, now_ms: int, delivery_delay_ms: int) -> None:
        self.now_ms = now_ms
        self.received = records.received
        self.submissions = records.submissions
        self.failed = records.failed
        self._pending = records.pending
        self._delay_ms = delivery_delay_ms
        self.dirty = False

    def changed(self) -> None:
        """Write the records through when the transaction ends."""
        self.dirty = True

    def stop(self, sub: Submission) -> None:
        """No further delivery attempts for ``sub``."""
        sub.status = "stopped"
        self._pending.discard(sub.message_id)
        self.changed()

    def queue(self, sub: Submission) -> None:
        """Queue ``sub`` with a fresh set of attempts, the first one a delivery delay from now."""
        sub.status = "queued"
        sub.attempts = 0
        sub.next_attempt_ms = self.now_ms + self._delay_ms
        self._pending.add(sub.message_id)
        self.changed()


class MessageStore:
    """The messages of one account. See the module docstring for the life cycle and locking."""

    def __init__(
        self,
        settings: EmulatorSettings,
        account: Account,
        *,
        clock: Callable[[], float] = time.time,
        data: DataDir | None = None,
        saved: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self._account = account
        self._clock = clock
        self._data = data
        self._lock = threading.Lock()
        self._records = Records()
        self._id_rng = random.Random(settings.faults.seed)
        if saved is not None:
            assert data is not None  # blobs are read from where the document came from
            self._restore(saved, data)

    def _delay_ms(self) -> int:
        return int(self.settings.delivery_delay * 1000)

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the lock, advance to now, yield the records; write them through at the end if
        the transaction (or advancing) changed them, also when the body raised."""
        with self._lock:
            tx = Transaction(self._records, int(self._clock() * 1000), self._delay_ms())
            try:
                self._advance(tx)
                yield tx
            finally:
                if tx.dirty:
                    self._save()

    # ------------------------------------------------------------------ persistence

    def _restore(self, doc: dict[str, Any], data: DataDir) -> None:
        records = self._records
        records.seq = doc["seq"]
        for r in doc["received"]:
            msg = ReceivedMessage.from_doc(r, data.get_blob)
            records.received[msg.message_id] = msg
        for s in doc["submissions"]:
            sub = Submission.from_doc(s, data.get_blob)
            records.submissions[sub.message_id] = sub
            if sub.status == "queued" or (sub.echo_due_ms is not None and sub.echo_id is None):
                records.pending.add(sub.message_id)
        records.failed[:] = [FailedRecord.from_doc(f) for f in doc["failed"]]

    def persisted(self) -> dict[str, Any]:
        """This part's keys of the state document (caller holds the lock, or no thread runs)."""
        records = self._records
        return {
            "seq": records.seq,
            "received": [m.to_doc() for m in records.received.values()],
            "submissions": [s.to_doc() for s in records.submissions.values()],
            "failed": [f.to_doc() for f in records.failed],
        }

    def _save(self) -> None:
        """Write this part through (a no-op without a data dir). Caller holds the lock."""
        if self._data is not None:
            self._data.write(self.persisted())

    def _put_blobs(self, attachments: Iterable[StoredAttachment]) -> None:
        # Blobs become durable before the state.json that references them (see datadir.py).
        if self._data is not None:
            for att in attachments:
                self._data.put_blob(att.data)

    def _next_seq(self) -> int:
        self._records.seq += 1
        return self._records.seq

    # ------------------------------------------------------------------ life cycle

    def _advance(self, tx: Transaction) -> None:
        """Apply every transition due by ``tx.now_ms`` (see module docstring)."""
        records = self._records
        if not records.pending:
            return
        now = tx.now_ms
        delay = self._delay_ms()
        for mid in sorted(records.pending, key=lambda m: records.submissions[m].seq):
            sub = records.submissions[mid]
            while sub.status == "queued" and sub.next_attempt_ms <= now:
                tx.changed()
                at = sub.next_attempt_ms
                sub.attempts += 1
                # A partner missing after a restart with other settings: delivery fails.
                spec = self._account.partner(sub.partner)
                behaviour = spec.behaviour if spec else "fail"
                if behaviour == "fail":
                    record = FailedRecord(
                        self._next_seq(), mid, sub.attempts, at, FAIL_TRANSPORT_STATUS
                    )
                    records.failed.append(record)
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
                tx.changed()
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
                records.pending.discard(mid)

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
        """Add a received message (caller holds the lock and marks the transaction changed)."""
        received = self._records.received
        mid = message_id or ids.received_id(self._id_rng, persisted_ms, partner, station)
        while mid in received:  # a generated ID never collides with an existing one
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
        received[mid] = ReceivedMessage(
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
        with self.transaction() as tx:
            if not self._account.has_station(station):
                raise ValueError(f"unknown station {station!r}")
            if self._account.partner(partner) is None:
                raise ValueError(f"unknown partner {partner!r}")
            if message_id is not None and message_id in tx.received:
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
                persisted_ms=tx.now_ms if persisted_ms is None else persisted_ms,
                read=read,
                with_mdn=with_mdn,
            )
            tx.changed()
            return mid

    def received_ids(self) -> list[str]:
        """Every received message ID, oldest first."""
        with self.transaction() as tx:
            return [m.message_id for m in sorted(tx.received.values(), key=lambda m: m.seq)]

    def received(self, message_id: str) -> ReceivedView:
        """A snapshot of one received message (KeyError if unknown)."""
        with self.transaction() as tx:
            m = tx.received[message_id]
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
        with self.transaction() as tx:
            return tx.received[message_id].read

    def set_read(self, message_id: str, read: bool) -> None:
        """Set a received message's read flag (KeyError if unknown)."""
        with self.transaction() as tx:
            tx.received[message_id].read = read
            tx.changed()

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
        with self.transaction() as tx:
            if not self._account.has_station(station):
                raise not_found(f"No AS2 station found with AS2 ID {station}")
            spec = self._account.partner(partner)
            if spec is None or spec.partner_type.lower() != partner_type:
                raise not_found(f"No {partner_type} AS2 partner found with AS2 ID {partner}")
            now = tx.now_ms
            mid = ids.gateway_id(self._id_rng, now)
            stored = [StoredAttachment(n, ct, data) for n, ct, data in attachments]
            self._put_blobs(stored)
            tx.submissions[mid] = Submission(
                seq=self._next_seq(),
                message_id=mid,
                station=station,
                partner=partner,
                attachments=stored,
                subject=subject,
                partner_type=partner_type,
                profile=profile,
                created_ms=now,
            )
            tx.queue(tx.submissions[mid])
            return mid
