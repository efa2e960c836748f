"""Delivery tracking: follow archived messages to their final state, in bulk.

Per partnership with tracked messages, one pass lists the sent messages (100 per request,
newest first) until every tracked ID was seen or the list is older than the oldest tracked
submission; only for IDs not found there it lists the failed messages, and only if some were
found failed it lists the queue to tell "being retried" from "stopped". So ten messages in
flight to one partner cost one to three requests per pass, never one request per message.

Outcomes (:func:`as2sync.outbound.decide.track_decision`): Delivered -> DELIVERED; a failed or
stopped message (or Not Delivered) -> its archived copy moves from sent/ to failed/ with the
gateway's reason in a ``.error.json`` sidecar (moved by the engine's resume pass: a pass only
records decisions), and the row is DELIVERY_FAILED, which ``as2sync status`` lists. Rows
archived more than ``track_max_age_seconds`` ago are no longer followed (they stay ARCHIVED:
sent, final status unknown).

Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from as2sync.backends.as2gateway.model import Folder, MessageInfo, PartnerType, normalise_message_id
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.errors import GatewayError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission
from as2sync.outbound import decide
from as2sync.outbound.context import Context
from as2sync.outbound.reconcile import list_since

log = structlog.get_logger(__name__)


def track(ctx: Context) -> int:
    """One tracking pass over every tracked message; returns how many reached a final state."""
    now = ctx.clock()
    with ctx.ledger.read() as s:
        subs = lo.tracked(s, archived_after=now - ctx.outbound.track_max_age_seconds)
    groups: dict[tuple[str, str, str], list[Submission]] = {}
    for sub in subs:
        groups.setdefault((sub.station, sub.partner, sub.partner_type), []).append(sub)
    finished = 0
    for (station, partner, partner_type), group in groups.items():
        try:
            with priority(Priority.LOW):
                finished += _track_pair(ctx, station, partner, PartnerType(partner_type), group)
        except GatewayError as exc:
            log.warning("outbound.track_failed", station=station, partner=partner, error=str(exc))
    return finished


def _by_id(records: Sequence[decide.Listed]) -> dict[str, list[MessageInfo]]:
    found: dict[str, list[MessageInfo]] = {}
    for item in records:
        found.setdefault(normalise_message_id(item.info.message_id), []).append(item.info)
    return found


def _track_pair(
    ctx: Context, station: str, partner: str, partner_type: PartnerType, group: list[Submission]
) -> int:
    ids = {normalise_message_id(s.message_id or ""): s for s in group if s.message_id}
    started = min(s.submit_started_at or s.created_at for s in group)
    since_ms = (started - decide.CLOCK_SKEW_SECONDS) * 1000
    sent = _by_id(
        list_since(
            ctx.gateway, Folder.SENT, station, partner, partner_type, since_ms, stop_when=ids
        )
    )
    missing = [mid for mid in ids if mid not in sent]
    failed: dict[str, list[MessageInfo]] = {}
    queued: set[str] = set()
    if missing:
        failed = _by_id(
            list_since(
                ctx.gateway,
                Folder.FAILED,
                station,
                partner,
                partner_type,
                since_ms,
                stop_when=missing,
            )
        )
        if any(mid in failed for mid in missing):
            queued = set(
                _by_id(
                    list_since(ctx.gateway, Folder.QUEUED, station, partner, partner_type, since_ms)
                )
            )
    finished = 0
    for mid, sub in ids.items():
        sent_info = sent.get(mid, [None])[0]
        action = decide.track_decision(
            failed_seen=sub.gateway_failed_seen,
            sent=sent_info,
            failed=failed.get(mid, []),
            queued=mid in queued,
        )
        finished += _apply(ctx, sub, action)
    return finished


def _apply(ctx: Context, sub: Submission, action: decide.TrackAction) -> int:
    now = ctx.clock()
    fields = {
        "station": sub.station,
        "partner": sub.partner,
        "file": sub.names,
        "message_id": sub.message_id,
    }
    if action.kind == decide.TrackKind.DELIVERED:
        with ctx.ledger.transaction() as s:
            lo.mark_delivered(
                s,
                sub.id,
                now,
                delivery_status=action.delivery_status or decide.DELIVERED,
                mdn_status=action.mdn_status,
            )
        log.info("outbound.delivered", mdn_status=action.mdn_status, **fields)
        return 1
    if action.kind == decide.TrackKind.FAILED:
        reason = action.reason or "the gateway could not deliver the message"
        with ctx.ledger.transaction() as s:
            lo.mark_delivery_failing(
                s,
                sub.id,
                now,
                reason,
                delivery_status=action.delivery_status,
                mdn_status=action.mdn_status,
            )
        log.warning("outbound.delivery_failed", reason=reason, **fields)
        return 1  # DELIVERY_FAILING: the engine's resume pass moves the files to failed/
    changed = (
        (action.delivery_status and action.delivery_status != sub.delivery_status)
        or (action.mdn_status and action.mdn_status != sub.mdn_status)
        or action.failed_seen != sub.gateway_failed_seen
    )
    if changed:
        with ctx.ledger.transaction() as s:
            lo.record_delivery(
                s,
                sub.id,
                now,
                delivery_status=action.delivery_status,
                mdn_status=action.mdn_status,
                failed_seen=action.failed_seen,
            )
    return 0
