"""SIGKILL the daemon at 30+ moments of a mixed run, and the gateway too: nothing lost or twice.

Both directions run at once (three station/partner pairs, files out, messages in with several
attachments, hostile names and 206 truncations). The daemon is killed:

* at every failpoint found in the source (``failpoint("...")`` under ``as2sync/``), each twice
  with a seeded hit count, so a failpoint added later is crashed at without editing this test;
* at seeded random moments after it reported READY=1;

and restarted each time, with more work dropped and seeded before every start. In the middle
the *emulator* is SIGKILLed and restarted from its ``--data`` directory (the gateway vanishes
without a goodbye and comes back with its state). At the end every file was submitted exactly
once and lies in sent/, every attachment is stored exactly once, byte-identical, in the right
inbox, and every message is marked read (:meth:`MixedLoad.problems`).

The seed is printed in every assertion message; rerun a failure with
``CRASH_MATRIX_SEED=<seed> pytest tests/e2e/test_crash_matrix.py``.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import as2sync
from tests.e2e.harness import DaemonProcess, EmulatorProcess, wait_until, write_config
from tests.e2e.mixed import MixedLoad, emulator_args, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Duplicate name")]

SEED = int(os.environ.get("CRASH_MATRIX_SEED", "20261123"))
RANDOM_KILLS = 8
ROUNDS_PER_FAILPOINT = 2
FAILPOINT_TIMEOUT = 5.0  # a point not reached by then: the daemon is killed anyway
_FAILPOINT_CALL = re.compile(r"""failpoint\(\s*["']([\w.]+)["']\s*\)""")


def failpoints_in_source() -> list[str]:
    """Every failpoint name used in the package, sorted."""
    names: set[str] = set()
    package = Path(as2sync.__file__).parent
    for path in package.rglob("*.py"):
        if path == package / "failpoints.py":
            continue  # its docstring shows an example call
        names.update(_FAILPOINT_CALL.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emu = EmulatorProcess(
        tmp_path,
        *emulator_args(),
        "--no-rate-limit",
        "--delivery-delay", "0.1",
        "--batch-limit", str(40 * 1024),
    )  # fmt: skip
    emu.start()
    yield emu
    emu.kill()


def test_failpoints_are_found_in_the_source() -> None:
    points = failpoints_in_source()
    assert "outbound.after_202" in points and "inbound.after_link" in points
    assert len(points) >= 10, points


def test_sigkill_of_daemon_and_gateway_at_30_moments_loses_and_duplicates_nothing(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    rng = random.Random(SEED)
    ctx = f"seed {SEED} (rerun: CRASH_MATRIX_SEED={SEED})"
    config = write_config(
        tmp_path,
        emulator.base_url,
        gateway={"rate_limit": {"requests": 100_000, "per_seconds": 1}, "timeout_seconds": 5},
        outbound={
            "settle_seconds": 0.05,
            "scan_seconds": 1,
            "track_seconds": 0.5,
            "reconcile_grace_seconds": 1,
            "max_in_flight": 3,
        },
        inbound={"poll_seconds": 0.1},
    )
    load = MixedLoad(tmp_path / "root", emulator, rng)
    daemon = DaemonProcess(config)
    schedule = [
        f"{point}@{rng.randint(1, 2)}"
        for _ in range(ROUNDS_PER_FAILPOINT)
        for point in failpoints_in_source()
    ]
    rng.shuffle(schedule)
    kills: list[str] = []  # what happened at each start, for the failure message
    fired: set[str] = set()

    def more_work() -> None:
        load.drop(rng.randint(3, 6), sizes=(50, 3_000, 20_000))
        load.seed(rng.randint(3, 6), sizes=(100, 5_000, 15_000))  # 206 truncations
        load.seed_big(18_000)  # over the batch limit: one by one, then an explicit mark-read

    try:
        for i, spec in enumerate(schedule):
            more_work()
            daemon.start(failpoints=spec, wait_ready=False)
            try:
                daemon.wait(FAILPOINT_TIMEOUT)
            except subprocess.TimeoutExpired:
                daemon.kill()
                kills.append(f"{spec}: not reached")
            else:
                assert daemon.proc is not None
                assert daemon.proc.returncode == -9, f"{ctx}: exit {daemon.proc.returncode}"
                fired.add(spec.split("@")[0])
                kills.append(f"{spec}: fired")
            if i == len(schedule) // 2:
                # The gateway dies too, mid-run, while the daemon is busy; then comes back.
                more_work()
                daemon.start()
                time.sleep(rng.uniform(0.2, 1.0))
                emulator.kill()
                time.sleep(rng.uniform(0.5, 1.5))
                emulator.start()  # same port, same --data: nothing it accepted is forgotten
                time.sleep(rng.uniform(0.2, 1.0))
                daemon.kill()
                kills.append("emulator killed and restarted under a running daemon")
        for _ in range(RANDOM_KILLS):
            more_work()
            daemon.start()
            delay = rng.uniform(0.0, 1.5)
            time.sleep(delay)
            daemon.kill()
            kills.append(f"random kill {delay:.2f}s after READY")
        # The gateway dies while the daemon is down, and once more while both restart.
        emulator.kill()
        emulator.start()
        more_work()
        daemon.start()
        wait_done(load, 90, f"{ctx}; kills: {kills}", lambda: daemon.output()[-6000:])
        wait_until(lambda: not load.problems(), 15, interval=0.5, what="nothing half-done")
        assert daemon.terminate() == 0, f"{ctx}: {daemon.output()[-3000:]}"
    finally:
        daemon.close()

    assert len(kills) >= 30 + 1, kills
    problems = load.problems()
    assert not problems, f"{ctx}: {problems}; kills: {kills}\n{daemon.output()[-4000:]}"
    assert len(load.files) + load.attachments >= 300, f"{ctx}: too little work"
    # Every failpoint killed the daemon at least once (each is armed twice, at hit 1 or 2).
    never = set(failpoints_in_source()) - fired
    assert not never, f"{ctx}: never fired: {never}; {kills}"
