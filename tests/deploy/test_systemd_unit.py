"""deploy/systemd/as2sync.service: valid for systemd 252, hardened, and matching the daemon.

`systemd-analyze verify` exits 0 on unknown keys and unparsable values (it only logs them and
carries on), so any output on stderr counts as a failure here. It also checks that ExecStart's
binary exists and is executable; the unit points at /opt/as2sync/bin/as2sync, which is not
installed on a test machine, so a copy in tmp_path has only that path swapped for a real
executable (and /bin/kill too, where procps is missing). Every other line is verified as
shipped. Neither command needs systemd as PID 1. That the daemon really runs inside this
sandbox is checked by deploy/docker/systemd-test.sh (`make docker-test`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from as2sync.cli.exits import ExitCode
from as2sync.config import Config

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "as2sync.service"
SHIPPED_BINARY = "/opt/as2sync/bin/as2sync"
MAX_EXPOSURE = 2.0

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (.ci/run installs the Debian systemd package)",
)


def service_section(text: str) -> dict[str, list[str]]:
    """The [Service] section as key -> values in file order (systemd keys may repeat)."""
    section = ""
    values: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def seconds(timespan: str) -> float:
    """A systemd time span of the forms used in the unit: 45, 45s, 5min, 1min 30s."""
    units = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", timespan):
        total += float(number) * units[unit or "s"]
    return total


def unit_copy_for_verify(tmp_path: Path) -> Path:
    """The unit with only binaries that are missing on this machine swapped for real ones.

    ExecStart's /opt/as2sync/bin/as2sync becomes this venv's as2sync (or /bin/true). /bin/kill
    (ExecReload) comes from procps, which minimal CI images may lack; only then is it swapped.
    Arguments and every other line stay as shipped.
    """
    venv_binary = Path(sys.executable).parent / "as2sync"
    binary = str(venv_binary) if venv_binary.is_file() else "/bin/true"
    text = UNIT.read_text(encoding="utf-8")
    shipped = f"ExecStart={SHIPPED_BINARY} "
    assert text.count(shipped) == 1, f"expected exactly one '{shipped}...' line"
    text = text.replace(shipped, f"ExecStart={binary} ")
    if not Path("/bin/kill").is_file():
        text = text.replace(
            "ExecReload=/bin/kill ", f"ExecReload={shutil.which('kill') or '/bin/true'} "
        )
    copy = tmp_path / "as2sync.service"
    copy.write_text(text, encoding="utf-8")
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "--no-pager", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
        check=False,
    )


@needs_systemd_analyze
def test_unit_passes_systemd_analyze_verify_without_any_message(tmp_path: Path) -> None:
    result = analyze("verify", str(unit_copy_for_verify(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout == "", result.stdout


@needs_systemd_analyze
def test_verify_reports_unknown_keys_and_bad_values_only_on_stderr(tmp_path: Path) -> None:
    # Guards the premise of the test above: if verify ever stopped reporting these on stderr,
    # an empty stderr would prove nothing.
    copy = unit_copy_for_verify(tmp_path)
    text = copy.read_text(encoding="utf-8")
    copy.write_text(
        text.replace("[Service]\n", "[Service]\nWatchdogSecs=60\nRestart=sometimes\n", 1),
        encoding="utf-8",
    )
    result = analyze("verify", str(copy))
    assert result.returncode == 0
    assert "Unknown key 'WatchdogSecs'" in result.stderr
    assert "restart specifier, ignoring: sometimes" in result.stderr


@needs_systemd_analyze
def test_unit_exposure_score_is_below_threshold(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", str(unit_copy_for_verify(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, f"no overall exposure level in:\n{result.stdout}"
    score = float(match.group(1))
    assert score < MAX_EXPOSURE, f"exposure {score} >= {MAX_EXPOSURE}:\n{result.stdout}"


def test_unit_speaks_the_daemons_notify_protocol_and_reloads_with_sighup() -> None:
    service = service_section(UNIT.read_text(encoding="utf-8"))
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert seconds(service["WatchdogSec"][-1]) > 0
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecStart"] == [f"{SHIPPED_BINARY} run -c /etc/as2sync/config.yaml"]


def test_stop_timeout_outlasts_the_daemons_default_shutdown_timeout() -> None:
    # systemd sends SIGKILL after TimeoutStopSec; the daemon needs its whole shutdown
    # timeout to let in-flight sends finish, or the ledger is left to reconcile them.
    service = service_section(UNIT.read_text(encoding="utf-8"))
    shutdown_timeout = Config.model_fields["shutdown_timeout_seconds"].default
    assert seconds(service["TimeoutStopSec"][-1]) > float(shutdown_timeout) + 5


def test_state_directory_is_the_configs_default_state_dir_and_password_is_a_credential() -> None:
    service = service_section(UNIT.read_text(encoding="utf-8"))
    state_dir = Config.model_fields["state_dir"].default
    assert Path("/var/lib") / service["StateDirectory"][0] == state_dir
    assert service["LoadCredential"] == ["password:/etc/as2sync/password"]
    assert service["ProtectSystem"] == ["strict"]
    assert "/srv/as2" in service["ReadWritePaths"][0].split()


def test_restart_is_prevented_exactly_for_the_exit_codes_a_restart_cannot_fix() -> None:
    # Config/credentials rejected, state_dir locked by another instance, ledger unusable:
    # restarting in a loop would only fill the journal. Crashes (1, signals) are restarted.
    service = service_section(UNIT.read_text(encoding="utf-8"))
    prevented = {int(code) for code in service["RestartPreventExitStatus"][0].split()}
    assert prevented == {ExitCode.CONFIG, ExitCode.LOCKED, ExitCode.LEDGER}
    assert ExitCode.PROBLEM not in prevented
