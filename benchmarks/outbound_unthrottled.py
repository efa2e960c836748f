"""Benchmark 3: outbound with the rate limit off -- what the daemon itself costs per file."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks import procfs, rig
from benchmarks.context import Context, say
from benchmarks.report import Figure, Section
from benchmarks.sending import send_files
from tests.e2e.harness import PASSWORD, USER

WHAT = """
The same drop of files with the limit switched off in the emulator (`--no-rate-limit`) and in
the daemon (`gateway.rate_limit` raised out of the way), `max_in_flight` at its default of 2.
Files/s is measured from the first submission to the last file in `sent/` (the settle time
before the first send is not the daemon's speed). CPU is the daemon process's user + system
time (`/proc/<pid>/stat`) from the drop until every file is in `sent/`, context switches its
threads' (`/proc/<pid>/task/*/status`) over the same span. The bound is a plain
httpx loop posting the same files to the same emulator with the same concurrency (2) and doing
nothing else: no ledger, no fsync, no archive.
"""


def _raw_posts(emu: rig.Emulator, files: list[tuple[str, bytes]], concurrency: int) -> float:
    """Seconds a bare client needs to POST ``files`` (``concurrency`` at a time)."""
    with httpx.Client(base_url=emu.base_url, timeout=60) as client:
        token = client.post("/authorize", json={"username": USER, "password": PASSWORD})
        headers = {"Authorization": token.json()["token"]}

        def post(item: tuple[str, bytes]) -> None:
            name, data = item
            response = client.post(
                f"/message/{rig.STATION}/{rig.PARTNER}",
                content=data,
                headers={**headers, "Name": name, "Content-Type": "application/edi-x12"},
            )
            response.raise_for_status()

        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, files))
        return time.monotonic() - started


def run(ctx: Context) -> Section:
    section = Section("outbound-unlimited", "3. Outbound without a rate limit", WHAT)
    n = ctx.sizes.out_unthrottled_files
    size = ctx.sizes.out_file_bytes
    say(f"{n} files, no limit")
    with ctx.workspace("out-unlimited") as ws:
        emu = ws.emulator("--no-rate-limit")
        daemon = ws.daemon(emu, config={"gateway": rig.UNLIMITED_CLIENT})
        emu_cpu = procfs.cpu_seconds(emu.pid)
        result = send_files(ws, emu, daemon, n, size)
        emu_cpu = procfs.cpu_seconds(emu.pid) - emu_cpu
        say("raw httpx posts of the same files")
        raw_seconds = _raw_posts(
            emu, [(f"RAW-{i:05d}.edi", rig.payload(i, size)) for i in range(n)], concurrency=2
        )
    sending = result.done_at - min(result.submit_times)
    rate = n / sending
    raw_rate = n / raw_seconds
    section.add(Figure("files/s", rate, "files/s", bound=raw_rate))
    section.add(Figure("daemon CPU per file", 1000 * result.cpu_seconds / n, "ms"))
    section.add(
        Figure(
            "daemon context switches per file",
            result.switches / n,
            "",
            note="steadier than CPU on a shared machine: a regression shows here too",
        )
    )
    section.details.append(
        f"{n} files of {size} bytes sent in {sending:.1f} s (first submission "
        f"{result.first_submit_delay:.2f} s after the drop); daemon CPU {result.cpu_seconds:.1f} s "
        f"in {result.elapsed:.1f} s wall, the emulator's {emu_cpu:.1f} s; "
        f"requests: {result.requests.describe()}"
    )
    section.details.append(
        f"raw httpx posts: {n} in {raw_seconds:.1f} s = {raw_rate:.0f} files/s (the bound)"
    )
    ctx.board["outbound.unlimited"] = result
    return section
