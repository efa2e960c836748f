"""Benchmark 2: drop-to-submit latency on an idle daemon."""

from __future__ import annotations

import time

from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.report import Figure, Section, Target
from benchmarks.stats import percentile

WHAT = """
Files dropped one at a time into the outbox of an idle daemon (default `settle_seconds: 2`),
each after the previous one was sent. Latency is measured from the moment the file appeared
(its rename into the outbox) to the emulator's record of the submission, and to the file's
arrival in `sent/` (the ctime of its link there). A file must be unchanged for
`settle_seconds` from when as2sync first saw it before it is sent, so the settle time is the
floor; the target is p50 within 0.2 s of it.
"""


def run(ctx: Context) -> Section:
    section = Section("latency", "2. Drop-to-submit latency (idle daemon)", WHAT)
    n = ctx.sizes.latency_files
    interval = ctx.sizes.latency_interval
    settle = float(rig.DEFAULT_OUTBOUND["settle_seconds"])
    say(f"{n} files, one every {interval} s")
    with ctx.workspace("latency") as ws:
        emu = ws.emulator()
        ws.daemon(emu)
        time.sleep(1.0)  # let the start-up scan and first poll pass: the daemon is idle
        dropped: dict[str, float] = {}
        for i in range(n):
            name = f"ORDER-{i:04d}.edi"
            dropped[name] = rig.drop(ws.outbox(), [(name, rig.payload(i, 2_000))])
            time.sleep(interval)
        rig.wait_for_files(ws.sent(), n, 60, "every file in sent/")
        subs = emu.submissions()
        if len(subs) != n:
            raise AssertionError(f"{len(subs)} submissions for {n} files")
        submitted = {s["attachments"][0]["name"]: s["created_at"] for s in subs}
        archived = rig.ctimes(ws.sent())
        requests = emu.requests()
    to_submit = [submitted[name] - at for name, at in dropped.items()]
    to_sent = [archived[name] - at for name, at in dropped.items()]
    section.add(
        Figure(
            "drop to submit, p50",
            percentile(to_submit, 50),
            "s",
            bound=settle,
            lower_is_better=True,
            target=Target("<=", settle + 0.2),
        )
    )
    section.add(
        Figure(
            "drop to submit, p99",
            percentile(to_submit, 99),
            "s",
            bound=settle,
            lower_is_better=True,
        )
    )
    section.add(
        Figure(
            "drop to sent/, p50", percentile(to_sent, 50), "s", bound=settle, lower_is_better=True
        )
    )
    section.add(
        Figure(
            "drop to sent/, p99", percentile(to_sent, 99), "s", bound=settle, lower_is_better=True
        )
    )
    section.details.append(
        f"{n} files; drop to submit min {min(to_submit):.3f} s, max {max(to_submit):.3f} s; "
        f"with {n} samples p99 is close to the maximum"
    )
    section.details.append(f"requests: {requests.describe()}")
    return section
