"""What the inbound modules share during one poll: config, ledger, the backend, clock, and the
bookkeeping of the poll (messages tried, storage errors met, messages stored).

The backend is seen only through :class:`~as2sync.backends.base.Receiver` and its
:class:`~as2sync.backends.base.Capabilities`: nothing here knows which gateway it is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from as2sync.backends.base import Capabilities, Receiver
from as2sync.config.schema import Config
from as2sync.errors import StorageError
from as2sync.folders.fsutil import storage_error
from as2sync.folders.layout import PartnerDirs, partner_dirs
from as2sync.inbound.decide import retry_delay
from as2sync.ledger import inbound as ledger_in
from as2sync.ledger.db import Ledger
from as2sync.ledger.inbound import InboundMessage

log = structlog.get_logger("as2sync.inbound")

TMP_DIR = "tmp"


def attachment_names(row: InboundMessage) -> str:
    return ", ".join(name for name, _size in row.attachments)


@dataclass
class Context:
    config: Config
    ledger: Ledger
    backend: Receiver
    clock: Callable[[], float]
    tried: set[int] = field(default_factory=set)  # ledger row ids attempted in this poll
    storage_errors: list[StorageError] = field(default_factory=list)
    stored: int = 0  # messages stored in this poll
    stored_total: int = 0  # ... since the engine was created
    last_stored_at: float | None = None

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def tmp(self) -> Path:
        """Where a backend keeps its temporary files, e.g. batch zips (under state_dir, never
        the inboxes)."""
        return self.config.state_dir / TMP_DIR

    def begin_poll(self) -> None:
        self.tried.clear()
        self.storage_errors.clear()
        self.stored = 0

    def dirs(self, row: InboundMessage) -> PartnerDirs:
        return partner_dirs(self.config, row.station, row.partner)

    def count_stored(self, n: int) -> None:
        if n:
            self.stored += n
            self.stored_total += n
            self.last_stored_at = self.clock()

    def failed(
        self, rows: Sequence[InboundMessage], reason: str, *, event: str, retry_now: bool = False
    ) -> None:
        """These messages were not stored this time: log ``event``, keep them FETCHING, and
        schedule the next attempt (at once for storage errors, else backing off)."""
        now = self.clock()
        with self.ledger.transaction() as session:
            for row in rows:
                current = ledger_in.get_message(session, row.id)
                attempts = (current.attempts if current is not None else 0) + 1
                delay = (
                    0.0 if retry_now else retry_delay(attempts, self.config.inbound.poll_seconds)
                )
                ledger_in.fetch_failed(session, row.id, reason, now=now, retry_at=now + delay)
                log.warning(
                    event,
                    station=row.station,
                    partner=row.partner,
                    message_id=row.message_id,
                    file=attachment_names(row),
                    reason=reason,
                    attempts=attempts,
                    retry_in=delay,
                )

    def storage_failed(
        self, rows: Sequence[InboundMessage], action: str, path: Path, exc: OSError
    ) -> None:
        """The local filesystem refused: the message stays unfinished and is retried next poll;
        the poll reports a StorageError at its end so the operator sees it."""
        error = storage_error(action, path, exc)
        self.storage_errors.append(error)
        self.failed(rows, str(error), event="inbound.storage_error", retry_now=True)
