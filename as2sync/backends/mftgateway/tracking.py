"""Delivery of sent messages on MFT Gateway: the MFT backend's :meth:`Sender.track`.

Where a message is says what became of it (fact sheet section 3 and 4 item 6):

=====================  =========================================================================
box                    delivery
=====================  =========================================================================
``outbox`` (sent)      DELIVERED, with its ``msgStatus`` and ``mdnStatus``
``outbox/failed``      FAILED with the gateway's ``failureReason`` (safe to ``as2sync retry``)
``outbox/incomplete``  UNCERTAIN: sent, no MDN before the timeout; the partner may have
                       processed it, so it is never resent automatically
none of these          PENDING (queued, or not visible yet: the submit's Link target may 404
                       for a few seconds)
=====================  =========================================================================

Per partnership and pass, one list request per box (newest first, the partnership's primary
filters, a full page of IDs) says where every recent message is; only an ID a full page may
have pushed out is looked up by its own GET in each box. A final message costs one more GET
for its statuses. A 404 from the incomplete list is an empty list (the client warns once).
Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from as2sync.backends.base import Delivery, SentRef, Tracked
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.backends.mftgateway.client import MAX_PAGE, Box, MftClient
from as2sync.backends.mftgateway.parsing import MessageInfo
from as2sync.errors import NotFound

INCOMPLETE_REASON = (
    "sent, but no MDN came back before the partner's timeout (MFT Gateway: incomplete): it may "
    "have been processed by the partner; confirm before retrying"
)
FINAL_BOXES = (Box.SENT, Box.FAILED, Box.INCOMPLETE)


def decide(box: Box | None, info: MessageInfo | None) -> Tracked:
    """What being in ``box`` (None: in none of the final boxes) means; ``info`` is the
    message as that box serves it, when read."""
    status = info.msg_status if info else None
    mdn = info.mdn_status if info else None
    if box is Box.SENT:
        return Tracked(Delivery.DELIVERED, delivery_status=status or "Sent", mdn_status=mdn)
    if box is Box.FAILED:
        reason = (info.failure_reason if info else None) or "the gateway gave up delivering it"
        return Tracked(Delivery.FAILED, delivery_status=status or "Failed", reason=reason)
    if box is Box.INCOMPLETE:
        return Tracked(
            Delivery.UNCERTAIN,
            delivery_status=status or "Incomplete",
            mdn_status=mdn,
            reason=INCOMPLETE_REASON,
        )
    return Tracked(Delivery.PENDING)


def track(
    client: MftClient, station: str, partner: str, sent: Sequence[SentRef]
) -> dict[int, Tracked]:
    """See :meth:`as2sync.backends.base.Sender.track`. GatewayError when a list could not be
    read (nothing is learned then)."""
    if not sent:
        return {}
    with priority(Priority.LOW):
        where: dict[str, Box] = {}
        full: set[Box] = set()
        for box in FINAL_BOXES:
            ids = client.list_page(
                box, page_length=MAX_PAGE, ascending=False, station=station, partner=partner
            )
            if len(ids) == MAX_PAGE:
                full.add(box)
            for identifier in ids:
                where.setdefault(identifier, box)
        result: dict[int, Tracked] = {}
        for ref in sent:
            found = where.get(ref.remote_id) or _look_up(client, ref.remote_id, full)
            info = _read(client, found, ref.remote_id) if found is not None else None
            result[ref.id] = decide(found, info)
        return result


def _look_up(client: MftClient, identifier: str, full: set[Box]) -> Box | None:
    """The box a full list page may have hidden ``identifier`` in (None: in none)."""
    for box in FINAL_BOXES:
        if box in full and _read(client, box, identifier) is not None:
            return box
    return None


def _read(client: MftClient, box: Box, identifier: str) -> MessageInfo | None:
    try:
        return client.outbox_message(box, identifier)
    except NotFound:
        return None
