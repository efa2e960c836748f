"""Have the backend download FETCHING messages into staging slots, and store what it hands back.

The caller has committed every message's FETCHING row before calling :func:`fetch` (crash
after the request: the server may have marked it read, the row still says FETCHING, and the
message is fetched again by ID).

This is the engine's side of :meth:`~as2sync.backends.base.Receiver.download`: the backend
decides how to download (in batches, one by one, ...) and fills :class:`Stager` slots; the
engine (:class:`FetchSink`) seals and stores what it hands back as complete
(:mod:`.store`), and records every other outcome on the message's FETCHING row: not served
now, refused (does not match what was listed), or a local storage error. A slot the backend
left unfinished (``stop``, an exception) is discarded; its message stays FETCHING.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from as2sync.backends.base import Staged, Wanted
from as2sync.errors import StorageError
from as2sync.folders.layout import PartnerDirs
from as2sync.inbound import store
from as2sync.inbound.context import Context
from as2sync.inbound.layouts import wanted_names
from as2sync.inbound.writer import StagedMessage, Stager
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.inbound import InboundMessage


def fetch(ctx: Context, rows: Sequence[InboundMessage], stop: threading.Event) -> None:
    """Download and store ``rows`` (all FETCHING). Checks ``stop`` between requests; what is
    left is still FETCHING and is picked up by the next poll. Raises GatewayError when the
    server fails (the rows stay FETCHING)."""
    if not rows:
        return
    ctx.tried.update(row.id for row in rows)
    with ctx.ledger.read() as session:
        done = ledger_in.data_indices(session, [row.id for row in rows])
    wanted = [
        Wanted(
            key=row.id,
            remote_id=row.message_id,
            station=row.station,
            partner=row.partner,
            persisted_ms=row.persisted_ms,
            attachments=row.attachment_list(),
            done=frozenset(done[row.id]),
            remote=row.remote,
        )
        for row in rows
    ]
    sink = FetchSink(ctx, rows)
    try:
        ctx.backend.download(wanted, sink, stop)
    finally:
        sink.discard_unfinished()


class FetchSink:
    """The engine's :class:`~as2sync.backends.base.Sink` for one :func:`fetch`.

    The slots of one fetch share their partnerships' folders: each partnership's work folder
    and inbox are made (and its :class:`PartnerDirs` built) once, not once per message.
    """

    def __init__(self, ctx: Context, rows: Sequence[InboundMessage]) -> None:
        self._ctx = ctx
        self._rows = {row.id: row for row in rows}
        self._slots: dict[int, Stager] = {}
        self._dirs: dict[tuple[str, str], PartnerDirs] = {}
        self._made: set[Path] = set()

    @property
    def tmp(self) -> Path:
        return self._ctx.tmp

    def _dirs_of(self, row: InboundMessage) -> PartnerDirs:
        pair = (row.station, row.partner)
        dirs = self._dirs.get(pair)
        if dirs is None:
            dirs = self._dirs[pair] = self._ctx.dirs(row)
        return dirs

    def stage(self, key: int) -> Stager:
        row = self._rows[key]
        cfg = self._ctx.config.inbound
        names = wanted_names(
            cfg.layout,
            message_id=row.message_id,
            attachment_names=[name for name, _size in row.attachments],
            persisted_ms=row.persisted_ms,
            max_name_length=cfg.max_name_length,
            write_metadata=cfg.write_metadata,
        )
        earlier = self._slots.pop(key, None)
        if earlier is not None:  # a backend that starts a message over: nothing of it is kept
            earlier.discard()
        slot = Stager(
            row,
            self._dirs_of(row),
            names,
            layout=cfg.layout,
            write_metadata=cfg.write_metadata,
            made=self._made,
        )
        self._slots[key] = slot
        return slot

    def store(self, staged: Sequence[Staged], *, acknowledged: Sequence[bool]) -> None:
        """Seal each slot (free final names, sidecars) and store them together."""
        reserved: set[Path] = set()
        sealed: list[StagedMessage] = []
        for slot, acked in zip(staged, acknowledged, strict=True):
            stager = self._slots.pop(slot.key)
            try:
                message = stager.seal(reserved)
            except OSError as exc:
                stager.discard()
                self._ctx.storage_failed([stager.row], "write into", stager.dirs.incoming, exc)
                continue
            message.read_by_gateway = acked
            sealed.append(message)
        store.store(self._ctx, sealed)

    def _finish(self, keys: Sequence[int]) -> list[InboundMessage]:
        """The messages ``keys``, their slots (if any) discarded."""
        for key in keys:
            slot = self._slots.pop(key, None)
            if slot is not None:
                slot.discard()
        return [self._rows[key] for key in keys]

    def not_served(self, keys: Sequence[int], reason: str) -> None:
        self._ctx.failed(self._finish(keys), reason, event="inbound.error_entry")

    def refused(self, keys: Sequence[int], reason: str) -> None:
        self._ctx.failed(self._finish(keys), reason, event="inbound.verify_failed")

    def storage_failed(self, keys: Sequence[int], exc: OSError | StorageError) -> None:
        rows = self._finish(keys)
        if isinstance(exc, StorageError):  # the backend's client already said what failed
            self._ctx.storage_errors.append(exc)
            self._ctx.failed(rows, str(exc), event="inbound.storage_error", retry_now=True)
            return
        for row in rows:
            self._ctx.storage_failed([row], "write into", self._dirs_of(row).incoming, exc)

    def discard_unfinished(self) -> None:
        """Remove the slots no outcome was given for (their messages stay FETCHING)."""
        self._finish(list(self._slots))
