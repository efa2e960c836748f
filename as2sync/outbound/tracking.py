"""Delivery tracking: follow archived messages to their final state, in bulk.

Where the backend tracks delivery (:attr:`~as2sync.backends.base.Capabilities.tracks_delivery`),
each pass hands the tracked rows of one partnership (and one set of claim facts) to
:meth:`as2sync.backends.base.Sender.track` at once, so a backend can answer for many
messages with few requests (v1: one to three list requests per partnership and pass).

Outcomes: DELIVERED -> DELIVERED; FAILED (the gateway gave up) or UNCERTAIN (it may have
reached the partner, final status unknown) -> its archived copy moves from sent/ to failed/
with the reason in a ``.error.json`` sidecar (moved by the engine's resume pass: a pass only
records decisions), and the row is DELIVERY_FAILED, which ``as2sync status`` lists; PENDING
-> the statuses and what the backend learned are recorded when they changed. Rows archived
more than ``track_max_age_seconds`` ago are no longer followed (they stay ARCHIVED: sent,
final status unknown).
"""

from __future__ import annotations

import structlog

from as2sync.backends.base import Delivery, SentRef, Tracked
from as2sync.errors import GatewayError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission
from as2sync.outbound import decide
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

FAILED_REASON = "the gateway could not deliver the message"
DELIVERED = "delivered"
"""The delivery status recorded for a DELIVERED answer that names none."""


def track(ctx: Context) -> int:
    """One tracking pass over every tracked message; returns how many reached a final state."""
    if not ctx.capabilities.tracks_delivery:
        return 0
    now = ctx.clock()
    with ctx.ledger.read() as s:
        subs = lo.tracked(s, archived_after=now - ctx.outbound.track_max_age_seconds)
    groups: dict[tuple[str, str, decide.FactsKey], list[Submission]] = {}
    for sub in subs:
        if sub.message_id:
            groups.setdefault((sub.station, sub.partner, ctx.facts(sub)), []).append(sub)
    finished = 0
    for (station, partner, _facts), group in groups.items():
        try:
            learned = ctx.backend.track(station, partner, [_ref(sub) for sub in group])
        except GatewayError as exc:
            log.warning("outbound.track_failed", station=station, partner=partner, error=str(exc))
            continue
        for sub in group:
            tracked = learned.get(sub.id)
            if tracked is not None:
                finished += _apply(ctx, sub, tracked)
    return finished


def _ref(sub: Submission) -> SentRef:
    assert sub.message_id is not None
    return SentRef(
        id=sub.id,
        remote_id=sub.message_id,
        started_at=sub.submit_started_at or sub.created_at,
        delivery_status=sub.delivery_status,
        mdn_status=sub.mdn_status,
        remote=sub.remote,
    )


def _apply(ctx: Context, sub: Submission, tracked: Tracked) -> int:
    now = ctx.clock()
    fields = {
        "station": sub.station,
        "partner": sub.partner,
        "file": sub.names,
        "message_id": sub.message_id,
    }
    if tracked.delivery == Delivery.DELIVERED:
        with ctx.ledger.transaction() as s:
            lo.mark_delivered(
                s,
                sub.id,
                now,
                delivery_status=tracked.delivery_status or DELIVERED,
                mdn_status=tracked.mdn_status,
                remote=tracked.remote,
            )
        log.info("outbound.delivered", mdn_status=tracked.mdn_status, **fields)
        return 1
    if tracked.delivery in (Delivery.FAILED, Delivery.UNCERTAIN):
        reason = tracked.reason or FAILED_REASON
        with ctx.ledger.transaction() as s:
            lo.mark_delivery_failing(
                s,
                sub.id,
                now,
                reason,
                delivery_status=tracked.delivery_status,
                mdn_status=tracked.mdn_status,
                remote=tracked.remote,
            )
        log.warning("outbound.delivery_failed", reason=reason, **fields)
        return 1  # DELIVERY_FAILING: the engine's resume pass moves the files to failed/
    learned = {k: v for k, v in tracked.remote.items() if sub.remote.get(k) != v}
    changed = (
        (tracked.delivery_status and tracked.delivery_status != sub.delivery_status)
        or (tracked.mdn_status and tracked.mdn_status != sub.mdn_status)
        or learned
    )
    if changed:
        with ctx.ledger.transaction() as s:
            lo.record_delivery(
                s,
                sub.id,
                now,
                delivery_status=tracked.delivery_status,
                mdn_status=tracked.mdn_status,
                remote=learned,
            )
    return 0
