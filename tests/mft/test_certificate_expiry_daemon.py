"""Certificate expiry as an operator sees it (issue 13; seed 002's lesson: an expired
certificate stops its partnership): ``as2sync run`` as a real process against the MFT emulator
logs ``certificate.expiring`` for a certificate within ``certificates.warn_days``, ``status``
(table and ``--json``) shows the days left per certificate, the Prometheus gauge has them per
alias, and ``health`` stays 0 until a certificate has expired, then fails naming it. A backend
without certificates (AS2 Gateway v1) shows no certificate section.

Expiry dates are chosen relative to now with hours to spare, so the whole days left are
known without asserting anything about how long the test takes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.mft.settings import CertificateSpec
from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import EmulatorSettings, Faults, PartnerSpec
from tests.e2e.harness import PASSWORD as V1_PASSWORD
from tests.e2e.harness import USER as V1_USER
from tests.e2e.harness import DaemonProcess, as2sync, free_port, wait_until, write_config
from tests.mft.conftest import PASSWORD, USER, MakeMft

pytestmark = pytest.mark.e2e

DAY = 86400.0
HOURS_TO_SPARE = 6 * 3600.0


def expiring_in(days: int) -> int:
    """Epoch ms of an expiry ``days`` whole days (and some hours) from now."""
    return int((time.time() + days * DAY + HOURS_TO_SPARE) * 1000)


def expired_since(days: int) -> int:
    return int((time.time() - days * DAY - HOURS_TO_SPARE) * 1000)


def status_json(config: Path) -> dict[str, Any]:
    result = as2sync("status", "--json", "-c", str(config))
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def mft_config(
    tmp_path: Path,
    emu: RunningMftEmulator,
    *,
    certificates: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    return write_config(
        tmp_path,
        emu.base_url,
        gateway={"api": "mftgateway", "username": USER, "password": PASSWORD},
        certificates=certificates or {},
        metrics=metrics or {},
    )


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.close()


def start(daemons: list[DaemonProcess], config: Path) -> DaemonProcess:
    daemon = DaemonProcess(config)
    daemons.append(daemon)
    daemon.start()
    wait_until(lambda: "certificates" in status_json(config), timeout=60, what="certificates")
    return daemon


def logged(daemon: DaemonProcess, event: str) -> list[dict[str, Any]]:
    found = []
    for line in daemon.log_lines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


def test_a_certificate_within_warn_days_is_warned_shown_and_measured_but_healthy(
    make_mft: MakeMft, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu = make_mft()
    emu.switches.update(
        certificates=[
            CertificateSpec("soon", "TRUST", expiring_in(10), "ACME", ("ACME",)),
            CertificateSpec("mid", "TRUST", expiring_in(45), "BETA", ("BETA",)),
            CertificateSpec("later", "IDENTITY", expiring_in(100), "ME", ("MYSTATION",)),
        ]
    )
    port = free_port()
    config = mft_config(
        tmp_path, emu, certificates={"warn_days": 60}, metrics={"listen": f"127.0.0.1:{port}"}
    )
    daemon = start(daemons, config)

    report = status_json(config)
    by_alias = {c["alias"]: c for c in report["certificates"]}
    assert [c["alias"] for c in report["certificates"]] == ["soon", "mid", "later"]
    assert by_alias["soon"]["days_left"] == 10
    assert by_alias["soon"]["expiring"] is True
    assert by_alias["soon"]["expired"] is False
    assert by_alias["soon"]["belongs_to"] == ["ACME"]
    assert by_alias["mid"]["expiring"] is True  # within 60 days, not within the default 30
    assert by_alias["later"]["days_left"] == 100
    assert by_alias["later"]["expiring"] is False
    assert report["daemon"]["healthy"] is True

    text = as2sync("status", "-c", str(config)).stdout
    assert "certificates:" in text
    (soon_line,) = [line for line in text.splitlines() if line.startswith("soon ")]
    assert " 10 " in soon_line and "expiring" in soon_line

    warned = logged(daemon, "certificate.expiring")
    assert sorted((w["alias"], w["days_left"], w["level"]) for w in warned) == [
        ("mid", 45, "warning"),
        ("soon", 10, "warning"),
    ]
    assert not logged(daemon, "certificate.expired")

    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    soon_type = by_alias["soon"]["type"]
    assert f'as2sync_certificate_days_left{{alias="soon",type="{soon_type}"}} 10.0' in metrics
    assert 'as2sync_certificate_days_left{alias="later"' in metrics

    health = as2sync("health", "-c", str(config))
    assert health.returncode == 0, health.stdout
    assert daemon.terminate() == 0


def test_an_expired_certificate_makes_health_fail_naming_it(
    make_mft: MakeMft, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu = make_mft()
    emu.switches.update(
        certificates=[
            CertificateSpec("gone", "TRUST", expired_since(2), "OLDCO", ("OLDCO",)),
            CertificateSpec("fine", "IDENTITY", expiring_in(300), "ME", ("MYSTATION",)),
        ]
    )
    config = mft_config(tmp_path, emu)
    daemon = start(daemons, config)

    health = as2sync("health", "-c", str(config))
    assert health.returncode == 1
    (reason,) = [line for line in health.stdout.splitlines() if "certificate" in line]
    assert "gone" in reason and "OLDCO" in reason and "expired" in reason
    assert "fine" not in health.stdout

    report = status_json(config)
    assert report["daemon"]["healthy"] is False
    gone = {c["alias"]: c for c in report["certificates"]}["gone"]
    assert gone["expired"] is True
    assert gone["days_left"] == -3  # whole days, rounded down: 2 days and some hours ago
    assert "EXPIRED" in as2sync("status", "-c", str(config)).stdout
    assert [e["alias"] for e in logged(daemon, "certificate.expired")] == ["gone"]
    assert daemon.terminate() == 0


def test_a_certificate_reading_that_fails_at_start_is_logged_and_the_daemon_stays_healthy(
    make_mft: MakeMft, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Only the certificate endpoint refuses (500): the maintenance pass still succeeds (no
    failing loop in health), the failure is logged, and no certificate section is invented."""
    emu = make_mft()
    emu.switches.update(
        certificates=[CertificateSpec("gone", "TRUST", expired_since(2), "OLDCO", ("OLDCO",))]
    )
    emu.state.set_faults(Faults(error_before=1.0, endpoints=("certificate",)))
    config = mft_config(tmp_path, emu)
    daemon = DaemonProcess(config)
    daemons.append(daemon)
    daemon.start()
    wait_until(
        lambda: bool(logged(daemon, "maintenance.certificates_unavailable")),
        timeout=60,
        what="the failed reading logged",
    )
    report = status_json(config)
    assert "certificates" not in report
    assert not [p for p in report["daemon"]["problems"] if "maintenance" in p]
    assert not logged(daemon, "maintenance.gateway_error")
    assert daemon.terminate() == 0


@pytest.fixture
def v1() -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(
        user=V1_USER,
        password=V1_PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec("ACME")],
        rate_limit=None,
    )
    with running_emulator(settings) as emu:
        yield emu


def test_a_backend_without_certificates_shows_no_certificate_section(
    v1: RunningEmulator, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    port = free_port()
    config = write_config(tmp_path, v1.base_url, metrics={"listen": f"127.0.0.1:{port}"})
    daemon = DaemonProcess(config)
    daemons.append(daemon)
    daemon.start()
    wait_until(lambda: status_json(config)["last_poll_at"] is not None, timeout=60, what="a poll")
    report = status_json(config)
    assert "certificates" not in report
    assert "certificates:" not in as2sync("status", "-c", str(config)).stdout
    assert (
        "as2sync_certificate_days_left{" not in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    )
    assert as2sync("health", "-c", str(config)).returncode == 0
    assert daemon.terminate() == 0
