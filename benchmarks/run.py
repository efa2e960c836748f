"""``make bench``: run the benchmarks against the emulator and write BENCHMARKS.md.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.run                  # everything (about ten minutes)
    .venv/bin/python -m benchmarks.run --quick          # smaller sizes (about three minutes)
    .venv/bin/python -m benchmarks.run --only inbound,raw
    .venv/bin/python -m benchmarks.run --list

Every run overwrites the output file with a fresh report of the benchmarks it ran; only a soak
result between ``<!-- soak:begin -->`` and ``<!-- soak:end -->`` is carried over. A benchmark
that fails is reported as failed (with its error) and the others still run; the exit code is 1
if any failed, 0 otherwise -- missing a target is a finding, not a failure.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    inbound_throughput,
    inbound_unthrottled,
    memory,
    mixed,
    naive_comparison,
    outbound_in_doubt,
    outbound_latency,
    outbound_new_folder,
    outbound_throughput,
    outbound_unthrottled,
    procfs,
    raw_baseline,
)
from benchmarks.context import Context, Sizes
from benchmarks.report import Section, kept_soak_section, render

Benchmark = Callable[[Context], Section]

# In the order they run: the raw baseline compares with the inbound run before it.
BENCHMARKS: dict[str, tuple[Benchmark, str]] = {
    "outbound": (outbound_throughput.run, "sustained files/s, unbundled and bundled, 50/10 s"),
    "latency": (outbound_latency.run, "drop-to-submit latency p50/p99 on an idle daemon"),
    "new-folder": (outbound_new_folder.run, "drop-to-submit p50 in a just-created partnership"),
    "in-doubt": (outbound_in_doubt.run, "drop-to-sent/ p50/p99 with 15 % of sends failing 5xx"),
    "outbound-unlimited": (outbound_unthrottled.run, "files/s and CPU s/file, no rate limit"),
    "inbound": (inbound_throughput.run, "messages/s and requests/100, small, 1 MB, truncating"),
    "inbound-unlimited": (inbound_unthrottled.run, "messages/s and CPU s/message, no limit"),
    "memory": (memory.run, "peak RSS while moving 10 MB zips"),
    "mixed": (mixed.run, "both directions at once, 50/10 s"),
    "raw": (raw_baseline.run, "plain httpx download of the same bytes vs as2sync"),
    "naive": (naive_comparison.run, "the client a person would script from the API docs"),
}

INTRO = """
Every figure comes from real processes: the emulator (`python -m as2sync emulator`, in memory,
with the API's real limit of 50 requests per 10 s unless a benchmark says "no limit") and the
daemon (`python -m as2sync run -c CONFIG`, default configuration unless stated). Figures are
observed from outside the daemon: the emulator's request log and submission records, the
folders, and `/proc/<pid>` of the daemon. Both processes share this machine's CPUs.

How the bounds are derived:

- **Rate-limit bound.** 50 requests per 10 s is 5 requests/s sustained. Outbound needs one
  request per file (per message when bundled: up to 10 files), so 5 files/s unbundled and
  50 files/s with `bundle_max_files: 10`. Inbound needs one list request per 100 messages and
  one batch download per 100 messages (or per 10 MB of attachments, the batch size limit), so
  2 requests per 100 small messages = 250 messages/s, and 11 per 100 one-megabyte messages
  (1 list + 10 batches of ten) = 45 messages/s. An empty window admits 50 requests at once,
  so runs of fewer than 50 requests are not limited by it at all; sustained rates are
  measured over whole windows to keep that first burst out (`benchmarks/stats.py`).
  A ratio above 1 against this bound means the run fitted into that first burst.
- **Raw baseline.** The same emulator serving the same requests (list + batch zip) to a plain
  httpx loop that streams the zips to a file and does nothing else: what this machine and
  emulator can serve at all, the bound for anything that is not rate-limited. Inbound
  figures are held against the lower of the two bounds.
- **Naive client.** What a person would script from the API documentation: list unread, then
  per message GET its attachment and GET it with `markAsRead=true`, retrying after a 429.
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", help="comma-separated benchmarks to run (see --list)")
    parser.add_argument("--skip", help="comma-separated benchmarks not to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"), help="report file")
    parser.add_argument("--workdir", type=Path, help="where scratch folders go (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep scratch folders for a look")
    return parser.parse_args(argv)


def _selected(args: argparse.Namespace) -> list[str]:
    names = list(BENCHMARKS)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in BENCHMARKS]
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)} (see --list)")
        names = [n for n in names if n in wanted]
    if args.skip:
        skipped = {n.strip() for n in args.skip.split(",")}
        names = [n for n in names if n not in skipped]
    return names


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.list:
        for name, (_fn, text) in BENCHMARKS.items():
            print(f"{name:20} {text}")
        return 0
    sizes = Sizes().quick() if args.quick else Sizes()
    ctx = Context(sizes=sizes, workdir=args.workdir, keep=args.keep)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    sections: list[Section] = []
    failed = False
    for name in _selected(args):
        fn, text = BENCHMARKS[name]
        print(f"== {name}: {text}", flush=True)
        begun = time.monotonic()
        try:
            section = fn(ctx)
        except Exception as exc:
            traceback.print_exc()
            section = Section(name, name, text, error=f"{type(exc).__name__}: {exc}")
            failed = True
        section.seconds = time.monotonic() - begun
        sections.append(section)
        for fig in section.figures:
            met = {True: "", False: "  <-- target missed", None: ""}[fig.met]
            ratio = f" (ratio {fig.ratio:.2f})" if fig.ratio is not None else ""
            print(f"    {fig.name}: {fig.value if fig.value is None else round(fig.value, 3)} "
                  f"{fig.unit}{ratio}{met}", flush=True)  # fmt: skip
    command = " ".join(
        [".venv/bin/python -m benchmarks.run", *(shlex.quote(a) for a in (argv or sys.argv[1:]))]
    )
    previous = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    text = render(
        intro=INTRO,
        machine=procfs.machine(),
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        total_seconds=time.monotonic() - t0,
        sections=sections,
        options="quick sizes" if args.quick else "default sizes",
        soak=kept_soak_section(previous),
    )
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
