"""Finding sends whose outcome is unknown on MFT Gateway: the MFT backend's
:meth:`Sender.locate` (the rules are :mod:`.matching`'s).

For one partnership: each outbox box (queued, sent, failed, incomplete) is listed newest first
with the station and partner filters, and each ID no ledger row holds is read (its timestamp
and attachment names) until the box reaches messages older than the earliest doubt (minus the
clock skew), at most :data:`MAX_PAGES` pages per box. The bytes of a message are downloaded
(hashed, kept nowhere) only when its attachment names are those of a row in doubt. Requests
run at LOW priority; a set ``stop`` ends the call before its next request, deciding nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from as2sync.backends.base import Content, Doubt, Located
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.backends.mftgateway.client import MAX_PAGE, Box, MftClient
from as2sync.backends.mftgateway.matching import (
    CLOCK_SKEW_SECONDS,
    Seen,
    content_key,
    names_key,
    plan,
)
from as2sync.errors import GatewayError, NotFound

MAX_PAGES = 10
BOXES = (Box.QUEUED, Box.SENT, Box.FAILED, Box.INCOMPLETE)


def locate(
    client: MftClient,
    station: str,
    partner: str,
    rows: Sequence[Doubt],
    *,
    attributed: Iterable[str],
    now: float,
    grace: float,
    stop: threading.Event | None = None,
) -> dict[int, Located]:
    """See :meth:`as2sync.backends.base.Sender.locate`."""
    if not any(r.settle for r in rows):
        return {}
    since_ms = (min(r.started_at for r in rows) - CLOCK_SKEW_SECONDS) * 1000
    wanted_names = {names_key([c.name for c in r.files]) for r in rows}
    taken = set(attributed)
    seen: dict[str, Seen] = {}
    complete = True
    with priority(Priority.LOW):
        for box in BOXES:
            reached = False
            for page in range(MAX_PAGES):
                if stop is not None and stop.is_set():
                    return {}
                ids = client.list_page(
                    box, page=page, ascending=False, station=station, partner=partner
                )
                for identifier in ids:
                    if identifier in taken or identifier in seen:
                        continue
                    if stop is not None and stop.is_set():
                        return {}
                    item = _read(client, box, identifier, wanted_names)
                    if item is None:
                        continue
                    if item.persisted_ms is not None and item.persisted_ms < since_ms:
                        reached = True  # newest first: the rest is older still
                        break
                    if item.names in wanted_names:
                        seen[identifier] = item
                if reached or len(ids) < MAX_PAGE:
                    break
            else:
                complete = False  # MAX_PAGES full pages, not yet back to the earliest doubt
    return plan(rows, list(seen.values()), now=now, grace=grace, complete=complete)


def _read(
    client: MftClient, box: Box, identifier: str, wanted_names: set[tuple[str, ...]]
) -> Seen | None:
    """The message as ``box`` serves it, its bytes read if its names fit a doubt (None: it
    left the box since it was listed)."""
    try:
        info = client.outbox_message(box, identifier)
    except NotFound:
        return None
    names = names_key([PurePosixPath(p).name for p in info.attachment_paths])
    files = None
    gone = False
    if names in wanted_names:
        try:
            files = content_key(
                [
                    Content(name, digest.size, digest.sha256)
                    for name, digest in client.attachment_digests(box, identifier)
                ]
            )
        except NotFound:
            gone = True  # "Attachment(s) not found": deleted after the MDN, for good
        except GatewayError:
            files = None  # not now: the next pass reads it again
    return Seen(identifier, box.value, info.timestamp_ms, names, files, gone)
