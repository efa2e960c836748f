"""Benchmark 2c: drop-to-sent/ latency while 15 % of sends get a 5xx (sends in doubt)."""

from __future__ import annotations

import json
import time

from as2sync.outbound import decide
from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.report import Figure, Section, Target
from benchmarks.stats import percentile

GRACE = 30
FAULT = 0.075  # 5xx before the action + 5xx after it = 15 % of send requests

FIRST_LOOK = decide.first_look(0.0, 0.0, GRACE)  # seconds after the submit

WHAT = f"""
Files dropped one at a time into the outbox of a daemon (default `settle_seconds: 2`) while
the emulator answers {FAULT:.1%} of send requests with a 5xx *before* acting on them (nothing
was sent) and {FAULT:.1%} with a 5xx *after* acting (the message was accepted):
`--error-before {FAULT} --error-after {FAULT} --fault-endpoints send` with a fixed seed (the
5xx are 500, 502, 503 and 504 alike). Each leaves the send in doubt. One that was accepted is
found on the gateway by its bytes at the first look, a few seconds after the submit (the spec
lists a message 5 to 10 s after its send); one that was not may only be resent once it cannot
still be on its way, after the grace period (`reconcile_grace_seconds: {GRACE}` here, to keep
the run short; the emulator's partners answer within their `sendTimeout` of 2 s, so the
configured value is the grace). A 503 also pauses every request of the daemon for a whole
rate-limit window (10 s: the gateway says it is overloaded and gives no Retry-After), which
delays the files behind it. Latency is from the file's rename into the outbox to its arrival
in `sent/` (the ctime of its link there). Bounds: `settle_seconds` for the median (most sends
see no fault); `settle_seconds` + the first look ({FIRST_LOOK:g} s) for a send in doubt that
was accepted; `settle_seconds` + the grace for the tail, which holds the sends refused before
the gateway acted: resending any sooner could deliver a message still on its way twice.
Duplicates must be 0.
"""


def run(ctx: Context) -> Section:
    section = Section("in-doubt", "2c. Drop to sent/ with 15 % of sends failing with 5xx", WHAT)
    n = ctx.sizes.in_doubt_files
    interval = ctx.sizes.in_doubt_interval
    settle = float(rig.DEFAULT_OUTBOUND["settle_seconds"])
    say(f"{n} files, one every {interval} s, {2 * FAULT:.0%} of sends answered 5xx")
    with ctx.workspace("in-doubt") as ws:
        emu = ws.emulator(
            "--error-before", str(FAULT), "--error-after", str(FAULT),
            "--fault-endpoints", "send", "--seed", "11",
        )  # fmt: skip
        daemon = ws.daemon(emu, config={"outbound": {"reconcile_grace_seconds": GRACE}})
        time.sleep(1.0)  # let the start-up scan and first poll pass: the daemon is idle
        dropped: dict[str, float] = {}
        for i in range(n):
            name = f"INVOICE-{i:04d}.edi"
            dropped[name] = rig.drop(ws.outbox(), [(name, rig.payload(i, 2_000))])
            time.sleep(interval)
        rig.wait_for_files(ws.sent(), n, 6 * GRACE + 60, "every file in sent/")
        archived = rig.ctimes(ws.sent())
        snapshot = emu.snapshot()
        submissions = emu.submissions()
        requests = emu.requests()
        statuses = [int(r[2]) for r in emu.request_log() if _is_send(r[0], r[1])]
        found, resent = _in_doubt_outcomes(daemon.process.log_lines())
    duplicates = len(snapshot["duplicate_submissions"])
    names = sorted(a["name"] for s in submissions for a in s["attachments"])
    if names != sorted(dropped) or duplicates:
        raise AssertionError(f"{len(names)} submissions for {n} files, {duplicates} duplicates")
    to_sent = {name: archived[name] - at for name, at in dropped.items()}
    section.add(
        Figure(
            "drop to sent/, p50",
            percentile(list(to_sent.values()), 50),
            "s",
            bound=settle,
            lower_is_better=True,
            note="each 503 pauses the daemon for a rate-limit window",
        )
    )
    section.add(
        Figure(
            "drop to sent/, p99",
            percentile(list(to_sent.values()), 99),
            "s",
            bound=settle + GRACE,
            lower_is_better=True,
            note="bound: settle_seconds + the grace (a send refused before the gateway acted)",
        )
    )
    accepted = [to_sent[name] for name in found]
    section.add(
        Figure(
            "in doubt but accepted: drop to sent/, p50",
            percentile(accepted, 50) if accepted else None,
            "s",
            bound=settle + FIRST_LOOK,
            lower_is_better=True,
            note=f"bound: settle_seconds + the first look ({FIRST_LOOK:g} s after the submit)",
        )
    )
    section.add(Figure("duplicates", float(duplicates), "", target=Target("==", 0)))
    faulted = sum(1 for status in statuses if status >= 500)
    section.details.append(
        f"{n} files; {faulted} send requests answered 5xx ({statuses.count(503)} of them 503, "
        f"each pausing the daemon for 10 s); in doubt and found on the gateway: "
        f"{len(found)} (p50 {_p(accepted)}), resent after the grace: {len(resent)} "
        f"(drop to sent/ p50 {_p([to_sent[x] for x in resent])}); max {max(to_sent.values()):.1f} s"
    )
    section.details.append(f"requests: {requests.describe()}")
    return section


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and "/message/" in path and "/received/" not in path


def _p(values: list[float]) -> str:
    return f"{percentile(values, 50):.1f} s" if values else "-"


def _in_doubt_outcomes(lines: list[str]) -> tuple[set[str], set[str]]:
    """Files whose send in doubt was found on the gateway, and files sent again (from the
    daemon's JSON log: which 5xx came before and which after the action is known only there
    and to the emulator)."""
    found: set[str] = set()
    resent: set[str] = set()
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "outbound.reconciled":
            found.add(str(event.get("file")))
        elif event.get("event") == "outbound.resubmit":
            resent.add(str(event.get("file")))
    return found - resent, resent
