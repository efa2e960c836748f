"""What happens when the local filesystem refuses: log it clearly, keep the file, retry later.

Permission denied on sent/, a full disk, a read-only remount: none of these may lose a file or
spin the daemon. The steps that move files (claim, archive, give-back) turn the OSError into a
:class:`StorageError` and leave the row in its state, the files where the ledger says they
are; the engine alone decides what then, here: the row is postponed by
:data:`STORAGE_RETRY_SECONDS`, and the engine's resume pass takes it up again.
"""

from __future__ import annotations

import structlog

from as2sync.errors import StorageError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import UNFINISHED_STATES
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

STORAGE_RETRY_SECONDS = 10.0


def postpone_after_storage_error(ctx: Context, sub_id: int, exc: StorageError) -> bool:
    """Log the error and look at the row ``sub_id`` again in :data:`STORAGE_RETRY_SECONDS`,
    in whatever state the failed step left it. False (nothing postponed, nothing logged) if
    there is no such row any more (a claim withdrawn with its file still in the outbox) or it
    is finished."""
    now = ctx.clock()
    with ctx.ledger.transaction() as s:
        sub = lo.find(s, sub_id)
        if sub is None or sub.state not in UNFINISHED_STATES:
            return False
        lo.postpone(s, sub.id, now, now + STORAGE_RETRY_SECONDS)
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
    return True
