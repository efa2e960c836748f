"""Soak: both directions at a steady load for N minutes with light chaos; fail on growth.

Run with ``make soak MINUTES=N`` (``python -m tests.soak.run --minutes N``). Starts the
emulator (real 50/10 s rate limit, light fault injection) and ``as2sync run`` as separate
processes, drops files into outboxes and seeds received messages at a steady rate, and plays
the downstream consumer that takes verified files out of the inboxes. Every ``--interval``
seconds it samples the daemon's RSS, open file descriptors (``/proc/<pid>/fd``), CPU time and
the ledger's size on disk, runs ``as2sync health``, and checks that WATCHDOG=1 arrived on the
notify socket since the previous sample (the daemon runs with ``$WATCHDOG_USEC`` set, as under
systemd's ``WatchdogSec=``, and ``health.max_loop_age_seconds`` well below the default, so a
loop that is wrongly judged stuck shows within the first minutes of any soak).

It fails (exit 1) when:

* ``as2sync health`` exits non-zero at any sample, or a sample interval passes without
  WATCHDOG=1 (systemd would restart the daemon);

* a resource keeps growing: the peak RSS of the last third of the run exceeds the peak of the
  first third by more than 15 % + 8 MiB, or open fds by more than 8;
* the work per item grows: CPU seconds per item, or ledger bytes per item (the ledger keeps
  finished rows for ``ledger.retention_days``, so its size grows with the items by design; what
  must stay flat is the cost of each), in the last third exceed the first third's by 2x (+ slack);
* anything was lost or duplicated: every file submitted exactly once and archived in ``sent/``,
  the emulator's duplicate_submissions is empty, every attachment reached the consumer exactly
  once and byte-identical, every message is marked read.

A summary table goes to stdout and into ``--out`` (BENCHMARKS.md), between the soak markers
that ``make bench`` carries over when it rewrites the file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import SOAK_BEGIN, SOAK_END
from tests.e2e.harness import DaemonProcess, EmulatorProcess, as2sync, wait_until, write_config

STATION = "MYSTATION"
PARTNERS = ("ACME", "GLOBEX")
FAULTS = [
    "--error-before", "0.02", "--error-after", "0.02", "--drop", "0.01", "--drop-after", "0.01",
    "--truncate", "0.01", "--rate-limit-burst", "0.01", "--token-expiry", "0.005",
    "--latency", "0.02",
]  # fmt: skip
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Shorter than the default (300 s): a loop wrongly judged stuck fails even a short soak.
MAX_LOOP_AGE = 60
WATCHDOG_USEC = 10_000_000  # as WatchdogSec=10s: WATCHDOG=1 is expected every few seconds


@dataclass
class Sample:
    t: float  # seconds since start
    rss_kib: int
    fds: int
    cpu_s: float
    ledger_bytes: int
    items: int  # files archived in sent/ + attachments consumed so far


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def proc_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("ledger.sqlite3*") if p.is_file())


class Liveness:
    """Every sample: ``as2sync health`` exits 0 and WATCHDOG=1 arrived since the last one."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.checks = 0
        self.unhealthy: list[str] = []
        self.seen = 0
        self.silent: list[str] = []

    def pings(self) -> int:
        return self.daemon.watchdog_pings()

    def check(self, t: float) -> None:
        self.checks += 1
        result = as2sync("health", "-c", str(self.daemon.config), timeout=60)
        if result.returncode != 0:
            self.unhealthy.append(f"t={t:.0f}s: {' / '.join(result.stdout.splitlines())}")
        pings = self.pings()
        if self.checks > 1 and pings <= self.seen:
            self.silent.append(f"t={t:.0f}s")
        self.seen = pings

    def failures(self) -> list[str]:
        found = []
        if self.unhealthy:
            found.append(
                f"as2sync health failed {len(self.unhealthy)}/{self.checks} times, first "
                f"{self.unhealthy[0]}"
            )
        if self.silent:
            found.append(
                f"no WATCHDOG=1 in {len(self.silent)} sample intervals, first at {self.silent[0]}"
            )
        return found

    def summary(self) -> str:
        return (
            f"Liveness: `as2sync health` exited 0 at {self.checks - len(self.unhealthy)} of "
            f"{self.checks} samples; WATCHDOG=1 arrived in "
            f"{max(0, self.checks - 1 - len(self.silent))} of {max(0, self.checks - 1)} sample "
            f"intervals ({self.seen} in all; `WATCHDOG_USEC={WATCHDOG_USEC}`, "
            f"`health.max_loop_age_seconds: {MAX_LOOP_AGE}`)."
        )


