"""Benchmark 4c: the daemon's peak memory while it moves 10 MB zips."""

from __future__ import annotations

from benchmarks.context import Context, say
from benchmarks.receiving import ReceiveRun, receive
from benchmarks.report import Figure, Section, Target

MIB = 2**20
TARGET_BYTES = 100 * 1e6

WHAT = """
Peak resident memory of the daemon (`VmHWM` from `/proc/<pid>/status`: the kernel's exact
high-water mark, no sampling gaps) while it downloads, checks and stores big zips: messages of
one ~9.5 MB attachment, so every batch zip is ~9.5 MB of incompressible data. The same figure
is shown for the 1 MB inbound run, whose batch zips hold ten attachments (10 MB). The peak
includes start-up (imports), so the idle RSS just before the load is shown beside it.
"""


def _figure(section: Section, label: str, result: ReceiveRun) -> None:
    section.add(
        Figure(
            f"{label}: peak RSS",
            result.rss_peak / 1e6,
            "MB",
            target=Target("<", TARGET_BYTES / 1e6),
            note=(
                f"{result.rss_ready / 1e6:.0f} MB idle before the load; highest sample "
                f"during the run {max(result.rss_samples, default=0) / 1e6:.0f} MB; "
                f"{result.messages} messages of {result.attachment_bytes / 1e6:.1f} MB "
                f"in {result.seconds:.1f} s"
            ),
        )
    )


def run(ctx: Context) -> Section:
    section = Section("memory", "4c. Memory while moving 10 MB zips", WHAT)
    earlier = ctx.board.get("inbound.1 MB")
    if isinstance(earlier, ReceiveRun):
        _figure(section, "1 MB messages (10 per zip)", earlier)
    n = ctx.sizes.memory_messages
    size = ctx.sizes.memory_bytes
    say(f"{n} messages of {size:,} bytes")
    with ctx.workspace("memory") as ws:
        emu = ws.emulator()
        result = receive(ws, emu, n, size, prefix="BIG")
    _figure(section, f"{size / 1e6:.1f} MB messages (1 per zip)", result)
    section.details.append(f"requests: {result.requests.describe()}")
    return section
