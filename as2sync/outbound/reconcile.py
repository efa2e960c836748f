"""Reconcile submissions of unknown outcome with what the backend actually has.

A submission is in doubt when the message may have reached the gateway but its remote ID is
unknown: the connection dropped after sending, an error came back that may have followed the
gateway's work, or the process died between ``begin_submit`` and ``mark_submitted``.
Resending blindly could deliver an invoice twice; never resending could lose it; taking
another file's message for this one would do both.

So, one partnership (and one set of claim facts) at a time, every row of unknown outcome is
handed to :meth:`as2sync.backends.base.Sender.locate` together (they compete for the same
messages), with the remote IDs any row already holds (never another row's match), and this
module acts on each row's answer:

* FOUND -> the remote ID is recorded (SUBMITTED) and the engine's resume pass archives the
  files as usual; delivery tracking takes it from there;
* ABSENT (provably not there once the grace has passed since the submit began: the
  configured ``reconcile_grace_seconds``, or longer where the backend says the message may
  still be on its way) -> back to CLAIMED and submitted again;
* AMBIGUOUS (it may be this row's message or another's and can never be told apart) ->
  REJECTING with a reason saying so (the resume pass moves the files to failed/), for a
  person to decide;
* WAIT -> look again later.

When to look is :func:`as2sync.outbound.decide.first_look` and ``next_look``: first about 5 s
after the submit began, then after as long again as it has been in doubt (10, 20, 40 s, at
most a minute), and once more exactly when the grace runs out.

Rows still SUBMITTING (a send in flight, here or in ``as2sync send``) are never settled here,
but the backend is told of them: a message one of them could own is never given to another.

With ``outbound.in_doubt: hold``, or a backend that cannot look a send up
(:attr:`~as2sync.backends.base.Capabilities.lookup` is ``none``), nothing is looked up: the
files go to failed/ with a reason saying they may have been sent, for a person to decide.

Nothing here moves a file: a pass only records decisions in the ledger, and the engine's
resume pass makes the moves (and alone decides what a refused filesystem means).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import structlog

from as2sync.backends.base import Content, Doubt, Found, Located, Lookup
from as2sync.config.schema import InDoubt
from as2sync.errors import GatewayError
from as2sync.ledger import outbound as lo
from as2sync.ledger.outbound import Submission, SubmissionState
from as2sync.outbound import decide
from as2sync.outbound.context import Context

log = structlog.get_logger(__name__)


def _doubt(sub: Submission) -> Doubt:
    return Doubt(
        id=sub.id,
        started_at=_started(sub),
        files=tuple(Content(f.name, f.size or 0, f.sha256 or "") for f in sub.files),
        remote=sub.remote,
        settle=sub.state == SubmissionState.IN_DOUBT,
    )


def _started(sub: Submission) -> float:
    return sub.submit_started_at or sub.created_at


def _fields(sub: Submission) -> dict[str, object]:
    return {"station": sub.station, "partner": sub.partner, "file": sub.names, "submission": sub.id}


def holds(ctx: Context) -> bool:
    """An unknown outcome goes to failed/ for a person instead of being looked up."""
    return ctx.outbound.in_doubt == InDoubt.HOLD or ctx.capabilities.lookup == Lookup.NONE


def hold(ctx: Context, sub: Submission) -> None:
    """``in_doubt: hold`` (or no lookup): REJECTING, with a reason saying it may have been
    sent (the engine's resume pass moves the files to failed/)."""
    with ctx.ledger.transaction() as s:
        lo.mark_rejecting(s, sub.id, ctx.clock(), decide.HOLD_REASON, http_status=sub.http_status)


def reconcile(ctx: Context, subs: Sequence[Submission], stop: threading.Event | None = None) -> int:
    """One reconciliation pass for the partnerships of the due IN_DOUBT rows ``subs``; returns
    how many rows changed state. Every row of unknown outcome of such a partnership (and
    claim facts) is decided in the same pass.

    Backend errors postpone the affected rows (they stay IN_DOUBT). A set ``stop`` ends the
    pass before its next request.
    """
    changed = 0
    groups: dict[tuple[str, str, decide.FactsKey], list[Submission]] = {}
    for sub in subs:
        groups.setdefault((sub.station, sub.partner, ctx.facts(sub)), []).append(sub)
    for (station, partner, facts), group in sorted(groups.items(), key=lambda g: g[0]):
        if stop is not None and stop.is_set():
            break
        if holds(ctx):
            for sub in group:
                hold(ctx, sub)
                changed += 1
            continue
        changed += _reconcile_group(ctx, station, partner, facts, stop)
    return changed


def _reconcile_group(
    ctx: Context,
    station: str,
    partner: str,
    facts: decide.FactsKey,
    stop: threading.Event | None,
) -> int:
    grace = ctx.outbound.reconcile_grace_seconds
    with ctx.ledger.read() as s:
        rows = [r for r in lo.unknown_outcome(s, station, partner) if ctx.facts(r) == facts]
        attributed = lo.attributed_ids(s, station, partner)
    in_doubt = [r for r in rows if r.state == SubmissionState.IN_DOUBT]
    if not in_doubt:
        return 0
    try:
        found = ctx.backend.locate(
            station,
            partner,
            [_doubt(r) for r in rows],
            attributed=attributed,
            now=ctx.clock(),
            grace=grace,
            stop=stop,
        )
    except GatewayError as exc:
        now = ctx.clock()
        log.warning("outbound.reconcile_failed", station=station, partner=partner, error=str(exc))
        with ctx.ledger.transaction() as s:
            for sub in in_doubt:
                lo.postpone(s, sub.id, now, decide.next_look(_started(sub), now, grace))
        return 0
    changed = 0
    for sub in in_doubt:
        located = found.get(sub.id)
        if located is not None:
            changed += _act(ctx, sub, located, grace)
        elif stop is None or not stop.is_set():
            # Left out of the answer (nothing learned): look again on the usual schedule
            # rather than at every step. (A stopped call answers nothing: we are stopping.)
            changed += _act(ctx, sub, Located(Found.WAIT, why="nothing learned"), grace)
    return changed


def _act(ctx: Context, sub: Submission, located: Located, grace: float) -> int:
    """Carry out one row's answer; 1 if the row changed state."""
    now = ctx.clock()
    if located.found == Found.FOUND:
        assert located.remote_id is not None
        with ctx.ledger.transaction() as s:
            lo.mark_submitted(s, sub.id, now, located.remote_id, remote=located.remote)
        log.info(
            "outbound.reconciled",
            message_id=located.remote_id,
            folder=located.where,
            reason=located.why,
            **_fields(sub),
        )
        return 1  # SUBMITTED: the resume pass archives it
    if located.found == Found.ABSENT:
        with ctx.ledger.transaction() as s:
            lo.resubmit(s, sub.id, now, remote=located.remote)
        log.warning("outbound.resubmit", reason=located.why, **_fields(sub))
        return 1
    if located.found == Found.AMBIGUOUS:
        with ctx.ledger.transaction() as s:
            lo.mark_rejecting(
                s, sub.id, now, decide.ambiguous_reason(located.why), remote=located.remote
            )
        log.error("outbound.reconcile_ambiguous", reason=located.why, **_fields(sub))
        return 1  # REJECTING: the resume pass moves the files to failed/
    started = _started(sub)
    if located.grace_ends is not None:
        grace = max(grace, located.grace_ends - started)
    look_at = decide.next_look(started, now, grace)
    with ctx.ledger.transaction() as s:
        lo.postpone(s, sub.id, now, look_at, remote=located.remote)
    log.debug(
        "outbound.reconcile_wait",
        reason=located.why,
        look_in=round(look_at - now, 1),
        **_fields(sub),
    )
    return 0