class Load:
    """Drops outbound files and seeds inbound messages; consumes and checks the inboxes."""

    def __init__(self, root: Path, emulator: EmulatorProcess, rng: random.Random) -> None:
        self.root = root
        self.emulator = emulator
        self.rng = rng
        self.dropped: dict[str, bytes] = {}  # file name -> content
        self.expected_in: dict[str, str] = {}  # attachment name -> sha256
        self.consumed: Counter[str] = Counter()
        self.bad: list[str] = []
        self.message_ids: list[str] = []
        self.sent_seen: set[str] = set()

    def drop_file(self) -> None:
        k = len(self.dropped)
        partner = PARTNERS[k % len(PARTNERS)]
        name = f"out-{k:06d}.edi"
        data = f"ISA*soak*{k}*".encode() + os.urandom(self.rng.randint(50, 4000)).hex().encode()
        outbox = self.root / STATION / partner / "outbox"
        tmp = outbox / f".{name}.tmp"  # dot-files are excluded: the rename makes it appear whole
        tmp.write_bytes(data)
        tmp.rename(outbox / name)
        self.dropped[name] = data

    def seed_message(self) -> None:
        k = len(self.message_ids)
        partner = PARTNERS[k % len(PARTNERS)]
        attachments = []
        for j in range(self.rng.choice((1, 1, 2, 3))):
            name = f"in-{k:06d}-{j}.edi"
            data = f"ISA*in*{k}*{j}*".encode() + os.urandom(self.rng.randint(50, 3000))
            self.expected_in[name] = hashlib.sha256(data).hexdigest()
            attachments.append((name, data))
        self.message_ids.append(self.emulator.seed(STATION, partner, attachments))

    def consume(self) -> None:
        """The downstream translator: verify each inbox file and take it away."""
        for partner in PARTNERS:
            inbox = self.root / STATION / partner / "inbox"
            if not inbox.is_dir():
                continue
            for entry in os.scandir(inbox):
                path = Path(entry.path)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if self.expected_in.get(entry.name) != digest:
                    self.bad.append(f"unexpected or corrupt inbox file {partner}/{entry.name}")
                self.consumed[entry.name] += 1
                path.unlink()

    def sent_count(self) -> int:
        for partner in PARTNERS:
            sent = self.root / STATION / partner / "sent"
            if sent.is_dir():
                self.sent_seen.update(e.name for e in os.scandir(sent))
        return len(self.sent_seen)

    def items(self) -> int:
        return self.sent_count() + sum(self.consumed.values())


