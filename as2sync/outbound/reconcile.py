"""Reconcile in-doubt submissions with what the gateway actually has.

A submission is in doubt when the POST may have reached the gateway but we do not know its
message ID: the connection dropped after sending, a 5xx came back (it may have been a proxy
after the gateway acted), or the process died between ``begin_submit`` and ``mark_submitted``.
Resending blindly could deliver an invoice twice; never resending could lose it.

So we look. For each partnership with in-doubt rows, one pass lists the queued entries (the
API's single ``query`` filter, given the partner), then the sent and failed lists filtered by
station and partner, newest first, back to the earliest ``submit_started_at`` minus a
clock-skew allowance. :func:`as2sync.outbound.decide.reconcile_decision` matches attachment
names and sizes, skipping IDs already recorded for other ledger rows:

* found -> the ID is recorded (SUBMITTED) and the files are archived as usual; if it was found
  in the failed list, delivery tracking takes it from there;
* not found anywhere once ``reconcile_grace_seconds`` have passed since the submit began ->
  back to CLAIMED and submitted again. The grace period exists because the spec says the
  queued list omits messages being processed at that moment, and a message whose send fails
  leaves the sent list; a message can be briefly invisible;
* otherwise -> look again later.

With ``outbound.in_doubt: hold`` nothing is looked up: the files go to failed/ with a reason
saying they may have been sent, for a person to decide.

Requests run at LOW priority so sends keep their share of the rate limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

import structlog

from as2sync.config.schema import InDoubt
from as2sync.errors import GatewayError, StorageError
from as2sync.gateway.base import (
    Attachment,
    Folder,
    Gateway,
    ListQuery,
    PartnerType,
    normalise_message_id,
)
from as2sync.gateway.ratelimit import Priority, priority
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission
from as2sync.outbound import decide
from as2sync.outbound.context import Context
from as2sync.outbound.submit import archive_or_postpone, to_failed

log = structlog.get_logger(__name__)

PAGE_LENGTH = 100
MAX_PAGES = 10
"""Pages per list and pass: 1,000 messages back is far beyond any sensible in-doubt window."""


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


def _expected(sub: Submission) -> list[Attachment]:
    return [Attachment(f.name, f.size or 0) for f in sub.files]


def _fields(sub: Submission) -> dict[str, object]:
    return {"station": sub.station, "partner": sub.partner, "file": sub.names, "submission": sub.id}


def hold(ctx: Context, sub: Submission) -> Submission:
    """``in_doubt: hold``: to failed/ with a reason saying it may have been sent."""
    with ctx.ledger.transaction() as s:
        lo.mark_rejecting(s, sub.id, ctx.clock(), decide.HOLD_REASON, http_status=sub.http_status)
        sub = lo.get(s, sub.id)
    return to_failed(ctx, sub, stage="hold")


def reconcile(ctx: Context, subs: Sequence[Submission]) -> int:
    """One reconciliation pass over due IN_DOUBT rows; returns how many changed state.

    Gateway errors postpone the affected rows (they stay IN_DOUBT); StorageError from
    archiving a found message is logged and the row stays SUBMITTED for a later pass.
    """
    changed = 0
    groups: dict[tuple[str, str, str], list[Submission]] = {}
    for sub in subs:
        groups.setdefault((sub.station, sub.partner, sub.partner_type), []).append(sub)
    for (station, partner, partner_type), group in groups.items():
        if ctx.outbound.in_doubt == InDoubt.HOLD:
            for sub in group:
                # A StorageError is logged and postponed: the row is REJECTING, moved later.
                with contextlib.suppress(StorageError):
                    hold(ctx, sub)
                changed += 1
            continue
        changed += _reconcile_pair(ctx, station, partner, PartnerType(partner_type), group)
    return changed


def _reconcile_pair(
    ctx: Context, station: str, partner: str, partner_type: PartnerType, group: list[Submission]
) -> int:
    grace = ctx.outbound.reconcile_grace_seconds
    started = min(s.submit_started_at or s.created_at for s in group)
    since_ms = (started - decide.CLOCK_SKEW_SECONDS) * 1000
    try:
        with priority(Priority.LOW):
            listed: list[decide.Listed] = []
            for folder in (Folder.QUEUED, Folder.SENT, Folder.FAILED):
                listed += list_since(ctx.gateway, folder, station, partner, partner_type, since_ms)
    except GatewayError as exc:
        now = ctx.clock()
        log.warning(
            "outbound.reconcile_failed",
            station=station,
            partner=partner,
            error=str(exc),
            retry_in=decide.reconcile_interval(grace),
        )
        with ctx.ledger.transaction() as s:
            for sub in group:
                lo.postpone(s, sub.id, now, now + decide.reconcile_interval(grace))
        return 0
    changed = 0
    taken: set[str] = set()
    for sub in sorted(group, key=lambda s: (s.submit_started_at or s.created_at, s.id)):
        now = ctx.clock()
        with ctx.ledger.read() as s:
            attributed = lo.attributed_ids(s, station, partner, exclude=sub.id) | taken
        decision = decide.reconcile_decision(
            station=station,
            partner=partner,
            expected=_expected(sub),
            started_at=sub.submit_started_at or sub.created_at,
            now=now,
            grace=grace,
            listed=listed,
            attributed=attributed,
        )
        if decision.kind == decide.ReconcileKind.FOUND:
            assert decision.message_id is not None
            taken.add(decision.message_id)
            with ctx.ledger.transaction() as s:
                lo.mark_submitted(s, sub.id, now, decision.message_id)
                found = lo.get(s, sub.id)
            log.info(
                "outbound.reconciled",
                message_id=decision.message_id,
                folder=str(decision.folder),
                **_fields(sub),
            )
            changed += 1
            # A StorageError is logged and postponed: the row is SUBMITTED, archived later.
            with contextlib.suppress(StorageError):
                archive_or_postpone(ctx, found)
        elif decision.kind == decide.ReconcileKind.RESUBMIT:
            with ctx.ledger.transaction() as s:
                lo.resubmit(s, sub.id, now)
            log.warning("outbound.resubmit", reason=decision.why, **_fields(sub))
            changed += 1
        else:
            with ctx.ledger.transaction() as s:
                lo.postpone(s, sub.id, now, now + decide.reconcile_interval(grace))
            log.debug("outbound.reconcile_wait", reason=decision.why, **_fields(sub))
    return changed
