"""Reconcile in-doubt submissions with what the gateway actually has.

A submission is in doubt when the POST may have reached the gateway but we do not know its
message ID: the connection dropped after sending, a 5xx came back (it may have been a proxy
after the gateway acted), or the process died between ``begin_submit`` and ``mark_submitted``.
Resending blindly could deliver an invoice twice; never resending could lose it; taking
another file's message for this one would do both.

So we look, one partnership at a time, for all its rows of unknown outcome together:

1. list the queued entries (the API's single ``query`` filter, given the partner), then the
   sent and failed lists filtered by station and partner, newest first, back to the earliest
   ``submit_started_at`` minus a clock-skew allowance;
2. drop every message whose ID a ledger row already holds (it is that row's);
3. download the attachments of each *sent* message whose names and sizes fit a row, hashing
   them as they stream in (nothing is stored), at most once per message and pass: a download
   costs rate-limit budget, so nothing else is downloaded;
4. decide with :func:`as2sync.outbound.decide.reconcile_plan`: a message is a row's when its
   bytes are the row's claimed bytes (SHA-256 and size), or, where the API cannot show the
   bytes (queued and failed messages), when no other row with other bytes could own it;
5. act on each decision:

* found -> the ID is recorded (SUBMITTED) and the engine's resume pass archives the files as
  usual; if it was found in the failed list, delivery tracking takes it from there;
* not found anywhere once the grace period has passed since the submit began -> back to
  CLAIMED and submitted again. The grace period exists because the spec says the queued list
  omits messages being processed at that moment, and a message whose send fails leaves the
  sent list; a message can be invisible for as long as the partner's ``sendTimeout``. So the
  grace is that sendTimeout plus half of it again, at least ``reconcile_grace_seconds``
  (:func:`as2sync.outbound.decide.resend_grace`; :mod:`as2sync.outbound.partners` asks the
  gateway, only once a row has outlived ``reconcile_grace_seconds``);
* a message that may be this row's or another's, and can never be told apart (only in the
  failed list) -> REJECTING with a reason saying so (the resume pass moves the files to
  failed/), for a person to decide;
* otherwise -> look again later.

When to look is :func:`as2sync.outbound.decide.first_look` and ``next_look``: first about 5 s
after the submit began (the spec lists a message 5 to 10 s after its send, so one that did
arrive is settled in seconds), then after as long again as it has been in doubt (10, 20,
40 s, at most a minute), and once more exactly when the grace runs out.

Rows still SUBMITTING (a send in flight, here or in ``as2sync send``) are never settled here,
but a message one of them could own is never given to another row.

With ``outbound.in_doubt: hold`` nothing is looked up: the files go to failed/ with a reason
saying they may have been sent, for a person to decide.

Nothing here moves a file: a pass only records decisions in the ledger, and the engine's
resume pass makes the moves (and alone decides what a refused filesystem means).

Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import structlog

from as2sync.backends.as2gateway.model import (
    Folder,
    Gateway,
    ListQuery,
    PartnerType,
    normalise_message_id,
)
from as2sync.backends.http.ratelimit import Priority, priority
from as2sync.config.schema import InDoubt
from as2sync.errors import GatewayError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission, SubmissionState
from as2sync.outbound import decide
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)

PAGE_LENGTH = 100
MAX_PAGES = 10
"""Pages per list and pass: 1,000 messages back is far beyond any sensible in-doubt window."""

Contents = dict[str, decide.ContentKey | None]
"""Downloaded bytes per gateway message ID, for one pass (None: the download failed)."""


def list_since(
    gateway: Gateway,
    folder: Folder,
    station: str,
    partner: str,
    partner_type: PartnerType,
    since_ms: float,
    *,
    stop_when: Iterable[str] = (),
) -> list[decide.Listed]:
    """Records of ``folder`` for one partnership, newest first, back to ``since_ms``.

    Stops early once every ID in ``stop_when`` (normalised) has been seen.
    """
    wanted = {normalise_message_id(m) for m in stop_when}
    listed: list[decide.Listed] = []
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
        listed.extend(decide.Listed(folder, info) for info in result.records)
        if wanted:
            wanted -= {normalise_message_id(i.message_id) for i in result.records}
            if not wanted:
                break
        if (page + 1) * PAGE_LENGTH >= result.total or not result.records:
            break
        if min(i.persisted_ms for i in result.records) < since_ms:
            break
    return listed


def _doubt(sub: Submission) -> decide.Doubt:
    return decide.Doubt(
        id=sub.id,
        started_at=sub.submit_started_at or sub.created_at,
        files=tuple(decide.Content(f.name, f.size or 0, f.sha256 or "") for f in sub.files),
        settle=sub.state == SubmissionState.IN_DOUBT,
    )


def _fields(sub: Submission) -> dict[str, object]:
    return {"station": sub.station, "partner": sub.partner, "file": sub.names, "submission": sub.id}


def hold(ctx: Context, sub: Submission) -> None:
    """``in_doubt: hold``: REJECTING, with a reason saying it may have been sent (the engine's
    resume pass moves the files to failed/)."""
    with ctx.ledger.transaction() as s:
        lo.mark_rejecting(s, sub.id, ctx.clock(), decide.HOLD_REASON, http_status=sub.http_status)


def reconcile(ctx: Context, subs: Sequence[Submission], stop: threading.Event | None = None) -> int:
    """One reconciliation pass for the partnerships of the due IN_DOUBT rows ``subs``; returns
    how many rows changed state. Every row of unknown outcome of such a partnership is decided
    in the same pass (they compete for the same messages).

    Gateway errors postpone the affected rows (they stay IN_DOUBT). A set ``stop`` ends the
    pass before its next request.
    """
    changed = 0
    pairs = sorted({(sub.station, sub.partner, sub.partner_type) for sub in subs})
    contents: Contents = {}
    for station, partner, partner_type in pairs:
        if stop is not None and stop.is_set():
            break
        if ctx.outbound.in_doubt == InDoubt.HOLD:
            for sub in subs:
                if (sub.station, sub.partner, sub.partner_type) != (station, partner, partner_type):
                    continue
                hold(ctx, sub)
                changed += 1
            continue
        changed += _reconcile_pair(ctx, station, partner, PartnerType(partner_type), contents, stop)
    return changed


def _reconcile_pair(
    ctx: Context,
    station: str,
    partner: str,
    partner_type: PartnerType,
    contents: Contents,
    stop: threading.Event | None,
) -> int:
    grace = ctx.outbound.reconcile_grace_seconds
    with ctx.ledger.read() as s:
        rows = lo.unknown_outcome(s, station, partner, str(partner_type))
        attributed = lo.attributed_ids(s, station, partner)
    in_doubt = [r for r in rows if r.state == SubmissionState.IN_DOUBT]
    if not in_doubt:
        return 0
    doubts = [_doubt(r) for r in rows]
    since = min(d.started_at for d in doubts) - decide.CLOCK_SKEW_SECONDS
    try:
        with priority(Priority.LOW):
            listed: list[decide.Listed] = []
            for folder in (Folder.QUEUED, Folder.SENT, Folder.FAILED):
                if stop is not None and stop.is_set():
                    return 0
                listed += list_since(
                    ctx.gateway, folder, station, partner, partner_type, since * 1000
                )
    except GatewayError as exc:
        now = ctx.clock()
        log.warning("outbound.reconcile_failed", station=station, partner=partner, error=str(exc))
        with ctx.ledger.transaction() as s:
            for sub in in_doubt:
                started = sub.submit_started_at or sub.created_at
                lo.postpone(s, sub.id, now, decide.next_look(started, now, grace))
        return 0
    found = decide.candidates(
        station=station, partner=partner, listed=listed, attributed=attributed, since=since
    )
    for cand in decide.to_verify(doubts, found):
        if stop is not None and stop.is_set():
            return 0
        if cand.info.message_id not in contents:
            contents[cand.info.message_id] = _download(ctx, cand, station, partner)
    now = ctx.clock()
    if any(now - d.started_at >= grace for d in doubts if d.settle):
        # Only now can the grace have run out for some row: ask how slow this partner is.
        send_timeout = ctx.send_timeouts.of(ctx.gateway, partner, now)
        grace = decide.resend_grace(grace, send_timeout)
    plan = decide.reconcile_plan(rows=doubts, found=found, contents=contents, now=now, grace=grace)
    changed = 0
    for sub in in_doubt:
        changed += _act(ctx, sub, plan[sub.id], grace)
    return changed


def _download(
    ctx: Context, cand: decide.Candidate, station: str, partner: str
) -> decide.ContentKey | None:
    """The names, sizes and SHA-256 of a sent message's attachments, or None if any download
    failed (the message then cannot be proven this pass)."""
    files: list[decide.Content] = []
    try:
        with priority(Priority.LOW):
            for index, listed in enumerate(cand.info.attachments):
                digest = ctx.gateway.sent_attachment_digest(cand.info.message_id, index)
                files.append(decide.Content(digest.name or listed.name, digest.size, digest.sha256))
    except GatewayError as exc:
        log.warning(
            "outbound.reconcile_download_failed",
            station=station,
            partner=partner,
            message_id=cand.info.message_id,
            error=str(exc),
        )
        return None
    return decide.content_key(files)


def _act(ctx: Context, sub: Submission, decision: decide.ReconcileDecision, grace: float) -> int:
    """Carry out one row's decision; 1 if the row changed state."""
    now = ctx.clock()
    if decision.kind == decide.ReconcileKind.FOUND:
        assert decision.message_id is not None
        with ctx.ledger.transaction() as s:
            lo.mark_submitted(s, sub.id, now, decision.message_id)
        log.info(
            "outbound.reconciled",
            message_id=decision.message_id,
            folder=str(decision.folder),
            reason=decision.why,
            **_fields(sub),
        )
        return 1  # SUBMITTED: the resume pass archives it
    if decision.kind == decide.ReconcileKind.RESUBMIT:
        with ctx.ledger.transaction() as s:
            lo.resubmit(s, sub.id, now)
        log.warning("outbound.resubmit", reason=decision.why, **_fields(sub))
        return 1
    if decision.kind == decide.ReconcileKind.AMBIGUOUS:
        with ctx.ledger.transaction() as s:
            lo.mark_rejecting(s, sub.id, now, decide.ambiguous_reason(decision.why))
        log.error("outbound.reconcile_ambiguous", reason=decision.why, **_fields(sub))
        return 1  # REJECTING: the resume pass moves the files to failed/
    started = sub.submit_started_at or sub.created_at
    look_at = decide.next_look(started, now, grace)
    with ctx.ledger.transaction() as s:
        lo.postpone(s, sub.id, now, look_at)
    log.debug(
        "outbound.reconcile_wait",
        reason=decision.why,
        look_in=round(look_at - now, 1),
        **_fields(sub),
    )
    return 0
