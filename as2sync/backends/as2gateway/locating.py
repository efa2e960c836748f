"""Finding a send of unknown outcome on the AS2 Gateway v1: v1's :meth:`Sender.locate`.

A submission is in doubt when the POST may have reached the gateway but its message ID is
unknown: the connection dropped after sending, a 5xx came back (it may have been a proxy
after the gateway acted), or the process died between ``begin_submit`` and
``mark_submitted``. Resending blindly could deliver an invoice twice; never resending could
lose it; taking another file's message for this one would do both.

So the engine hands over all rows of unknown outcome of one partnership and partner type
together, and this module:

1. lists the queued entries (the API's single ``query`` filter, given the partner), then the
   sent and failed lists filtered by station and partner, newest first, back to the earliest
   submit start minus a clock-skew allowance;
2. drops every message whose ID a ledger row already holds (it is that row's);
3. downloads the attachments of each *sent* message whose names and sizes fit a row, hashing
   them as they stream in (nothing is stored), at most once per message and call: a download
   costs rate-limit budget, so nothing else is downloaded;
4. decides with :func:`as2sync.backends.as2gateway.matching.reconcile_plan`: a message is a
   row's when its bytes are the row's claimed bytes (SHA-256 and size), or, where the API
   cannot show the bytes (queued and failed messages), when no other row with other bytes
   could own it.

Found -> FOUND with its ID (``where``: the list; from the failed list, tracking takes it from
there). In no list once the grace has passed since the submit began -> ABSENT (the engine
submits it again). The grace exists because the spec says the queued list omits messages
being processed at that moment, and a message whose send fails leaves the sent list; a
message can be invisible for as long as the partner's ``sendTimeout``. So the grace is that
sendTimeout plus half of it again, at least ``reconcile_grace_seconds``
(:func:`~as2sync.backends.as2gateway.partners.resend_grace`; the partners are asked only
once a row has outlived ``reconcile_grace_seconds``), and every WAIT says when it ends
(``grace_ends``) so the engine looks once more exactly then. A message that may be this
row's or another's and can never be told apart (only in the failed list) -> AMBIGUOUS.

Rows still SUBMITTING (a send in flight, here or in ``as2sync send``) are never settled, but
a message one of them could own is never given to another row.

Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import structlog

from as2sync.backends.as2gateway import matching
from as2sync.backends.as2gateway.model import (
    Folder,
    Gateway,
    ListQuery,
    PartnerType,
)
from as2sync.backends.as2gateway.partners import SendTimeouts, resend_grace
from as2sync.backends.base import Doubt, Found, Located, Remote, bare_message_id
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.errors import GatewayError

log = structlog.get_logger(__name__)

PAGE_LENGTH = 100
MAX_PAGES = 10
"""Pages per list and pass: 1,000 messages back is far beyond any sensible in-doubt window."""

PARTNER_TYPE = "partner_type"
"""The remote fact a claim records: the partnership's partner type (its lists are per type)."""


def partner_type(remote: Remote) -> PartnerType:
    """The partner type a row was claimed with (production where the fact is missing)."""
    return PartnerType(remote.get(PARTNER_TYPE) or PartnerType.PRODUCTION.value)


def list_since(
    gateway: Gateway,
    folder: Folder,
    station: str,
    partner: str,
    partner_type: PartnerType,
    since_ms: float,
    *,
    stop_when: Iterable[str] = (),
) -> list[matching.Listed]:
    """Records of ``folder`` for one partnership, newest first, back to ``since_ms``.

    Stops early once every ID in ``stop_when`` (normalised) has been seen.
    """
    wanted = {bare_message_id(m) for m in stop_when}
    listed: list[matching.Listed] = []
    for page in range(MAX_PAGES):
        result = gateway.list_messages(
            folder,
            ListQuery(
                station=station,
                partner=partner,
                partner_type=partner_type,
                page=page,
                page_length=PAGE_LENGTH,
            ),
        )
        listed.extend(matching.Listed(folder, info) for info in result.records)
        if wanted:
            wanted -= {bare_message_id(i.message_id) for i in result.records}
            if not wanted:
                break
        if (page + 1) * PAGE_LENGTH >= result.total or not result.records:
            break
        if min(i.persisted_ms for i in result.records) < since_ms:
            break
    return listed


