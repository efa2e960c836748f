"""Walk the unread list until it is drained.

Always page 0 of ``unreadOnly=true`` (oldest first): marking messages read shifts the later
pages, so page 0 holds whatever is left. Messages that cannot be finished in this poll (no
station, not served, failing verification, waiting for a retry) stay unread and would fill
page 0 forever; once a page holds nothing new, the next page is read instead. The walk ends
at the first page that is not full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from as2sync.backends.as2gateway.model import Folder, Gateway, ListQuery, MessageInfo, PartnerType
from as2sync.inbound.context import log

PAGE_LENGTH = 100
MAX_ROUNDS = 10_000  # a safety net against a gateway that never stops returning new IDs


def drain_unread(
    gateway: Gateway,
    partner_type: PartnerType,
    handle: Callable[[Sequence[MessageInfo]], None],
    stop: threading.Event,
    seen: set[str],
) -> int:
    """List unread messages of ``partner_type`` and pass each one not in ``seen`` (exact IDs,
    updated here) to ``handle``, a page at a time, each ID once even if a page lists it twice.
    Returns how many were handed over."""
    page = 0
    handed = 0
    for _ in range(MAX_ROUNDS):
        if stop.is_set():
            break
        result = gateway.list_messages(
            Folder.RECEIVED,
            ListQuery(
                partner_type=partner_type,
                unread_only=True,
                page=page,
                page_length=PAGE_LENGTH,
                ascending=True,
            ),
        )
        fresh = list({r.message_id: r for r in result.records if r.message_id not in seen}.values())
        # Info only when there is news: an idle poll every poll_seconds would bury the rest
        # (inbound.summary says at info, once an hour, that polling goes on).
        (log.info if fresh else log.debug)(
            "inbound.polled",
            partner_type=str(partner_type),
            page=page,
            listed=len(result.records),
            new=len(fresh),
            total=result.total,
        )
        full = len(result.records) >= PAGE_LENGTH
        if not fresh:
            if not full:
                break
            page += 1
            continue
        seen.update(r.message_id for r in fresh)
        handed += len(fresh)
        handle(fresh)
        if not full:
            break
    return handed
