"""The daemon as operators run it: readiness, watchdog, signals, lock, health, secrets."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import running_emulator
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec
from tests.e2e.harness import PASSWORD, USER, DaemonProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu() -> Iterator[object]:
    settings = EmulatorSettings(
        user=USER,
        password=PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec("ACME"), PartnerSpec("LOOP", behaviour="echo")],
        rate_limit=None,
        delivery_delay=0.1,
        echo_delay=0.2,
    )
    with running_emulator(settings) as running:
        yield running


@pytest.fixture
def daemon(tmp_path: Path, emu: object) -> Iterator[DaemonProcess]:
    config = write_config(tmp_path, emu.base_url)  # type: ignore[attr-defined]
    (tmp_path / "root" / "MYSTATION" / "ACME" / "outbox").mkdir(parents=True)
    proc = DaemonProcess(config, env={"WATCHDOG_USEC": "1000000"})
    yield proc
    proc.close()


def test_ready_then_status_and_watchdog_over_the_notify_socket(daemon: DaemonProcess) -> None:
    daemon.start()

    def got_watchdog() -> bool:
        daemon._drain_notify()
        return any("WATCHDOG=1" in n for n in daemon.notifications)

    wait_until(got_watchdog, 10, what="WATCHDOG=1")
    ready = next(n for n in daemon.notifications if "READY=1" in n)
    assert "STATUS=backlog" in ready
    assert daemon.terminate() == 0
    daemon._drain_notify()
    assert any("STOPPING=1" in n for n in daemon.notifications)


def test_sigterm_and_sigint_exit_zero(daemon: DaemonProcess) -> None:
    daemon.start()
    assert daemon.terminate() == 0
    daemon.start()
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.wait(30) == 0


def test_second_instance_on_the_same_state_dir_is_refused(daemon: DaemonProcess) -> None:
    daemon.start()
    second = as2sync("run", "-c", str(daemon.config))
    assert second.returncode == 3
    assert "already running" in second.stderr
    assert daemon.alive()


def test_health_is_ok_while_running_and_fails_once_stopped(daemon: DaemonProcess) -> None:
    daemon.start()
    wait_until(
        lambda: as2sync("health", "-c", str(daemon.config)).returncode == 0, 15, what="healthy"
    )
    daemon.terminate()
    result = as2sync("health", "-c", str(daemon.config))
    assert result.returncode == 1
    assert "not running" in result.stdout


def test_health_without_a_daemon_says_so(tmp_path: Path, emu: object) -> None:
    config = write_config(tmp_path, emu.base_url)  # type: ignore[attr-defined]
    result = as2sync("health", "-c", str(config))
    assert result.returncode == 1
    assert "no heartbeat" in result.stdout


def test_sighup_reload_names_keys_that_need_a_restart(daemon: DaemonProcess) -> None:
    daemon.start()
    text = daemon.config.read_text().replace("poll_seconds: 0.5", "poll_seconds: 0.7")
    daemon.config.write_text(text.replace("level: info", "level: debug"))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "daemon.reload_needs_restart" in daemon.output(), 10, what="reload log")
    assert '"inbound"' in daemon.output()
    assert daemon.alive()


def test_logs_never_contain_the_password_or_the_token(daemon: DaemonProcess, emu: object) -> None:
    daemon.config.write_text(daemon.config.read_text().replace("level: info", "level: debug"))
    daemon.start()
    outbox = daemon.config.parent / "root" / "MYSTATION" / "ACME" / "outbox"
    (outbox / "a.edi").write_text("ISA*00*data~")
    wait_until(lambda: any((outbox.parent / "sent").glob("a*")), 20, what="file sent")
    state = emu.state  # type: ignore[attr-defined]
    tokens = state.issued_tokens()
    assert tokens  # the daemon logged in at least once
    daemon.terminate()
    text = daemon.output()
    assert PASSWORD not in text
    for token in tokens:
        assert token not in text
    events = [json.loads(line)["event"] for line in daemon.log_lines()]  # JSON when not a TTY
    assert "outbound.sent" in events


def test_run_once_sends_receives_and_exits(tmp_path: Path, emu: object) -> None:
    config = write_config(tmp_path, emu.base_url)  # type: ignore[attr-defined]
    outbox = tmp_path / "root" / "MYSTATION" / "ACME" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "po.edi").write_text("UNB+UNOA:1+X+Y'")
    state = emu.state  # type: ignore[attr-defined]
    state.seed_received(station="MYSTATION", partner="ACME", attachments=[("in.edi", b"hello")])
    started = time.monotonic()
    result = as2sync("run", "--once", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert (outbox.parent / "sent" / "po.edi").exists()
    assert (outbox.parent / "inbox" / "in.edi").read_bytes() == b"hello"
    assert len(state.submissions()) == 1


def test_sigterm_mid_transfer_exits_zero_and_the_restart_finishes_the_work(
    tmp_path: Path, emu: object
) -> None:
    from as2sync.emulator.settings import Faults

    state = emu.state  # type: ignore[attr-defined]
    config = write_config(tmp_path, emu.base_url)  # type: ignore[attr-defined]
    pair = tmp_path / "root" / "MYSTATION" / "ACME"
    (pair / "outbox").mkdir(parents=True)
    for n in range(6):
        (pair / "outbox" / f"out-{n}.edi").write_bytes(b"ISA*%d~" % n)
        state.seed_received(
            station="MYSTATION", partner="ACME", attachments=[(f"in-{n}.edi", b"IN%d" % n)]
        )
    state.set_faults(Faults(latency=0.3))  # every request is slow: SIGTERM lands mid-transfer
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        time.sleep(1.0)
        assert daemon.terminate(20) == 0
        state.set_faults(Faults())
        daemon.start()
        wait_until(lambda: len(list((pair / "sent").glob("*.edi"))) == 6, 30, what="all sent")
        wait_until(lambda: len(list((pair / "inbox").glob("*.edi"))) == 6, 30, what="all stored")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    names = sorted(name for s in state.submissions() for name, _ in s.attachments)
    assert names == [f"out-{n}.edi" for n in range(6)]
    assert sorted(p.name for p in (pair / "inbox").iterdir() if p.is_file()) == [
        f"in-{n}.edi" for n in range(6)
    ]
    assert all(state.is_read(mid) for mid in state.received_ids())


def test_systemd_credential_for_the_daemon_and_health_without_any_password(
    tmp_path: Path, emu: object
) -> None:
    import yaml

    config = write_config(tmp_path, emu.base_url)  # type: ignore[attr-defined]
    raw = yaml.safe_load(config.read_text())
    del raw["gateway"]["password"]
    config.write_text(yaml.safe_dump(raw))
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "password").write_text(PASSWORD + "\n")
    daemon = DaemonProcess(config, env={"CREDENTIALS_DIRECTORY": str(creds)})
    try:
        daemon.start()  # logs in with the credential systemd's LoadCredential= would provide
        wait_until(lambda: as2sync("health", "-c", str(config)).returncode == 0, 15, what="health")
        assert as2sync("status", "-c", str(config)).returncode == 0
        assert daemon.terminate() == 0
    finally:
        daemon.close()