def _doubt(row: Doubt) -> matching.Doubt:
    return matching.Doubt(
        id=row.id,
        started_at=row.started_at,
        files=tuple(matching.Content(f.name, f.size, f.sha256) for f in row.files),
        settle=row.settle,
    )


class Locator:
    """Locates sends in doubt through one client; partners' sendTimeouts are kept between
    calls (:class:`SendTimeouts`)."""

    def __init__(self, gateway: Gateway, clock: Callable[[], float]) -> None:
        self._gateway = gateway
        self._clock = clock
        self.send_timeouts = SendTimeouts()

    def locate(
        self,
        station: str,
        partner: str,
        rows: Sequence[Doubt],
        *,
        attributed: Iterable[str],
        now: float,
        grace: float,
        stop: threading.Event | None = None,
    ) -> dict[int, Located]:
        """See :meth:`as2sync.backends.base.Sender.locate`; ``rows`` share one partner type.
        GatewayError when a list could not be read (no row is decided)."""
        doubts = [_doubt(r) for r in rows]
        if not any(d.settle for d in doubts):
            return {}
        ptype = partner_type(rows[0].remote)
        since = min(d.started_at for d in doubts) - matching.CLOCK_SKEW_SECONDS
        with priority(Priority.LOW):
            listed: list[matching.Listed] = []
            for folder in (Folder.QUEUED, Folder.SENT, Folder.FAILED):
                if stop is not None and stop.is_set():
                    return {}
                listed += list_since(self._gateway, folder, station, partner, ptype, since * 1000)
        found = matching.candidates(
            station=station, partner=partner, listed=listed, attributed=attributed, since=since
        )
        contents: dict[str, matching.ContentKey | None] = {}
        for cand in matching.to_verify(doubts, found):
            if stop is not None and stop.is_set():
                return {}
            if cand.info.message_id not in contents:
                contents[cand.info.message_id] = self._download(cand, station, partner)
        # The downloads took time: decide at the time of deciding.
        now = max(now, self._clock())
        if any(now - d.started_at >= grace for d in doubts if d.settle):
            # Only now can the grace have run out for some row: ask how slow this partner is.
            grace = resend_grace(grace, self.send_timeouts.of(self._gateway, partner, now))
        plan = matching.reconcile_plan(
            rows=doubts, found=found, contents=contents, now=now, grace=grace
        )
        return {d.id: _located(plan[d.id], d.started_at + grace) for d in doubts if d.settle}

    def _download(
        self, cand: matching.Candidate, station: str, partner: str
    ) -> matching.ContentKey | None:
        """The names, sizes and SHA-256 of a sent message's attachments, or None if any
        download failed (the message then cannot be proven in this call)."""
        files: list[matching.Content] = []
        try:
            with priority(Priority.LOW):
                for index, listed in enumerate(cand.info.attachments):
                    digest = self._gateway.sent_attachment_digest(cand.info.message_id, index)
                    files.append(
                        matching.Content(digest.name or listed.name, digest.size, digest.sha256)
                    )
        except GatewayError as exc:
            log.warning(
                "outbound.reconcile_download_failed",
                station=station,
                partner=partner,
                message_id=cand.info.message_id,
                error=str(exc),
            )
            return None
        return matching.content_key(files)


def _located(decision: matching.ReconcileDecision, grace_ends: float) -> Located:
    match decision.kind:
        case matching.ReconcileKind.FOUND:
            return Located(
                Found.FOUND,
                remote_id=decision.message_id,
                why=decision.why,
                where=str(decision.folder),
            )
        case matching.ReconcileKind.RESUBMIT:
            return Located(Found.ABSENT, why=decision.why)
        case matching.ReconcileKind.AMBIGUOUS:
            return Located(Found.AMBIGUOUS, why=decision.why)
        case _:
            return Located(Found.WAIT, why=decision.why, grace_ends=grace_ends)
