"""What one tracking pass over the AS2 Gateway's lists concludes for one sent message: the
pure delivery rules (the gateway's "Delivered"/"Not Delivered" strings, and a failed-list
entry confirmed over passes). Tested in ``tests/unit/test_as2gateway_delivery.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.model import MessageInfo

DELIVERED = "Delivered"
NOT_DELIVERED = "Not Delivered"
FAILED_CONFIRMATIONS = 2
"""A message in the failed list must be absent from the queue this many passes in a row
before it counts as stopped: the queued list hides entries that are being retried right now."""


class TrackKind(enum.Enum):
    UPDATE = "update"  # record statuses, keep tracking
    DELIVERED = "delivered"  # final
    FAILED = "failed"  # final: move the archived copy to failed/


@dataclass(frozen=True)
class TrackAction:
    kind: TrackKind
    delivery_status: str | None = None
    mdn_status: str | None = None
    failed_seen: int = 0
    reason: str | None = None


def failure_reason(failed: Sequence[MessageInfo]) -> str:
    """The gateway's reason for a failed message, from its failed-list entries."""
    parts = [f"the gateway could not deliver the message ({len(failed)} failed attempt(s)"]
    last = max(failed, key=lambda i: i.persisted_ms)
    if last.transport_status is not None:
        parts.append(f"; last HTTP status from the partner {last.transport_status}")
    parts.append(")")
    if last.mdn is not None and last.mdn.content:
        parts.append(f": {last.mdn.content.strip()}")
    return "".join(parts)


def track_decision(
    *,
    failed_seen: int,
    sent: MessageInfo | None,
    failed: Sequence[MessageInfo],
    queued: bool,
) -> TrackAction:
    """What one tracking pass concludes for one archived message.

    * In the sent list as Delivered: final. As Not Delivered: the partner refused it (an
      error MDN); that is a failure the user must see in failed/.
    * Not in sent but in failed, and not queued for ``FAILED_CONFIRMATIONS`` passes: the
      gateway stopped retrying; failure. Still queued: it is being retried; keep watching.
    * Nowhere yet: keep watching (the Link may take seconds to become valid, spec 4.5.1).
    """
    if sent is not None:
        status = sent.delivery_status
        if status == DELIVERED:
            return TrackAction(TrackKind.DELIVERED, status, sent.mdn_status)
        if status == NOT_DELIVERED:
            reason = "the partner did not accept the message (Not Delivered"
            if sent.mdn is not None and sent.mdn.content:
                reason += f"; MDN: {sent.mdn.content.strip()}"
            return TrackAction(TrackKind.FAILED, status, sent.mdn_status, reason=reason + ")")
        return TrackAction(TrackKind.UPDATE, status, sent.mdn_status)
    if failed:
        if queued:
            return TrackAction(TrackKind.UPDATE, "Retrying", None, failed_seen=0)
        seen = failed_seen + 1
        if seen >= FAILED_CONFIRMATIONS:
            return TrackAction(
                TrackKind.FAILED, "Failed", None, failed_seen=seen, reason=failure_reason(failed)
            )
        return TrackAction(TrackKind.UPDATE, None, None, failed_seen=seen)
    return TrackAction(TrackKind.UPDATE, None, None, failed_seen=0)
