"""One inbound run, observed from outside: seed messages, start the daemon, wait until every
attachment is in the inbox and every message is marked read, and check the files."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks import procfs, rig
from benchmarks.context import say
from benchmarks.stats import RequestSummary, summarize
from tests.e2e.harness import wait_until

# Short, so that the benchmark does not wait for the poll it freezes the daemon before; the
# default (30 s) would only add idle time. When idle, each poll is one list request.
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class ReceiveRun:
    messages: int
    attachment_bytes: int
    seconds: float  # from the start of the poll until every attachment was in the inbox
    read_seconds: float  # from the start of the poll until every message was marked read
    requests: RequestSummary
    cpu_seconds: float  # the daemon's, over ``seconds``
    emulator_cpu_seconds: float
    rss_ready: int  # VmRSS when idle, just before the load
    rss_peak: int  # VmHWM at the end: the peak since the process started
    rss_samples: list[int]
    switches: int  # the daemon's context switches, over ``seconds``

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.messages * self.attachment_bytes / self.seconds / 1e6


def payloads(
    count: int, size: int, digests: dict[str, str], prefix: str
) -> Iterator[tuple[str, bytes]]:
    """``(name, content)`` of ``count`` messages, recording each SHA-256 in ``digests``."""
    for i in range(count):
        name = f"{prefix}-{i:05d}.edi"
        data = rig.payload(i, size)
        digests[name] = hashlib.sha256(data).hexdigest()
        yield name, data


def seed(emu: rig.Emulator, count: int, size: int, *, prefix: str = "PO") -> dict[str, str]:
    """Seed ``count`` one-attachment messages of ``size`` bytes; returns name -> SHA-256."""
    digests: dict[str, str] = {}
    started = time.monotonic()
    emu.seed_many(payloads(count, size, digests, prefix))
    say(f"seeded {count} messages of {size:,} bytes in {time.monotonic() - started:.1f} s")
    return digests


def verify_inbox(ws: rig.Workspace, digests: dict[str, str], partner: str = rig.PARTNER) -> None:
    """Every seeded attachment is in the inbox once, byte-identical (else AssertionError)."""
    inbox = ws.inbox(partner)
    names = sorted(os.listdir(inbox))
    if names != sorted(digests):
        extra = sorted(set(names) - set(digests))[:5]
        missing = sorted(set(digests) - set(names))[:5]
        raise AssertionError(f"inbox differs: extra {extra}, missing {missing}")
    for name in names:
        h = hashlib.sha256()
        with open(inbox / name, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != digests[name]:
            raise AssertionError(f"{name} differs from what was seeded")


def receive(
    ws: rig.Workspace,
    emu: rig.Emulator,
    count: int,
    size: int,
    *,
    prefix: str = "PO",
    timeout: float = 600,
    config: dict[str, dict[str, Any]] | None = None,
) -> ReceiveRun:
    """Seed ``count`` messages of ``size`` bytes for an idle daemon and time how long it takes
    to store them all.

    The clock must start when the messages become visible *and* the daemon looks: so the
    daemon is started, makes its first (empty) poll, and is frozen with SIGSTOP; the messages
    are seeded; once its next poll is overdue it is resumed with SIGCONT, which starts both
    the poll and the clock. Requests are counted from there (its one-time log-in is not).
    """
    sections: dict[str, dict[str, Any]] = {"inbound": {"poll_seconds": POLL_SECONDS}}
    for name, values in (config or {}).items():
        sections.setdefault(name, {}).update(values)
    daemon = ws.daemon(emu, config=sections)
    emu.wait_quiet(0.5)  # the first poll found nothing
    os.kill(daemon.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        digests = seed(emu, count, size, prefix=prefix)
        # Jitter makes the next poll due at most 1.1 poll periods after the last one.
        time.sleep(max(0.0, POLL_SECONDS * 1.1 + 0.2 - (time.monotonic() - stopped)))
        before = len(emu.request_log())
        emu_cpu = procfs.cpu_seconds(emu.pid)
        cpu_idle, switches_idle = daemon.cpu(), daemon.switches()
        rss_idle = daemon.memory()["VmRSS"]
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    started = time.time()
    with procfs.RssSampler(daemon.pid) as sampler:
        done = rig.wait_for_files(ws.inbox(), count, timeout, "every attachment stored")
        cpu = daemon.cpu() - cpu_idle
        switches = daemon.switches() - switches_idle
        emu_cpu = procfs.cpu_seconds(emu.pid) - emu_cpu
        wait_until(lambda: emu.unread() == 0, 60, interval=0.1, what="every message read")
        read = time.time()
    peak = daemon.memory()["VmHWM"]
    emu.wait_quiet(1.0)  # the poll's last list request (it found the list empty)
    requests = summarize(emu.request_log()[before:])
    verify_inbox(ws, digests)
    return ReceiveRun(
        messages=count,
        attachment_bytes=size,
        seconds=done - started,
        read_seconds=read - started,
        requests=requests,
        cpu_seconds=cpu,
        emulator_cpu_seconds=emu_cpu,
        rss_ready=rss_idle,
        rss_peak=peak,
        rss_samples=sampler.samples,
        switches=switches,
    )
