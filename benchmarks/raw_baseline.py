"""Benchmark 6: the raw baseline -- the emulator serving the same bytes to a plain httpx loop
(:mod:`benchmarks.raw_client`), against as2sync on the same messages."""

from __future__ import annotations

from benchmarks import raw_client
from benchmarks.context import Context
from benchmarks.receiving import ReceiveRun
from benchmarks.report import Figure, Section

WHAT = """
The same messages as the inbound runs, seeded on a fresh emulator with the same limit, fetched
by a bare loop: list 100 unread, POST the batch download with `markAsRead=true` for up to 100
IDs or 10 MiB of declared attachments, stream the zip into one scratch file, repeat. No zip
parsing, no checks, no fsync, no ledger, no inbox. It makes the same requests as as2sync, so
the rate limit treats both alike; what is left is what this emulator and machine can serve,
the bound for as2sync's speed wherever the rate limit is not what holds it back. (The inbound
benchmark makes these runs when it runs; they are reused here.)
"""


def _compare(
    section: Section, label: str, raw: raw_client.RawRun, ours: object, *, megabytes: bool
) -> None:
    section.details.append(
        f"raw {label}: {raw.messages} messages in {raw.seconds:.2f} s = {raw.rate:.0f} msg/s, "
        f"{raw.megabytes_per_second:.1f} MB/s of attachments "
        f"({raw.zip_bytes / raw.seconds / 1e6:.1f} MB/s of zip); requests: "
        f"{raw.requests.describe()}"
    )
    if not isinstance(ours, ReceiveRun):
        section.details.append(f"(the as2sync {label} run was not part of this bench run)")
        return
    if megabytes:
        section.add(
            Figure(
                f"{label}: as2sync vs raw download",
                ours.megabytes_per_second,
                "MB/s",
                bound=raw.megabytes_per_second,
                note=f"as2sync {ours.rate:.1f} msg/s, raw {raw.rate:.1f} msg/s",
            )
        )
    else:
        section.add(Figure(f"{label}: as2sync vs raw download", ours.rate, "msg/s", bound=raw.rate))


def run(ctx: Context) -> Section:
    section = Section("raw", "6. Raw baseline: plain httpx download of the same bytes", WHAT)
    s = ctx.sizes
    small = raw_client.get_or_measure(ctx, "small", s.in_small, s.in_small_bytes)
    _compare(section, "small", small, ctx.board.get("inbound.small"), megabytes=False)
    unlimited = ctx.board.get("inbound.unlimited")
    if isinstance(unlimited, ReceiveRun) and unlimited.messages == small.messages:
        section.add(
            Figure(
                "small, no limit: as2sync vs raw download",
                unlimited.rate,
                "msg/s",
                bound=small.rate,
            )
        )
    big = raw_client.get_or_measure(ctx, "1 MB", s.in_big, s.in_big_bytes)
    _compare(section, "1 MB", big, ctx.board.get("inbound.1 MB"), megabytes=True)
    return section
