"""Benchmark 1: sustained outbound throughput under the real rate limit, without and with
bundling."""

from __future__ import annotations

import math

from benchmarks import rig
from benchmarks.context import Context, say
from benchmarks.report import Figure, Section, Target
from benchmarks.sending import SendRun, send_files
from benchmarks.stats import LIMIT, PER_SECONDS, min_span

WHAT = f"""
Files dropped into one outbox all at once; the emulator enforces the API's {LIMIT} requests per
{PER_SECONDS:g} s. One file is one request, so the bound is {LIMIT / PER_SECONDS:g} files/s
unbundled and {LIMIT / PER_SECONDS:g} x `bundle_max_files` files/s bundled. *Sustained* is
measured from the emulator's submission times between submission 50 and a submission a whole
number of 50s later (this leaves out the first burst an empty window admits and is exactly
bounded by the limit, see `benchmarks/stats.py`). Delivery tracking and the inbound poll share
the same budget, so their requests are counted too.
"""


def _figures(section: Section, run: SendRun, bundle: int, label: str) -> None:
    bound = LIMIT / PER_SECONDS * bundle
    rate = run.sustained_files_per_second()
    span = run.sustained_messages()
    section.add(
        Figure(
            f"{label}: sustained files/s",
            rate,
            "files/s",
            bound=bound,
            target=Target(">=", 0.9, on_ratio=True),
            note=(
                f"{span.count} messages in {span.seconds:.1f} s (messages {span.first}.."
                f"{span.first + span.count})"
                if span
                else "too few messages for a sustained span (more than 100 needed)"
            ),
        )
    )
    section.add(
        Figure(f"{label}: 429 answers", run.requests.rate_limited, "", target=Target("==", 0))
    )
    per_file = run.requests.total / run.files
    section.add(
        Figure(
            f"{label}: requests per file",
            per_file,
            "",
            bound=1 / bundle,
            lower_is_better=True,
            note=f"{run.requests.total} requests in all: {run.requests.describe()}",
        )
    )
    ideal = min_span(math.ceil(run.files / bundle))
    section.details.append(
        f"{label}: {run.files} files of {len(run.submissions)} messages "
        f"({run.files_per_message:.1f} files each); first submission {run.first_submit_delay:.2f} "
        f"s after the drop (settle_seconds 2); all in sent/ {run.elapsed:.1f} s after the drop "
        f"(the limit alone needs {ideal:.0f} s from the first to the last submission); "
        f"overall {run.files / run.elapsed:.1f} files/s; daemon CPU {run.cpu_seconds:.1f} s "
        f"({1000 * run.cpu_seconds / run.files:.1f} ms per file); duplicates {run.duplicates}"
    )


def _one(ctx: Context, section: Section, files: int, bundle: int, label: str) -> None:
    say(f"{label}: {files} files, bundle_max_files {bundle}")
    with ctx.workspace(f"out-{bundle}") as ws:
        emu = ws.emulator()
        daemon = ws.daemon(emu, config={"outbound": {"bundle_max_files": bundle}})
        timeout = 120 + 3 * files / (LIMIT / PER_SECONDS * bundle)
        run = send_files(ws, emu, daemon, files, ctx.sizes.out_file_bytes, timeout=timeout)
    _figures(section, run, bundle, label)
    ctx.board[f"outbound.{label}"] = run


def run(ctx: Context) -> Section:
    section = Section("outbound", "1. Outbound throughput (rate-limited)", WHAT)
    _one(ctx, section, ctx.sizes.out_files, 1, "unbundled")
    _one(ctx, section, ctx.sizes.out_bundled_files, ctx.sizes.bundle, "bundled")
    section.details.append(
        f"Files are {ctx.sizes.out_file_bytes} bytes; daemon defaults otherwise "
        f"({rig.DEFAULT_OUTBOUND}, max_in_flight 2)."
    )
    return section
