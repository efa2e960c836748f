"""Benchmark 4b: inbound with the rate limit off -- what the daemon itself costs per message."""

from __future__ import annotations

from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.raw_client import RawRun
from benchmarks.receiving import receive
from benchmarks.report import Figure, Section

WHAT = """
The small-message run again with the limit off in the emulator (`--no-rate-limit`) and in the
daemon. CPU is the daemon process's user + system time from the start of the poll until every
attachment is in the inbox; context switches are its threads' (voluntary and involuntary,
`/proc/<pid>/task/*/status`) over the same span. The raw baseline (section 6) gives the bound
for messages/s.
"""


def run(ctx: Context) -> Section:
    section = Section("inbound-unlimited", "4b. Inbound without a rate limit", WHAT)
    n = ctx.sizes.in_unthrottled
    size = ctx.sizes.in_small_bytes
    say(f"{n} messages of {size:,} bytes, no limit")
    with ctx.workspace("in-unlimited") as ws:
        emu = ws.emulator("--no-rate-limit")
        result = receive(ws, emu, n, size, config={"gateway": rig.UNLIMITED_CLIENT})
    ctx.board["inbound.unlimited"] = result
    raw = ctx.board.get("raw.small")
    section.add(
        Figure(
            "messages/s",
            result.rate,
            "msg/s",
            bound=raw.rate if isinstance(raw, RawRun) and raw.messages == n else None,
            note="bound: the raw download of the same messages (section 6)",
        )
    )
    section.add(Figure("daemon CPU per message", 1000 * result.cpu_seconds / n, "ms"))
    section.add(
        Figure(
            "daemon context switches per message",
            result.switches / n,
            "",
            note="steadier than CPU on a shared machine: a regression shows here too",
        )
    )
    section.details.append(
        f"{n} messages in {result.seconds:.1f} s; daemon CPU {result.cpu_seconds:.1f} s, "
        f"emulator CPU {result.emulator_cpu_seconds:.1f} s; requests: {result.requests.describe()}"
    )
    return section
