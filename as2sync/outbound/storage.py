"""What happens when the local filesystem refuses: log it clearly, keep the file, retry later.

Permission denied on sent/, a full disk, a read-only remount: none of these may lose a file or
spin the daemon. The row keeps its state (the file stays where the ledger says it is) and is
postponed by :data:`STORAGE_RETRY_SECONDS`; the engine's resume pass takes it up again.
"""

from __future__ import annotations

import structlog

from as2sync.errors import StorageError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

STORAGE_RETRY_SECONDS = 10.0


def postpone_after_storage_error(ctx: Context, sub: Submission, exc: StorageError) -> None:
    now = ctx.clock()
    log.error(
        "outbound.storage_error",
        station=sub.station,
        partner=sub.partner,
        file=sub.names,
        message_id=sub.message_id,
        state=sub.state.value,
        error=str(exc),
        retry_in=STORAGE_RETRY_SECONDS,
    )
    with ctx.ledger.transaction() as s:
        lo.postpone(s, sub.id, now, now + STORAGE_RETRY_SECONDS)
