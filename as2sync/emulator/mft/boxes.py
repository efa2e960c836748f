"""MFT Gateway's message boxes over the shared store: the inbox and the outbox states.

Box of an outbound submission (decided at read time, from the store's life cycle and the
switches): ``queued`` while queued; ``failed`` once a ``fail`` partner's attempts are used up
(the store's ``stopped``); ``incomplete`` when delivered to a partner named in
``MftSettings.incomplete_partners`` (sent, but no MDN before the timeout); else ``sent`` (the
plain ``outbox``). A message deleted through this API is in no box.

Each path finds a message only in its own box: ``/message/outbox/{identifier}`` a sent one,
``/message/outbox/failed/{identifier}`` a failed one, and so on (the strict reading: a client
that needs a message's state looks in every box, as it must against the real service).

The inbox's read flag is the store's (``apiFetched`` in the JSON). Lists return IDs only;
``pageOffset`` is a page number (offset = page x length). Every method runs in one store
transaction, so a list that marks what it returns (reading (b)) does it atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from as2sync.emulator.apierror import not_found
from as2sync.emulator.mft import entities
from as2sync.emulator.mft.keys import (
    Box,
    OutBox,
    inbox_keys,
    mdn_key,
    outbox_keys,
    seq_of,
)
from as2sync.emulator.mft.settings import Switches
from as2sync.emulator.model import ReceivedMessage, StoredAttachment, Submission
from as2sync.emulator.store import MessageStore, Transaction


def out_box(sub: Submission, incomplete_partners: tuple[str, ...]) -> OutBox | None:
    """Which outbox ``sub`` is listed in (None: deleted through this API)."""
    if sub.hidden:
        return None
    if sub.status == "queued":
        return "queued"
    if sub.status == "sent":
        return "incomplete" if sub.partner in incomplete_partners else "sent"
    return "failed"


@dataclass(frozen=True)
class ListQuery:
    """One list request, already validated. Primary filters (station, partner) win over the
    secondary ones; of those, ``identifier`` wins over ``subject``; both are prefixes."""

    descending: bool = True
    page: int = 0
    page_length: int = 10
    fetch_all: bool = False
    station: str | None = None
    partner: str | None = None
    identifier: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class Attached:
    """One attachment as ``/attachments`` lists it: its name and its object key."""

    name: str
    key: str


class Boxes:
    """The MFT box operations on one store; ``switches`` say which reading is served."""

    def __init__(self, store: MessageStore, switches: Switches) -> None:
        self._store = store
        self._switches = switches

    # -- lists

    def list_ids(self, box: Box, query: ListQuery) -> list[str]:
        """One page of IDs. In the inbox, unread only unless ``fetch_all``; with reading (b)
        an unread list marks what it returns as read."""
        switches = self._switches.current
        with self._store.transaction() as tx:
            rows: list[tuple[int, int, str, str, str, str | None]] = []
            if box == "inbox":
                for m in tx.received.values():
                    if query.fetch_all or not m.read:
                        rows.append(
                            (m.persisted_ms, m.seq, m.message_id, m.station, m.partner, m.subject)
                        )
            else:
                for s in tx.submissions.values():
                    if out_box(s, switches.incomplete_partners) == box:
                        rows.append(
                            (s.created_ms, s.seq, s.message_id, s.station, s.partner, s.subject)
                        )
            rows = [r for r in rows if _matches(query, *r[2:])]
            rows.sort(key=lambda r: (r[0], r[1]), reverse=query.descending)
            start = query.page * query.page_length
            page = [r[2] for r in rows[start : start + query.page_length]]
            if box == "inbox" and switches.list_marks_read and not query.fetch_all:
                for mid in page:
                    _mark_read(tx, tx.received[mid])
            return page

    # -- one message

    def inbox_message(self, identifier: str, *, mark_read: bool) -> dict[str, Any]:
        """A received message's JSON (as it was before this call marked it read, if asked:
        ``apiFetched`` says whether it had been fetched before)."""
        with self._store.transaction() as tx:
            msg = _received(tx, identifier)
            entity = entities.inbox_message(msg)
            if mark_read:
                _mark_read(tx, msg)
            return entity

    def outbox_message(self, box: OutBox, identifier: str) -> dict[str, Any]:
        switches = self._switches.current
        with self._store.transaction() as tx:
            sub = tx.submissions.get(identifier)
            if sub is None or out_box(sub, switches.incomplete_partners) != box:
                raise not_found("Message not found")
            return entities.outbox_message(sub, box)

    def mark_unread(self, identifier: str) -> None:
        with self._store.transaction() as tx:
            msg = _received(tx, identifier)
            if msg.read:
                msg.read = False
                tx.changed()

    # -- attachments and MDNs

    def attachments(self, box: Box, identifier: str) -> list[Attached]:
        """The attachments' names and keys (404 if none); marks an inbox message read when
        ``attachments_mark_read`` is on."""
        switches = self._switches.current
        with self._store.transaction() as tx:
            if box == "inbox":
                msg = _received(tx, identifier)
                if switches.attachments_mark_read:
                    _mark_read(tx, msg)
                keys, atts = inbox_keys(msg), msg.attachments
            else:
                sub = tx.submissions.get(identifier)
                if sub is None or out_box(sub, switches.incomplete_partners) != box:
                    raise not_found("Message not found")
                keys, atts = outbox_keys(sub), sub.attachments
            if not atts:
                raise not_found("Attachment(s) not found")
            return [Attached(a.name, k) for a, k in zip(atts, keys, strict=True)]

    def mdn(self, box: Box, identifier: str) -> str:
        """The raw MDN's object key (404 if the message has none)."""
        switches = self._switches.current
        with self._store.transaction() as tx:
            if box == "inbox":
                msg = _received(tx, identifier)
                if msg.mdn is None:
                    raise not_found("MDN not found")
                return mdn_key(True, msg.seq)
            sub = tx.submissions.get(identifier)
            if sub is None or out_box(sub, switches.incomplete_partners) != box or not sub.mdn:
                raise not_found("MDN not found")
            return mdn_key(False, sub.seq)

    def object(self, key: str) -> tuple[str, bytes] | None:
        """``(content_type, bytes)`` stored under an object key, None if there is none."""
        parts = key.split("/")
        with self._store.transaction() as tx:
            if len(parts) == 5 and parts[:2] == ["AS2", "raw-mdn"] and parts[4] == "mdn.raw":
                seq = seq_of(parts[3])
                records: list[ReceivedMessage | Submission] = [
                    *tx.received.values(),
                    *tx.submissions.values(),
                ]
                mdn = next((r.mdn for r in records if r.seq == seq), None)
                return None if mdn is None else ("message/disposition-notification", mdn.raw())
            if len(parts) < 7 or parts[:2] != ["AS2", "files"]:
                return None
            box, seq, name = parts[4], seq_of(parts[5]), "/".join(parts[6:])
            found: list[StoredAttachment] = []
            if box == "inbox":
                found = next((m.attachments for m in tx.received.values() if m.seq == seq), [])
            elif box == "outbox":
                found = next((s.attachments for s in tx.submissions.values() if s.seq == seq), [])
            att = next((a for a in found if a.name == name), None)
            return None if att is None else (att.content_type, att.data)

    # -- deleting

    def delete(self, box: Literal["inbox", "outbox"], identifiers: list[str]) -> list[str]:
        """Delete what exists of ``identifiers``; the IDs deleted."""
        deleted: list[str] = []
        with self._store.transaction() as tx:
            for mid in dict.fromkeys(identifiers):
                if box == "inbox":
                    if tx.received.pop(mid, None) is not None:
                        deleted.append(mid)
                    continue
                sub = tx.submissions.get(mid)
                if sub is None or sub.hidden:
                    continue
                if sub.status == "queued":
                    tx.stop(sub)
                sub.hidden.update({"sent", "queued", "stopped"})
                deleted.append(mid)
            if deleted:
                tx.changed()
        return deleted


def _matches(q: ListQuery, mid: str, station: str, partner: str, subject: str | None) -> bool:
    if q.station or q.partner:  # primary filters: the secondary ones are ignored
        return (not q.station or station == q.station) and (not q.partner or partner == q.partner)
    if q.identifier:
        return mid.startswith(q.identifier)
    if q.subject:
        return subject is not None and subject.startswith(q.subject)
    return True


def _received(tx: Transaction, identifier: str) -> ReceivedMessage:
    msg = tx.received.get(identifier)
    if msg is None:
        raise not_found("Message not found")
    return msg


def _mark_read(tx: Transaction, msg: ReceivedMessage) -> None:
    if not msg.read:
        msg.read = True
        tx.changed()
