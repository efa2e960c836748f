"""The ``/v1`` API's message folders over the store: received, sent, failed, queued, stopped.

What each folder shows (a submission is listed as queued while it waits, as sent once
delivered, and a stopped entry is still found under ``queued`` by ID), how a list is filtered,
sorted and paged (spec 5), single lookups and downloads with their ``markAsRead`` side effect
(6, 7), the batch plan (7.3), stop and retry (8) and delete (9), each with the spec's 404 text.

Every operation is one store transaction (see :mod:`as2sync.emulator.store` for the locking),
so a read flag set by a download is written through before the handler answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from as2sync.emulator import entities
from as2sync.emulator.apierror import not_found
from as2sync.emulator.model import ReceivedMessage, StoredAttachment, Submission
from as2sync.emulator.settings import EmulatorSettings
from as2sync.emulator.store import MessageStore, Transaction

ListFolder = Literal["received", "sent", "failed", "queued"]
DeleteFolder = Literal["received", "sent", "failed", "queued", "stopped"]
SortCol = Literal["persistedTimestamp", "receiverId", "senderId", "subject"]


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


def contains(haystack: str | None, needle: str) -> bool:
    """The API's text filter: a case-insensitive substring match (never on a missing value)."""
    return haystack is not None and needle.lower() in haystack.lower()


def _sent_visible(sub: Submission) -> bool:
    return sub.status == "sent" and "sent" not in sub.hidden


def _queued_listed(sub: Submission) -> bool:
    return sub.status == "queued" and "queued" not in sub.hidden


def _stopped_visible(sub: Submission) -> bool:
    return sub.status == "stopped" and "stopped" not in sub.hidden


def _get_received(tx: Transaction, message_id: str) -> ReceivedMessage:
    msg = tx.received.get(message_id)
    if msg is None:
        raise not_found(f"No received AS2 message found with ID {message_id}")
    return msg


def _get_sent(tx: Transaction, message_id: str) -> Submission:
    sub = tx.submissions.get(message_id)
    if sub is None or not _sent_visible(sub):
        raise not_found(f"No sent AS2 message found with ID {message_id}")
    return sub


def _get_queue_entry(tx: Transaction, message_id: str) -> Submission:
    """A queue entry that is waiting or stopped (both are "queue entries" for stop/retry)."""
    sub = tx.submissions.get(message_id)
    if sub is None or not (_queued_listed(sub) or _stopped_visible(sub)):
        raise not_found(f"No queued AS2 message found with ID {message_id}")
    return sub


def _attachments_of(tx: Transaction, folder: str, message_id: str) -> list[StoredAttachment]:
    if folder == "received":
        return _get_received(tx, message_id).attachments
    return _get_sent(tx, message_id).attachments


def _mark_read(tx: Transaction, msg: ReceivedMessage) -> None:
    if not msg.read:
        msg.read = True
        tx.changed()