def thirds(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    n = max(1, len(samples) // 3)
    return samples[:n], samples[-n:]


def per_item(window: list[Sample], attr: str) -> float:
    first, last = window[0], window[-1]
    items = last.items - first.items
    return (getattr(last, attr) - getattr(first, attr)) / max(items, 1)


def check_growth(samples: list[Sample]) -> list[str]:
    failures = []
    first, last = thirds(samples)
    rss_first = max(s.rss_kib for s in first)
    rss_last = max(s.rss_kib for s in last)
    if rss_last > rss_first * 1.15 + 8 * 1024:
        failures.append(f"RSS keeps growing: peak {rss_first} KiB first third, {rss_last} last")
    fds_first = max(s.fds for s in first)
    fds_last = max(s.fds for s in last)
    if fds_last > fds_first + 8:
        failures.append(f"open fds keep growing: {fds_first} first third, {fds_last} last")
    cpu_first, cpu_last = per_item(first, "cpu_s"), per_item(last, "cpu_s")
    if cpu_last > cpu_first * 2 + 0.002:
        failures.append(f"CPU per item grows: {cpu_first:.4f} s first third, {cpu_last:.4f} last")
    led_first, led_last = per_item(first, "ledger_bytes"), per_item(last, "ledger_bytes")
    if led_last > led_first * 2 + 2048:
        failures.append(f"ledger bytes per item grow: {led_first:.0f} first, {led_last:.0f} last")
    return failures


def table(samples: list[Sample], every: float) -> list[str]:
    rows = [
        "| t (min) | RSS (MiB) | open fds | CPU (%) | ledger (KiB) | items done |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    previous: Sample | None = None
    next_t = 0.0
    for s in samples:
        if s.t + 1e-9 < next_t and s is not samples[-1]:
            continue
        cpu = 0.0 if previous is None else 100 * (s.cpu_s - previous.cpu_s) / (s.t - previous.t)
        rows.append(
            f"| {s.t / 60:.1f} | {s.rss_kib / 1024:.1f} | {s.fds} | {cpu:.1f} "
            f"| {s.ledger_bytes / 1024:.0f} | {s.items} |"
        )
        previous = s
        next_t = s.t + every
    return rows


def write_section(out: Path, lines: list[str]) -> None:
    """Replace (or append) the soak section of ``out`` (BENCHMARKS.md): the part between
    :data:`~benchmarks.report.SOAK_BEGIN` and ``SOAK_END``, which ``make bench`` keeps."""
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    section = "\n".join([SOAK_BEGIN, *lines, SOAK_END])
    start = text.find(SOAK_BEGIN)
    end = text.find(SOAK_END, start)
    if start >= 0 and end >= 0:
        text = text[:start] + section + text[end + len(SOAK_END) :]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _commit() -> str:
    """The checked-out commit (the code under test), or "unknown" outside a git checkout."""
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=5.0, help="sampling period (s)")
    parser.add_argument("--files-per-second", type=float, default=1.0)
    parser.add_argument("--messages-per-second", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--out", type=Path, default=Path("BENCHMARKS.md"), help="report to update (its soak part)"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="as2sync-soak-"))
    emulator = EmulatorProcess(
        work, "--station", STATION, *(a for p in PARTNERS for a in ("--partner", p)),
        "--delivery-delay", "0.5", "--batch-limit", str(64 * 1024),
        *FAULTS, "--seed", str(args.seed),
    )  # fmt: skip
    emulator.start()
    root = work / "root"
    for partner in PARTNERS:
        (root / STATION / partner / "outbox").mkdir(parents=True)
    config = write_config(
        work,
        emulator.base_url,
        root=root,
        outbound={"settle_seconds": 0.3, "scan_seconds": 10, "track_seconds": 5,
                  "reconcile_grace_seconds": 10},
        inbound={"poll_seconds": 1.0},
        log={"level": "warning", "format": "json"},
        health={"max_loop_age_seconds": MAX_LOOP_AGE},
    )  # fmt: skip
    daemon = DaemonProcess(
        config, env={"PYTHONFAULTHANDLER": "1", "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    )
    load = Load(root, emulator, rng)
    liveness = Liveness(daemon)
    samples: list[Sample] = []
    failures: list[str] = []
    print(f"soak: {args.minutes} min, work dir {work}, seed {args.seed}", flush=True)
    try:
        daemon.start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        start = time.monotonic()
        end = start + args.minutes * 60
        next_file = next_msg = next_sample = start
        while (now := time.monotonic()) < end:
            if now >= next_file:
                load.drop_file()
                next_file += 1 / args.files_per_second
            if now >= next_msg:
                load.seed_message()
                next_msg += 1 / args.messages_per_second
            if now >= next_sample:
                load.consume()
                samples.append(
                    Sample(now - start, proc_rss_kib(pid), len(os.listdir(f"/proc/{pid}/fd")),
                           proc_cpu_s(pid), dir_bytes(work / "state"), load.items())
                )  # fmt: skip
                s = samples[-1]
                liveness.check(s.t)
                print(f"t={s.t:7.1f}s rss={s.rss_kib / 1024:6.1f}MiB fds={s.fds:3d} "
                      f"cpu={s.cpu_s:7.1f}s ledger={s.ledger_bytes / 1024:7.0f}KiB "
                      f"items={s.items} health_failures={len(liveness.unhealthy)} "
                      f"watchdogs={liveness.seen}", flush=True)  # fmt: skip
                next_sample += args.interval
            time.sleep(max(0.0, min(next_file, next_msg, next_sample) - time.monotonic()))
        if not daemon.alive():
            failures.append("the daemon died during the soak")
        failures += liveness.failures()
        failures += check_growth(samples)

        # Drain: everything dropped or seeded must come through, once.
        def drained() -> bool:
            load.consume()
            return load.sent_count() >= len(load.dropped) and set(load.consumed) >= set(
                load.expected_in
            )

        try:
            wait_until(drained, 180, interval=1.0, what="drain")
        except AssertionError as exc:
            failures.append(str(exc))
        try:
            exit_code = daemon.terminate(timeout=30)
        except subprocess.TimeoutExpired:
            # faulthandler (PYTHONFAULTHANDLER) dumps every thread's stack on SIGABRT.
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGABRT)
            daemon.proc.wait(10)
            failures.append(
                f"daemon still running 30 s after SIGTERM (thread dump in {daemon.log_path})"
            )
        else:
            if exit_code != 0:
                failures.append(f"daemon exited with {exit_code} on SIGTERM")
        snapshot = emulator.snapshot()
        if snapshot["duplicate_submissions"]:
            failures.append(f"duplicate submissions: {snapshot['duplicate_submissions']}")
        submitted = Counter(a["name"] for sub in emulator.submissions() for a in sub["attachments"])
        missing = set(load.dropped) - set(submitted)
        twice = [n for n, c in submitted.items() if c > 1]
        if missing or twice:
            failures.append(f"files missing {sorted(missing)[:5]}, sent twice {twice[:5]}")
        if set(load.sent_seen) != set(load.dropped):
            failures.append("sent/ does not hold exactly the dropped files")
        unread = [m["message_id"] for m in snapshot["received"] if not m["read"]]
        if unread:
            failures.append(f"{len(unread)} messages not marked read, e.g. {unread[:3]}")
        if twice_in := [n for n, c in load.consumed.items() if c > 1]:
            failures.append(f"attachments stored twice: {twice_in[:5]}")
        failures += load.bad[:5]
        faults = snapshot["fault_counts"]
    except Exception as exc:  # still report what was measured
        failures.append(f"soak aborted: {type(exc).__name__}: {exc}")
        faults = {}
    finally:
        daemon.close()
        emulator.kill()

    verdict = "PASS" if not failures else "FAIL"
    lines = [
        "## Soak",
        "",
        f"Command: `make soak MINUTES={args.minutes:g}` "
        f"(`.venv/bin/python -m tests.soak.run --minutes {args.minutes:g}`), seed {args.seed}, "
        f"as2sync at commit {_commit()}.",
        f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        f"Load: {args.files_per_second:g} file/s out (50 B-8 KB, 2 partners) and "
        f"{args.messages_per_second:g} message/s in (1-3 attachments, 64 KiB batch limit), "
        "emulator with its real 50/10 s rate limit and light chaos "
        f"({' '.join(FAULTS)}).",
        f"Done: {len(load.sent_seen)} files sent exactly once, {sum(load.consumed.values())} "
        f"attachments of {len(load.message_ids)} messages stored once and byte-identical; "
        f"faults injected: {faults}.",
        liveness.summary(),
        "",
        *table(samples, 60.0),
        "",
        f"Verdict: **{verdict}**" + ("" if not failures else ": " + "; ".join(failures)),
        "(growth checks: peak RSS of the last third <= first third x1.15 + 8 MiB; fds +8; "
        "CPU and ledger bytes per item <= 2x first third's).",
        "",
    ]
    print("\n".join(lines))
    write_section(args.out, lines)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
