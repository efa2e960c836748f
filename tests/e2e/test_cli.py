"""The command line as a user meets it: help, check, exit codes, no tracebacks, no secrets."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import PartnerSpec
from tests.e2e.harness import PASSWORD, DaemonProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command", ["run", "check", "status", "messages", "retry", "send", "health", "emulator", "demo"]
)
def test_every_subcommand_has_help(command: str) -> None:
    result = as2sync(command, "--help")
    assert result.returncode == 0
    assert "usage: as2sync" in result.stdout


def test_check_of_the_example_config_names_the_env_var_and_the_missing_folder() -> None:
    result = as2sync("check", "-c", str(REPO / "config.example.yaml"))
    assert result.returncode == 2
    assert "gateway.password: environment variable AS2SYNC_PASSWORD is not set" in result.stderr
    assert "folders.root: directory /srv/as2 does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_is_found_through_the_environment_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    result = as2sync("check", env={"AS2SYNC_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_check_lists_the_folder_pairs(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    (tmp_path / "root" / "MYSTATION" / "ACME").mkdir(parents=True)
    result = as2sync("check", "-c", str(config))
    assert result.returncode == 0
    assert "MYSTATION -> ACME" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_check_online_confirms_stations_and_partners(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url)
    (tmp_path / "root" / "MYSTATION" / "ACME").mkdir(parents=True)
    raw = yaml.safe_load(config.read_text())
    raw["gateway"]["username"], raw["gateway"]["password"] = "demo@example.com", "demo"
    config.write_text(yaml.safe_dump(raw))
    result = as2sync("check", "--online", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "online check OK" in result.stdout

    emulator.state.add_partner(PartnerSpec("PAUSED", pause_outgoing=True))
    (tmp_path / "root" / "MYSTATION" / "PAUSED").mkdir(parents=True)
    (tmp_path / "root" / "NOSTATION" / "ACME").mkdir(parents=True)
    (tmp_path / "root" / "MYSTATION" / "NOBODY").mkdir(parents=True)
    result = as2sync("check", "--online", "-c", str(config))
    assert result.returncode == 1
    assert "station 'NOSTATION' does not exist on the gateway" in result.stderr
    assert "partner 'NOBODY' does not exist on the gateway" in result.stderr
    assert "outgoing traffic to partner 'PAUSED' is paused" in result.stderr


def test_check_online_with_wrong_password_says_so_without_echoing_it(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url)  # the harness password is not "demo"
    result = as2sync("check", "--online", "-c", str(config))
    assert result.returncode == 2
    assert "rejected the credentials" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_unreachable_gateway_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    raw = yaml.safe_load(config.read_text())
    raw["gateway"]["timeout_seconds"] = 2
    config.write_text(yaml.safe_dump(raw))
    result = as2sync("check", "--online", "-c", str(config))
    assert result.returncode == 1
    assert "as2sync:" in result.stderr
    assert "Traceback" not in result.stderr


SECRET_IN_BROKEN_YAML = "Hunter2: Secret"


def _break_the_password_line(config: Path) -> None:
    text = config.read_text()
    assert f"password: {PASSWORD}" in text
    config.write_text(text.replace(f"password: {PASSWORD}", f"password: {SECRET_IN_BROKEN_YAML}"))


def test_check_of_malformed_yaml_names_the_place_but_never_prints_the_line(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    _break_the_password_line(config)
    result = as2sync("check", "-c", str(config))
    assert result.returncode == 2
    assert "gateway.password:" in result.stderr
    assert "not valid YAML at line" in result.stderr
    assert "Hunter2" not in result.stdout + result.stderr
    assert "Secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_reload_of_malformed_yaml_logs_the_place_but_never_the_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        _break_the_password_line(config)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: any("daemon.reload_failed" in line for line in daemon.log_lines()),
            20,
            what="daemon.reload_failed",
        )
        (failed,) = [
            json.loads(line) for line in daemon.log_lines() if "daemon.reload_failed" in line
        ]
        (problem,) = failed["problems"]
        assert problem.startswith("gateway.password: ")
        assert "line" in problem
        assert daemon.alive()  # a bad reload keeps the running configuration
        assert daemon.terminate() == 0
        assert "Hunter2" not in daemon.output()
        assert "Secret" not in daemon.output()
    finally:
        daemon.close()


@pytest.mark.parametrize("command", [("check",), ("run", "--once")])
def test_overlapping_routes_are_refused_by_check_and_at_start_up(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (tmp_path / "root" / "MYSTATION" / "ACME").mkdir(parents=True)
    routes = [
        {"path": str(shared), "station": "MYSTATION", "partner": "ACME"},
        {"path": str(shared), "station": "MYSTATION", "partner": "LOOP"},
    ]
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", routes=routes)  # type: ignore[arg-type]
    result = as2sync(*command, "-c", str(config))
    assert result.returncode == 2
    assert "routes[0]: MYSTATION/ACME also has the folder" in result.stderr
    assert "routes[1].path:" in result.stderr
    assert "same folder as routes[0].path" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was started


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Error:" not in result.stderr  # e.g. "UnicodeDecodeError: ..." after a traceback


def test_a_config_file_that_is_not_utf8_is_a_configuration_problem(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    config.write_bytes(config.read_bytes() + b"# caf\xe9\n")
    result = as2sync("check", "-c", str(config))
    assert result.returncode == 2
    assert "is not UTF-8 text (line" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize("where", ["password_file", "credential"])
def test_a_secret_file_that_is_not_utf8_is_a_configuration_problem(
    tmp_path: Path, where: str
) -> None:
    secret = tmp_path / "secrets" / "password"
    secret.parent.mkdir()
    secret.write_bytes(b"Geheim\xfc\xfc\n")
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    raw = yaml.safe_load(config.read_text())
    del raw["gateway"]["password"]
    env = {}
    if where == "password_file":
        raw["gateway"]["password_file"] = str(secret)
    else:
        env["CREDENTIALS_DIRECTORY"] = str(secret.parent)
    config.write_text(yaml.safe_dump(raw))
    result = as2sync("check", "-c", str(config), env=env)
    assert result.returncode == 2
    key = "gateway.password_file" if where == "password_file" else "gateway.password"
    assert f"{key}: {secret} is not UTF-8 text" in result.stderr
    assert "Geheim" not in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://[::1/v1", "is not a valid URL"),
        ("https://gateway.example:99999/v1", "is not a valid URL"),
        ("https://me:Hunter2@gateway.example/v1", "must not hold a user name or password"),
    ],
)
def test_an_unparsable_gateway_url_is_a_configuration_problem(
    tmp_path: Path, url: str, message: str
) -> None:
    config = write_config(tmp_path, url)
    result = as2sync("check", "-c", str(config))
    assert result.returncode == 2
    assert f"gateway.url: {message}" in result.stderr
    assert "Hunter2" not in result.stderr
    _no_traceback(result)


def test_a_metrics_port_in_use_is_a_configuration_problem(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path, "http://127.0.0.1:9/v1", metrics={"listen": f"127.0.0.1:{port}"}
        )
        result = as2sync("run", "--once", "-c", str(config))
    assert result.returncode == 2  # exit 1 would make systemd restart it in a loop
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port}" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize("command", [("status",), ("run", "--once")])
def test_a_non_numeric_ledger_schema_version_is_a_ledger_problem(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", inbound={"enabled": False})
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    with sqlite3.connect(tmp_path / "state" / "ledger.sqlite3") as db:
        db.execute("UPDATE meta SET value = 'one' WHERE key = 'schema_version'")
    result = as2sync(*command, "-c", str(config))
    assert result.returncode == 4
    assert "schema version" in result.stderr
    _no_traceback(result)
