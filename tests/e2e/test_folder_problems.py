"""Folders as2sync will not use are named, not silently skipped: ``check`` warns about each one
(the configuration is fine, so it still exits 0), and the running daemon logs and ``status``
lists one that appears while it runs, such as a folder under the root for a pair that a route
serves (files dropped there would never be sent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from as2sync.ledger.db import open_ledger
from tests.e2e.harness import DaemonProcess, as2sync, wait_until, write_config

pytestmark = pytest.mark.e2e

URL = "http://127.0.0.1:9/v1"  # check and status (offline) never call it


def test_check_warns_about_each_refused_folder_and_exits_0(tmp_path: Path) -> None:
    config = write_config(tmp_path, URL)
    root = tmp_path / "root"
    (root / "MYSTATION" / "ACME" / "outbox").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "MYSTATION" / "EVIL").symlink_to(elsewhere)
    (root / "MYSTATION" / "GLOBEX").mkdir()
    (root / "MYSTATION" / "GLOBEX" / "sent").symlink_to(elsewhere)
    latin1 = os.fsencode(root / "MYSTATION") + b"/CAF\xc9"
    os.mkdir(latin1)

    result = as2sync("check", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "MYSTATION -> ACME" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, result.stderr
    assert any(f"{root}/MYSTATION/EVIL:" in w and "symbolic link" in w for w in warnings)
    assert any(f"{root}/MYSTATION/GLOBEX/sent:" in w and "symbolic link" in w for w in warnings)
    assert any("CAF\\xc9" in w and "not UTF-8" in w for w in warnings)
    assert "Traceback" not in result.stderr

    # status lists the same, printably, even where stdout refuses undecodable bytes.
    open_ledger(tmp_path / "state").close()
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    status = as2sync("status", "-c", str(config), env=strict)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("refused folder") == 3
    assert "CAF\\xc9: the name is not UTF-8" in status.stdout


def test_a_folder_hidden_by_a_route_made_while_the_daemon_runs_is_reported(
    tmp_path: Path,
) -> None:
    route = tmp_path / "acme-route"
    route.mkdir()
    config = write_config(
        tmp_path, URL, routes=[{"path": str(route), "station": "MYSTATION", "partner": "ACME"}]
    )
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        hidden = tmp_path / "root" / "MYSTATION" / "ACME"
        (hidden / "outbox").mkdir(parents=True)
        (hidden / "outbox" / "inv.edi").write_bytes(b"ISA*1")

        def logged() -> list[dict[str, object]]:
            lines = (json.loads(line) for line in daemon.log_lines() if line.startswith("{"))
            return [e for e in lines if e.get("event") == "folders.refused"]

        wait_until(lambda: bool(logged()), 20, what="folders.refused")
        (refused,) = logged()
        assert refused["path"] == str(hidden)
        assert "routes[0]" in str(refused["reason"]) and "never sent" in str(refused["reason"])

        report = json.loads(as2sync("status", "--json", "-c", str(config)).stdout)
        (problem,) = report["folder_problems"]
        assert problem.startswith(f"{hidden}:") and "routes[0]" in problem
        assert f"refused folder {hidden}" in as2sync("status", "-c", str(config)).stdout
        assert (hidden / "outbox" / "inv.edi").read_bytes() == b"ISA*1"  # untouched
        assert daemon.terminate() == 0
    finally:
        daemon.close()

    # Not a tree problem but a configuration one now: the next start refuses it (exit 2).
    result = as2sync("check", "-c", str(config))
    assert result.returncode == 2
    assert "routes[0]" in result.stderr
