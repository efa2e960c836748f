"""One outbound run, observed from outside: drop files, wait until all are in sent/, collect the
emulator's submissions, the request log and the daemon's CPU time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks import rig
from benchmarks.stats import RequestSummary, Sustained, sustained


@dataclass(frozen=True)
class SendRun:
    files: int
    dropped_at: float
    done_at: float  # every file seen in sent/
    submissions: list[dict[str, Any]]  # the emulator's records, oldest first
    requests: RequestSummary
    cpu_seconds: float  # the daemon's, from the drop to done
    duplicates: int
    switches: int  # the daemon's context switches, from the drop to done

    @property
    def submit_times(self) -> list[float]:
        return sorted(s["created_at"] for s in self.submissions)

    @property
    def files_per_message(self) -> float:
        return self.files / max(1, len(self.submissions))

    def sustained_messages(self) -> Sustained | None:
        return sustained(self.submit_times)

    def sustained_files_per_second(self) -> float | None:
        """Files carried by the messages of the sustained span, per second of it."""
        span = self.sustained_messages()
        if span is None or span.seconds <= 0:
            return None
        ordered = sorted(self.submissions, key=lambda s: s["created_at"])
        # The span runs from submission `first` to `first + count`: the `count` intervals are
        # closed by submissions first+1 .. first+count, which carry the files sent in it.
        carried = ordered[span.first + 1 : span.first + span.count + 1]
        return sum(len(s["attachments"]) for s in carried) / span.seconds

    @property
    def first_submit_delay(self) -> float:
        return min(self.submit_times) - self.dropped_at

    @property
    def elapsed(self) -> float:
        return self.done_at - self.dropped_at


def send_files(
    ws: rig.Workspace,
    emu: rig.Emulator,
    daemon: rig.Daemon,
    files: int,
    size: int,
    *,
    partner: str = rig.PARTNER,
    timeout: float = 600,
    prefix: str = "INV",
) -> SendRun:
    """Drop ``files`` files of ``size`` bytes at once and wait until all are in sent/.

    Raises AssertionError unless every file was submitted exactly once (a benchmark of a
    client that loses or duplicates files would be meaningless)."""
    batch = [(f"{prefix}-{i:05d}.edi", rig.payload(i, size)) for i in range(files)]
    cpu_before, switches_before = daemon.cpu(), daemon.switches()
    dropped = rig.drop(ws.outbox(partner), batch)
    done = rig.wait_for_files(ws.sent(partner), files, timeout, f"{files} files in sent/")
    cpu = daemon.cpu() - cpu_before
    switches = daemon.switches() - switches_before
    submissions = [s for s in emu.submissions() if s["partner"] == partner]
    sent_names = sorted(a["name"] for s in submissions for a in s["attachments"])
    if sent_names != sorted(name for name, _data in batch):
        raise AssertionError(f"{len(sent_names)} files submitted for {files} dropped")
    return SendRun(
        files=files,
        dropped_at=dropped,
        done_at=done,
        submissions=submissions,
        requests=emu.requests(),
        cpu_seconds=cpu,
        duplicates=len(emu.snapshot()["duplicate_submissions"]),
        switches=switches,
    )
