"""Walk the unread list until it is drained.

Always page 0 of ``unreadOnly=true`` (oldest first): marking messages read shifts the later
pages, so page 0 holds whatever is left. Messages that cannot be finished in this poll (no
station, not served, failing verification, waiting for a retry) stay unread and would fill
page 0 forever; once a page holds nothing new, the next page is read instead. The walk ends
at the first page that is not full.

The walk is a generator: the engine records and acts on each page (marking messages read
shifts the list) before the next page is requested.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import structlog

from as2sync.backends.as2gateway.client import MAX_BATCH
from as2sync.backends.as2gateway.model import Folder, Gateway, ListQuery, MessageInfo, PartnerType

log = structlog.get_logger("as2sync.inbound")

PAGE_LENGTH = MAX_BATCH
MAX_ROUNDS = 10_000  # a safety net against a gateway that never stops returning new IDs


def unread_pages(
    gateway: Gateway, partner_type: PartnerType, stop: threading.Event, seen: set[str]
) -> Iterator[list[MessageInfo]]:
    """List unread messages of ``partner_type`` and yield each one not in ``seen`` (exact IDs,
    updated here), a page at a time, each ID once even if a page lists it twice. The next
    page is requested only when the caller asks for it, after acting on this one."""
    page = 0
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
        yield fresh
        if not full:
            break