class Folders:
    """The ``/v1`` folder operations on one store; ``settings`` shape the rendered entities."""

    def __init__(self, store: MessageStore, settings: EmulatorSettings) -> None:
        self._store = store
        self.settings = settings

    # ------------------------------------------------------------------ lists

    def list_messages(self, folder: ListFolder, params: ListParams) -> tuple[int, list[Any]]:
        """``(totalRecords, records)`` of one page of a message list (spec section 5)."""
        with self._store.transaction() as tx:
            rows = self._rows(tx, folder, params)
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

    def _rows(
        self, tx: Transaction, folder: ListFolder, p: ListParams
    ) -> list[tuple[int, dict[str, Any]]]:
        """Matching ``(seq, entity)`` rows of a folder, unsorted."""

        def matches(mid: str, station: str, partner: str, subject: str | None, ptype: str) -> bool:
            if ptype != p.partner_type:
                return False
            if p.query is not None:
                return any(contains(v, p.query) for v in (mid, station, partner, subject))
            return (
                (p.partner is None or partner == p.partner)
                and (p.station is None or station == p.station)
                and (p.message_id is None or mid == p.message_id)
                and (p.subject is None or contains(subject, p.subject))
            )

        if folder == "received":
            return [
                (m.seq, entities.received(m, self.settings))
                for m in tx.received.values()
                if matches(m.message_id, m.station, m.partner, m.subject, m.partner_type)
                and not (p.unread_only and m.read)
            ]
        if folder == "failed":
            subs = tx.submissions
            return [
                (f.seq, entities.failed(f, subs[f.message_id]))
                for f in tx.failed
                if matches(
                    f.message_id,
                    subs[f.message_id].station,
                    subs[f.message_id].partner,
                    subs[f.message_id].subject,
                    subs[f.message_id].partner_type,
                )
            ]
        visible = _sent_visible if folder == "sent" else _queued_listed
        render: Callable[[Submission], dict[str, Any]] = (
            entities.sent if folder == "sent" else lambda s: entities.queued(s, self.settings)
        )
        return [
            (s.seq, render(s))
            for s in tx.submissions.values()
            if visible(s) and matches(s.message_id, s.station, s.partner, s.subject, s.partner_type)
        ]

    # ------------------------------------------------------------------ one message

    def get_message(self, folder: ListFolder, message_id: str, *, mark_read: bool) -> Any:
        """One AS2 Message entity (spec section 6); failed gives the latest attempt."""
        with self._store.transaction() as tx:
            if folder == "received":
                msg = _get_received(tx, message_id)
                if mark_read:
                    _mark_read(tx, msg)
                return entities.received(msg, self.settings)
            if folder == "sent":
                return entities.sent(_get_sent(tx, message_id))
            if folder == "queued":
                return entities.queued(_get_queue_entry(tx, message_id), self.settings)
            records = [f for f in tx.failed if f.message_id == message_id]
            if not records:
                raise not_found(f"No failed AS2 message found with ID {message_id}")
            return entities.failed(records[-1], tx.submissions[message_id])

    def mark_unread(self, message_id: str) -> None:
        with self._store.transaction() as tx:
            msg = _get_received(tx, message_id)
            if msg.read:
                msg.read = False
                tx.changed()

    # ------------------------------------------------------------------ downloads

    def attachment(
        self, folder: str, message_id: str, index: int, *, mark_read: bool
    ) -> tuple[str, bytes]:
        """``(name, data)`` of attachment ``index`` of a received or sent message."""
        with self._store.transaction() as tx:
            items = _attachments_of(tx, folder, message_id)
            if not 0 <= index < len(items):
                raise not_found(f"No attachment with index {index} in AS2 message {message_id}")
            # Marked only once the attachment is known to exist: a 404 marks nothing.
            if mark_read and folder == "received":
                _mark_read(tx, tx.received[message_id])
            return items[index].name, items[index].data

    def all_attachments(
        self, folder: str, message_id: str, *, mark_read: bool
    ) -> list[tuple[str, bytes]]:
        with self._store.transaction() as tx:
            items = [(a.name, a.data) for a in _attachments_of(tx, folder, message_id)]
            if mark_read and folder == "received":
                _mark_read(tx, tx.received[message_id])
            return items

    def mdn(self, folder: str, message_id: str) -> bytes:
        """The raw MDN of a received or sent message; 404 if it has none."""
        with self._store.transaction() as tx:
            if folder == "received":
                record = _get_received(tx, message_id).mdn
            else:
                record = _get_sent(tx, message_id).mdn
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
        with self._store.transaction() as tx:
            entries: list[BatchEntry] = []
            complete: list[ReceivedMessage] = []
            truncation: tuple[int, int] | None = None
            last_added: tuple[int, int] | None = None
            total = 0
            for i, mid in enumerate(message_ids):
                folder = mid if self.settings.batch_folder_brackets else mid.strip("<>")
                msg = tx.received.get(mid)
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
                for m in complete:
                    _mark_read(tx, m)
            return BatchPlan(entries, truncation)

    # ------------------------------------------------------------------ queue control, delete

    def stop(self, message_id: str) -> None:
        """Stop retrying a queue entry (idempotent for an already stopped one)."""
        with self._store.transaction() as tx:
            sub = _get_queue_entry(tx, message_id)
            if sub.status == "queued":
                tx.stop(sub)

    def retry(self, message_id: str) -> None:
        """Resume a stopped entry: queued again, a fresh set of attempts from now."""
        with self._store.transaction() as tx:
            sub = _get_queue_entry(tx, message_id)
            if sub.status == "stopped":
                tx.queue(sub)

    def delete(self, folder: DeleteFolder, message_ids: Sequence[str]) -> int:
        """Delete messages of one category; return how many were deleted (unknown IDs skipped).

        Deleting a queue entry (queued or stopped) removes it from the queue for good; the
        submission stays in the store (and the journal's submissions) with status ``stopped``.
        """
        visible = {
            "sent": _sent_visible,
            "queued": _queued_listed,
            "stopped": _stopped_visible,
        }
        with self._store.transaction() as tx:
            deleted = 0
            for mid in dict.fromkeys(message_ids):
                if folder == "received":
                    deleted += tx.received.pop(mid, None) is not None
                elif folder == "failed":
                    before = len(tx.failed)
                    tx.failed[:] = [f for f in tx.failed if f.message_id != mid]
                    deleted += len(tx.failed) < before
                else:
                    sub = tx.submissions.get(mid)
                    if sub is None or not visible[folder](sub):
                        continue
                    deleted += 1
                    if folder == "sent":
                        sub.hidden.add("sent")
                    else:
                        tx.stop(sub)
                        sub.hidden.update({"queued", "stopped"})
            if deleted:
                tx.changed()
            return deleted
