"""Health and the systemd watchdog tell a daemon that works from one that does not.

A loop that waits on purpose (the hourly maintenance) is healthy for as long as it said it would
wait; a loop whose passes keep failing on a bug is not, and then WATCHDOG=1 stops so that
systemd restarts the process; a gateway outage alone never stops the watchdog (a restart cannot
bring the gateway back). Each test runs the real ``as2sync run`` with a short
``health.max_loop_age_seconds`` and reads the notify socket as systemd would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonProcess, EmulatorProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e

MAX_LOOP_AGE = 2.0
WATCHDOG_USEC = "1000000"  # WATCHDOG=1 every 0.5 s while the loops are well


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path, "--no-rate-limit")
    emulator.start()
    yield emulator
    emulator.kill()


def _daemon(tmp_path: Path, emulator: EmulatorProcess, **health: float) -> DaemonProcess:
    config = write_config(
        tmp_path,
        emulator.base_url,
        health={"max_loop_age_seconds": MAX_LOOP_AGE, **health},
    )
    (tmp_path / "root" / "MYSTATION" / "ACME" / "outbox").mkdir(parents=True)
    return DaemonProcess(config, env={"WATCHDOG_USEC": WATCHDOG_USEC})


def _health(daemon: DaemonProcess) -> tuple[int, str]:
    result = as2sync("health", "-c", str(daemon.config))
    return result.returncode, result.stdout


def test_an_idle_maintenance_loop_stays_healthy_long_past_max_loop_age(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    daemon = _daemon(tmp_path, emulator)
    try:
        daemon.start()
        # The maintenance loop pruned once and sleeps for an hour: each check below comes
        # after more than max_loop_age since the previous one, five times over.
        for _ in range(5):
            time.sleep(MAX_LOOP_AGE)
            assert daemon.keeps_pinging(4 * MAX_LOOP_AGE)
            code, out = _health(daemon)
            assert code == 0, out
            assert out.strip() == "healthy"
        assert daemon.terminate() == 0
    finally:
        daemon.close()


def test_a_loop_failing_on_every_pass_is_unhealthy_and_stops_the_watchdog(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    daemon = _daemon(tmp_path, emulator)
    try:
        # Every pass of the inbound loop raises, as a bug would.
        daemon.start(failpoints="inbound.pass:raise")
        wait_until(lambda: _health(daemon)[0] == 1, 30, what="unhealthy")
        _code, out = _health(daemon)
        assert "inbound loop" in out
        assert "FailpointError" in out and "inbound.pass" in out  # its last error
        status = as2sync("status", "-c", str(daemon.config))
        assert "inbound loop" in status.stdout and "FailpointError" in status.stdout
        assert not daemon.keeps_pinging(4 * MAX_LOOP_AGE)  # systemd restarts it after WatchdogSec
        assert daemon.alive()  # the other loops still work meanwhile
        assert daemon.terminate() == 0
    finally:
        daemon.close()


def test_a_gateway_outage_never_stops_the_watchdog(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    # The outage shows in health after max_unreachable_seconds; restarting cannot help.
    daemon = _daemon(tmp_path, emulator, max_unreachable_seconds=3600)
    try:
        daemon.start()
        emulator.kill()
        (tmp_path / "root" / "MYSTATION" / "ACME" / "outbox" / "a.edi").write_bytes(b"ISA*a~")
        wait_until(lambda: "inbound.gateway_error" in daemon.output(), 30, what="a failed poll")
        for _ in range(3):  # the failing inbound loop goes well past max_loop_age
            time.sleep(MAX_LOOP_AGE)
            assert daemon.keeps_pinging(4 * MAX_LOOP_AGE)
        code, out = _health(daemon)
        assert code == 0, out
        assert daemon.terminate() == 0
    finally:
        daemon.close()
