"""``as2sync emulator --api mftgateway``: options, start-up output, clean stop."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import httpx

from as2sync.emulator import cli
from as2sync.emulator.mft.settings import MftSettings


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_mft_options_build_the_switches() -> None:
    assert _parse().api == "as2gateway"
    assert cli.mft_settings_from_args(_parse()) == MftSettings()
    args = _parse(
        "--api=mftgateway",
        "--list-marks-read",
        "--attachments-mark-read",
        "--no-incomplete-list",
        "--incomplete-partner=SLOW",
        "--incomplete-partner=LATE",
        "--url-validity=30",
    )
    assert cli.mft_settings_from_args(args) == MftSettings(
        list_marks_read=True,
        attachments_mark_read=True,
        incomplete_list=False,
        incomplete_partners=("SLOW", "LATE"),
        url_validity=30.0,
    )
    assert cli.main(_parse("--api=mftgateway", "--url-validity=0")) == 2


def test_serves_the_mft_api_until_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "as2sync.emulator",
            "--api=mftgateway",
            "--port=0",
            "--seed-messages=2",
            "--list-marks-read",
        ],
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
        assert out.startswith("MFT Gateway emulator running")
        match = re.search(r"base URL:\s+(http://127\.0\.0\.1:\d+)\n", out)
        assert match, out
        assert re.search(r"objects:\s+http://127\.0\.0\.1:\d+\n", out)
        with httpx.Client(base_url=match.group(1)) as http:
            token = http.post(
                "/authorize", json={"username": "demo@example.com", "password": "demo"}
            ).json()["apiToken"]
            first = http.get("/message/inbox", headers={"Authorization": token}).json()
            again = http.get("/message/inbox", headers={"Authorization": token}).json()
        assert (len(first["messages"]), again["messages"]) == (2, [])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(10)
