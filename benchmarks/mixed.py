"""Benchmark 5: both directions at once, sharing one rate limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TypeVar

from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.receiving import payloads, verify_inbox
from benchmarks.report import Figure, Section, Target
from benchmarks.stats import LIMIT, PER_SECONDS, per_hundred, sustained

POLL_SECONDS = 5
T = TypeVar("T")

WHAT = f"""
An idle daemon with two partnerships; at the same moment files are dropped for `LOOP` (an
echo partner: each sent message comes back as a received message about 5 s later) and
messages from `ACME` start arriving, evenly spread over the time the sends need. So sends,
polls, batch downloads and delivery tracking all compete for the same 50 requests per 10 s
for the whole run. Inbound polls every {POLL_SECONDS} s (`inbound.poll_seconds`).
*Budget used* is the request rate at the emulator (every request, sampled from its log every
0.1 s) over whole windows between the end of the first window and the last submission: the
bound is {LIMIT / PER_SECONDS:g} requests/s, and sends should get most of it (sends come
first).
"""


def paced(items: Iterator[T], count: int, seconds: float) -> Iterator[T]:
    """``items`` (``count`` of them) evenly over ``seconds``."""
    started = time.monotonic()
    for i, item in enumerate(items):
        time.sleep(max(0.0, started + seconds * i / count - time.monotonic()))
        yield item


def run(ctx: Context) -> Section:
    section = Section("mixed", "5. Mixed: both directions at once (rate-limited)", WHAT)
    files = ctx.sizes.mixed_files
    messages = ctx.sizes.mixed_messages
    say(f"{files} files out (echoed back) and {messages} messages in")
    with ctx.workspace("mixed") as ws:
        emu = ws.emulator(partners=(rig.PARTNER, f"{rig.ECHO_PARTNER}:echo"))
        daemon = ws.daemon(
            emu,
            partners=(rig.PARTNER, rig.ECHO_PARTNER),
            config={"inbound": {"poll_seconds": POLL_SECONDS}},
        )
        cpu = daemon.cpu()
        digests: dict[str, str] = {}
        # Spread over the time the sends need, so that messages keep arriving all along.
        spread = files / (LIMIT / PER_SECONDS)
        arrivals = paced(
            payloads(messages, ctx.sizes.in_small_bytes, digests, "PO"), messages, spread
        )
        seeder = threading.Thread(target=lambda: emu.seed_many(arrivals))
        batch = [
            (f"MIX-{i:05d}.edi", rig.payload(i, ctx.sizes.out_file_bytes)) for i in range(files)
        ]
        with rig.RequestMeter(emu) as meter:
            seeder.start()
            t0 = rig.drop(ws.outbox(rig.ECHO_PARTNER), batch)
            timeout = 120 + 3 * files / (LIMIT / PER_SECONDS)
            sent_at = rig.wait_for_files(ws.sent(rig.ECHO_PARTNER), files, timeout, "all sent")
            seeder.join()
            inbound_at = rig.wait_for_files(ws.inbox(rig.PARTNER), messages, 120, "all received")
            echoes_at = rig.wait_for_files(ws.inbox(rig.ECHO_PARTNER), files, 120, "all echoes")
        cpu = daemon.cpu() - cpu
        subs = sorted(s["created_at"] for s in emu.submissions())
        if len(subs) != files:
            raise AssertionError(f"{len(subs)} submissions for {files} files")
        requests = emu.requests()
        duplicates = len(emu.snapshot()["duplicate_submissions"])
        verify_inbox(ws, digests)
    span = sustained(subs)
    section.add(
        Figure(
            "sends: sustained files/s",
            span.rate if span else None,
            "files/s",
            bound=LIMIT / PER_SECONDS,
            note="the whole budget would be 5 files/s; polls and downloads take their share",
        )
    )
    start = subs[0] + PER_SECONDS
    windows = int((subs[-1] - start) // PER_SECONDS)
    used = None
    if windows >= 1:
        end = start + windows * PER_SECONDS
        used = (meter.count_at(end) - meter.count_at(start)) / (end - start)
    section.add(
        Figure(
            "budget used while sending",
            used,
            "req/s",
            bound=LIMIT / PER_SECONDS,
            target=Target(">=", 0.9, on_ratio=True),
            note=f"over {windows} whole windows" if windows else "run too short to measure",
        )
    )
    section.add(Figure("429 answers", requests.rate_limited, "", target=Target("==", 0)))
    inbound_total = messages + files
    inbound_requests = requests.count("list received", "batch", "get received", "attachment")
    section.add(
        Figure(
            "inbound requests per 100 messages",
            per_hundred(inbound_requests, inbound_total),
            "",
            bound=2.0,
            lower_is_better=True,
            note=f"polled every {POLL_SECONDS} s while messages kept arriving",
        )
    )
    section.details += [
        f"{files} files sent in {sent_at - t0:.1f} s after the drop; {messages} seeded messages "
        f"stored {inbound_at - t0:.1f} s and the {files} echoes {echoes_at - t0:.1f} s after it",
        f"requests: {requests.describe()}; duplicates {duplicates}",
        f"daemon CPU {cpu:.1f} s over the run",
    ]
    return section
