"""Benchmark 2b: drop-to-submit latency for a file in a partnership folder created while the
daemon runs."""

from __future__ import annotations

import time

from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.report import Figure, Section, Target
from benchmarks.stats import percentile
from tests.e2e.harness import wait_until

WHAT = """
While an idle daemon runs (default `settle_seconds: 2`; `scan_seconds: 3600`, so no periodic
full scan can find the folder), a new partnership folder `<station>/<partner>/outbox/` is
created (`mkdir -p`) and a file is dropped into it at once, one new partner at a time.
Latency is measured from the file's rename into the new outbox to the emulator's record of the
submission. The daemon watches the root and each station folder for new folders, adopts the
new partnership and watches and scans its outbox at once; the file then settles for
`settle_seconds` like any other. The target is p50 within 0.5 s of the settle time, shown as
the ratio of `settle_seconds` + 0.5 s to the p50 (1 or more meets it).
"""

NEW_PARTNER = "NEW{:03d}"


def run(ctx: Context) -> Section:
    section = Section(
        "new-folder", "2b. Drop-to-submit latency in a just-created partnership folder", WHAT
    )
    n = ctx.sizes.latency_files
    interval = ctx.sizes.latency_interval
    settle = float(rig.DEFAULT_OUTBOUND["settle_seconds"])
    partners = [NEW_PARTNER.format(i) for i in range(n)]
    say(f"{n} new partnership folders, one every {interval} s")
    with ctx.workspace("new-folder") as ws:
        emu = ws.emulator(partners=(rig.PARTNER, *partners))
        ws.daemon(emu, config={"outbound": {"scan_seconds": 3600}})
        time.sleep(1.0)  # let the start-up scan and first poll pass: the daemon is idle
        dropped: dict[str, float] = {}
        for i, partner in enumerate(partners):
            outbox = ws.outbox(partner)
            outbox.mkdir(parents=True)
            name = f"ORDER-{i:04d}.edi"
            dropped[name] = rig.drop(outbox, [(name, rig.payload(i, 2_000))])
            time.sleep(interval)
        wait_until(lambda: len(emu.submissions()) >= n, 60, what="every file submitted")
        subs = emu.submissions()
        if len(subs) != n:
            raise AssertionError(f"{len(subs)} submissions for {n} files")
        submitted = {s["attachments"][0]["name"]: s["created_at"] for s in subs}
    to_submit = [submitted[name] - at for name, at in dropped.items()]
    bound = settle + 0.5
    section.add(
        Figure(
            "drop to submit in a new partnership folder, p50",
            percentile(to_submit, 50),
            "s",
            bound=bound,
            lower_is_better=True,
            target=Target(">=", 1.0, on_ratio=True),
            note="ratio: (settle_seconds + 0.5 s) / p50",
        )
    )
    section.add(
        Figure(
            "drop to submit in a new partnership folder, p99",
            percentile(to_submit, 99),
            "s",
            bound=bound,
            lower_is_better=True,
        )
    )
    section.details.append(
        f"{n} new partnerships; drop to submit min {min(to_submit):.3f} s, "
        f"max {max(to_submit):.3f} s"
    )
    return section
