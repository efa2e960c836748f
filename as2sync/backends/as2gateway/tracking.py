"""Delivery of sent messages on the AS2 Gateway v1, in bulk: v1's :meth:`Sender.track`.

Per partnership and partner type, one call lists the sent messages (100 per request, newest
first) until every tracked ID was seen or the list is older than the oldest tracked
submission; only for IDs not found there it lists the failed messages, and only if some were
found failed it lists the queue to tell "being retried" from "stopped". So ten messages in
flight to one partner cost one to three requests per pass, never one request per message.

Outcomes (:func:`as2sync.backends.as2gateway.delivery.track_decision`): Delivered ->
DELIVERED; a failed or stopped message (or Not Delivered) -> FAILED with the gateway's
reason. A message in the failed list and not queued must be seen so in
:data:`~as2sync.backends.as2gateway.delivery.FAILED_CONFIRMATIONS` passes in a row: the
count is the row's remote fact ``gateway_failed_seen``.

Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from as2sync.backends.as2gateway import delivery
from as2sync.backends.as2gateway.locating import list_since, partner_type
from as2sync.backends.as2gateway.matching import CLOCK_SKEW_SECONDS, Listed
from as2sync.backends.as2gateway.model import Folder, Gateway, MessageInfo
from as2sync.backends.base import Delivery, SentRef, Tracked, bare_message_id
from as2sync.backends.http.ratelimit import Priority, priority

FAILED_SEEN = "gateway_failed_seen"
"""The remote fact: tracking passes in a row that saw the message failed and not queued."""


def failed_seen(ref: SentRef) -> int:
    return int(ref.remote.get(FAILED_SEEN) or 0)


def _by_id(records: Sequence[Listed]) -> dict[str, list[MessageInfo]]:
    found: dict[str, list[MessageInfo]] = {}
    for item in records:
        found.setdefault(bare_message_id(item.info.message_id), []).append(item.info)
    return found


def track(
    gateway: Gateway, station: str, partner: str, sent: Sequence[SentRef]
) -> dict[int, Tracked]:
    """See :meth:`as2sync.backends.base.Sender.track`; ``sent`` share one partner type.
    GatewayError when a list could not be read (nothing is learned)."""
    if not sent:
        return {}
    with priority(Priority.LOW):
        return _track(gateway, station, partner, sent)


def _track(
    gateway: Gateway, station: str, partner: str, group: Sequence[SentRef]
) -> dict[int, Tracked]:
    ptype = partner_type(group[0].remote)
    ids = {bare_message_id(r.remote_id): r for r in group}
    since_ms = (min(r.started_at for r in group) - CLOCK_SKEW_SECONDS) * 1000
    sent = _by_id(
        list_since(gateway, Folder.SENT, station, partner, ptype, since_ms, stop_when=ids)
    )
    missing = [mid for mid in ids if mid not in sent]
    failed: dict[str, list[MessageInfo]] = {}
    queued: set[str] = set()
    if missing:
        failed = _by_id(
            list_since(gateway, Folder.FAILED, station, partner, ptype, since_ms, stop_when=missing)
        )
        if any(mid in failed for mid in missing):
            queued = set(
                _by_id(list_since(gateway, Folder.QUEUED, station, partner, ptype, since_ms))
            )
    learned: dict[int, Tracked] = {}
    for mid, ref in ids.items():
        sent_info = sent.get(mid, [None])[0]
        action = delivery.track_decision(
            failed_seen=failed_seen(ref),
            sent=sent_info,
            failed=failed.get(mid, []),
            queued=mid in queued,
        )
        learned[ref.id] = _tracked(action, ref)
    return learned


def _tracked(action: delivery.TrackAction, ref: SentRef) -> Tracked:
    if action.kind == delivery.TrackKind.DELIVERED:
        return Tracked(
            Delivery.DELIVERED,
            delivery_status=action.delivery_status or delivery.DELIVERED,
            mdn_status=action.mdn_status,
        )
    if action.kind == delivery.TrackKind.FAILED:
        return Tracked(
            Delivery.FAILED,
            delivery_status=action.delivery_status,
            mdn_status=action.mdn_status,
            reason=action.reason,
        )
    # The count is kept only while it changes (a row without it counts 0).
    facts = {FAILED_SEEN: action.failed_seen} if action.failed_seen != failed_seen(ref) else {}
    return Tracked(
        Delivery.PENDING,
        delivery_status=action.delivery_status,
        mdn_status=action.mdn_status,
        remote=facts,
    )
