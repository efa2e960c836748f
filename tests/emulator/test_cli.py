"""``as2sync emulator`` / ``python -m as2sync.emulator``: options, start-up output, clean stop."""

from __future__ import annotations

import argparse
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from as2sync.emulator import cli
from as2sync.emulator.settings import Faults, PartnerSpec


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_serve_the_demo_account() -> None:
    settings = cli.settings_from_args(_parse())
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert (settings.user, settings.password) == ("demo@example.com", "demo")
    assert settings.stations == ("MYSTATION",)
    assert [p.behaviour for p in settings.partners] == ["ok", "echo", "fail"]
    assert settings.rate_limit == (50, 10.0)
    assert settings.faults == Faults()


def test_repeated_stations_and_partners_with_behaviours() -> None:
    settings = cli.settings_from_args(
        _parse("--station", "S1", "--station", "S2", "--partner", "A", "--partner", "B:echo")
    )
    assert settings.stations == ("S1", "S2")
    assert settings.partners == (PartnerSpec("A"), PartnerSpec("B", behaviour="echo"))


def test_rate_limit_and_fault_options() -> None:
    settings = cli.settings_from_args(
        _parse(
            "--rate-limit=5/1",
            "--error-after=0.25",
            "--drop=0.1",
            "--latency=0.5",
            "--seed=7",
            "--fault-endpoints=send,batch",
            "--batch-limit=1000",
            "--token-ttl=30",
        )
    )
    assert settings.rate_limit == (5, 1.0)
    assert settings.faults == Faults(
        error_after=0.25, drop=0.1, latency=0.5, seed=7, endpoints=("send", "batch")
    )
    assert settings.batch_limit_bytes == 1000
    assert settings.token_ttl == 30.0
    assert cli.settings_from_args(_parse("--no-rate-limit")).rate_limit is None


@pytest.mark.parametrize("option", ["--rate-limit=50", "--rate-limit=0/10", "--drop=1.5"])
def test_invalid_options_are_usage_errors(option: str) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(option)
    assert exc.value.code == 2


def test_runs_until_sigterm_prints_url_and_credentials_and_exits_0() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "as2sync.emulator", "--port=0", "--seed-messages=3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        match = re.search(r"base URL:\s+(http://127\.0\.0\.1:\d+/v1)", out)
        assert match, out
        assert "demo@example.com" in out and "password:   demo" in out
        with httpx.Client(base_url=match.group(1)) as http:
            token = http.post(
                "/authorize", json={"username": "demo@example.com", "password": "demo"}
            ).json()["token"]
            listed = http.get("/message/received", headers={"Authorization": token}).json()
            assert listed["totalRecords"] == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(10)


def test_port_in_use_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(_parse(f"--port={port}")) == 2
    assert "cannot start" in capsys.readouterr().err
