"""Benchmark 4: inbound under the real rate limit -- small messages, 1 MB messages, and 1 MiB
messages against a gateway whose batch limit is 10 MB decimal (every planned batch is cut)."""

from __future__ import annotations

from benchmarks import raw_client
from benchmarks.context import MB, Context, say
from benchmarks.raw_client import RawRun
from benchmarks.receiving import POLL_SECONDS, ReceiveRun, receive
from benchmarks.report import Figure, Section, Target
from benchmarks.stats import LIMIT, PER_SECONDS, inbound_request_bound, per_hundred

MIB = 1024 * 1024
DECIMAL_LIMIT = 10 * MB

WHAT = f"""
The daemon is started and makes its first (empty) poll; then it is frozen (SIGSTOP) while
messages with one attachment each are seeded through the emulator's admin API, and resumed
(SIGCONT) once its next poll is due, so the clock starts when its poll does. It then drains
the unread list in one go. Time runs until every attachment is in the inbox (all of them are
then checked byte for byte against what was seeded). Requests are counted from the resume:
the one-time log-in is left out, the station lookup is in. `inbound.poll_seconds` is 2 here
only so that the benchmark does not sit waiting for the poll.

Bounds: one list request per 100 messages plus one batch download per 100 messages or per
10 MB of attachments, whichever is fewer messages; at {LIMIT / PER_SECONDS:g} requests/s that
gives the sustained messages/s. Where the emulator cannot even serve the bytes that fast to a
bare client (the raw baseline, section 6), that is the bound instead: each messages/s figure
is held against the lower of the two. For 1 MB (10^6 bytes) attachments ten fit a 10 MiB batch: 11
requests per 100. The third run uses 1 MiB attachments against an emulator started with
`--batch-limit {DECIMAL_LIMIT}` (the spec says "10 MB" without saying which): nine fit, so
13 requests per 100 is the bound; as2sync, which plans batches by 10 MiB, is answered 206 on
its first batch, continues from the truncation point and plans nine per batch from then on.
"""


def _figures(section: Section, label: str, result: ReceiveRun, per_batch: int, raw: RawRun) -> None:
    needed = inbound_request_bound(result.messages, per_batch)
    bound_per_100 = per_hundred(needed, result.messages)
    assert bound_per_100 is not None
    limit_bound = LIMIT / PER_SECONDS / bound_per_100 * 100
    # The raw client's bytes per second, as messages of this run's size per second.
    raw_bound = raw.megabytes_per_second * 1e6 / result.attachment_bytes
    bound = min(limit_bound, raw_bound)
    window = (
        "fewer than one window's 50, so the limit never made it wait"
        if result.requests.total <= LIMIT
        else f"so it waited for the window at least "
        f"{(result.requests.total - 1) // LIMIT * PER_SECONDS:.0f} s"
    )
    section.add(
        Figure(
            f"{label}: messages/s",
            result.rate,
            "msg/s",
            bound=bound,
            target=Target(">=", 0.8, on_ratio=True),
            note=(
                f"{result.messages} messages in {result.seconds:.1f} s "
                f"({result.megabytes_per_second:.1f} MB/s), all marked read after "
                f"{result.read_seconds:.1f} s; {result.requests.total} requests, {window}. "
                f"Bound: the lower of the sustained rate-limit bound ({limit_bound:.1f} msg/s) "
                f"and the raw download of the same bytes ({raw_bound:.1f} msg/s), here the "
                + ("rate limit." if limit_bound <= raw_bound else "raw download.")
            ),
        )
    )
    section.add(
        Figure(
            f"{label}: requests per 100 messages",
            per_hundred(result.requests.total, result.messages),
            "",
            bound=bound_per_100,
            lower_is_better=True,
            target=Target(">=", 0.8, on_ratio=True),
            note=f"{result.requests.describe()}",
        )
    )
    section.add(
        Figure(f"{label}: 429 answers", result.requests.rate_limited, "", target=Target("==", 0))
    )
    partial = result.requests.statuses.get(206, 0)
    section.details.append(
        f"{label}: {result.messages} x {result.attachment_bytes:,} bytes; 206 answers {partial}; "
        f"daemon CPU {result.cpu_seconds:.1f} s ({1000 * result.cpu_seconds / result.messages:.1f}"
        f" ms/message), emulator CPU {result.emulator_cpu_seconds:.1f} s; daemon RSS "
        f"{result.rss_ready / 2**20:.0f} MiB idle, peak {result.rss_peak / 2**20:.0f} MiB"
    )


def _one(
    ctx: Context,
    section: Section,
    label: str,
    count: int,
    size: int,
    per_batch: int,
    raw: RawRun,
    *args: str,
) -> None:
    say(f"{label}: {count} messages of {size:,} bytes {' '.join(args)}")
    with ctx.workspace(f"in-{label}") as ws:
        emu = ws.emulator(*args)
        result = receive(ws, emu, count, size)
    _figures(section, label, result, per_batch, raw)
    ctx.board[f"inbound.{label}"] = result


def run(ctx: Context) -> Section:
    s = ctx.sizes
    section = Section("inbound", "4. Inbound throughput (rate-limited)", WHAT)
    small = raw_client.get_or_measure(ctx, "small", s.in_small, s.in_small_bytes)
    big = raw_client.get_or_measure(ctx, "1 MB", s.in_big, s.in_big_bytes)
    _one(ctx, section, "small", s.in_small, s.in_small_bytes, 100, small)
    _one(ctx, section, "1 MB", s.in_big, s.in_big_bytes, 10 * MIB // s.in_big_bytes, big)
    _one(
        ctx, section, "1 MiB, 10 MB gateway limit", s.in_truncating, MIB,
        DECIMAL_LIMIT // MIB, big, "--batch-limit", str(DECIMAL_LIMIT),
    )  # fmt: skip
    section.details.append(
        f"Daemon defaults except poll_seconds {POLL_SECONDS:g} (batch_max_bytes 10 MiB); the "
        "raw baseline runs are section 6's."
    )
    return section
