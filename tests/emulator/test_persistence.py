"""State under ``data_dir`` survives a restart, and a SIGKILL of the emulator corrupts nothing."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from as2sync.emulator.server import running_emulator
from as2sync.emulator.settings import PartnerSpec
from tests.conftest import EMULATOR_DEFAULTS
from tests.emulator.conftest import plain_client, token_for


def test_messages_read_flags_and_submissions_survive_a_restart(tmp_path: Path) -> None:
    settings = replace(EMULATOR_DEFAULTS, data_dir=tmp_path / "data", delivery_delay=60.0)
    with running_emulator(settings) as emu:
        token = token_for(emu)
        kept = emu.state.seed_received(
            "MYSTATION", "ACME", [("../../x", b"\x00\x01"), ("b.edi", b"B")], subject="S"
        )
        read = emu.state.seed_received("MYSTATION", "ACME", [("r.edi", b"R")])
        with plain_client(emu.base_url, {"Authorization": token}) as api:
            api.get(f"/message/received/{quote(read)}", params={"markAsRead": "true"})
            api.post("/message/MYSTATION/ACME", content=b"OUT", headers={"Name": "out.edi"})
        submitted = emu.state.submissions()[0].message_id
        emu.state.add_partner(PartnerSpec("LATE", behaviour="echo"))
    with running_emulator(settings) as emu:
        assert emu.state.received_ids() == [kept, read]
        assert emu.state.received(kept).attachments == [("../../x", b"\x00\x01"), ("b.edi", b"B")]
        assert emu.state.received(kept).subject == "S"
        assert emu.state.is_read(read) is True
        assert emu.state.is_read(kept) is False
        (sub,) = emu.state.submissions()
        assert (sub.message_id, sub.attachments) == (submitted, [("out.edi", b"OUT")])
        assert "LATE" in [p.as2_id for p in emu.state.partners()]
        # Tokens are signed with a persisted secret, so they survive too.
        with plain_client(emu.base_url, {"Authorization": token}) as api:
            body = api.get("/message/queued").json()
            assert [r["as2MessageId"] for r in body["records"]] == [submitted]


def test_account_and_message_changes_made_at_once_all_survive_a_restart(tmp_path: Path) -> None:
    # The account and the message store write their own parts of one state file, each under its
    # own lock: neither may overwrite the other's latest records with an older copy.
    settings = replace(EMULATOR_DEFAULTS, data_dir=tmp_path / "data")
    with running_emulator(settings) as emu:

        def change(i: int) -> str | None:
            if i % 2:
                emu.state.add_station(f"ST{i}")
                return None
            return emu.state.seed_received("MYSTATION", "ACME", [(f"{i}.edi", b"x")])

        with ThreadPoolExecutor(4) as pool:
            seeded = [mid for mid in pool.map(change, range(40)) if mid is not None]
    with running_emulator(settings) as emu:
        assert sorted(emu.state.received_ids()) == sorted(seeded)
        assert set(emu.state.stations()) == {"MYSTATION"} | {f"ST{i}" for i in range(1, 40, 2)}


def test_without_data_dir_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with running_emulator(EMULATOR_DEFAULTS) as emu:
        emu.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    assert list(tmp_path.iterdir()) == []


def test_state_file_is_written_atomically_with_blobs_by_hash(tmp_path: Path) -> None:
    settings = replace(EMULATOR_DEFAULTS, data_dir=tmp_path)
    with running_emulator(settings) as emu:
        emu.state.seed_received("MYSTATION", "ACME", [("a", b"payload")])
    doc = json.loads((tmp_path / "state.json").read_text())
    (blob,) = (tmp_path / "blobs").iterdir()
    assert blob.read_bytes() == b"payload"
    assert doc["received"][0]["attachments"][0]["sha256"] == blob.name
    assert not list(tmp_path.rglob("*.tmp"))


def test_sigkilled_emulator_keeps_every_acknowledged_submission(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "as2sync.emulator",
            "--port=0",
            f"--data={data}",
            "--no-rate-limit",
            "--delivery-delay=0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acknowledged: list[str] = []
    try:
        assert proc.stdout is not None
        base_url = ""
        for line in proc.stdout:
            match = re.search(r"base URL:\s+(\S+)", line)
            if match:
                base_url = match.group(1)
                break
        assert base_url, proc.stderr.read() if proc.stderr else ""
        with httpx.Client(base_url=base_url, timeout=10) as http:
            token = http.post(
                "/authorize", json={"username": "demo@example.com", "password": "demo"}
            ).json()["token"]
            for i in range(30):
                response = http.post(
                    "/message/MYSTATION/ACME",
                    content=f"file {i}".encode(),
                    headers={"Authorization": token, "Name": f"f{i}.txt"},
                )
                assert response.status_code == 202
                acknowledged.append(response.headers["Link"].rsplit("/", 1)[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with running_emulator(replace(EMULATOR_DEFAULTS, data_dir=data)) as emu:
        subs = emu.state.submissions()
        assert [s.message_id for s in subs] == acknowledged
        assert [s.attachments[0][1] for s in subs] == [f"file {i}".encode() for i in range(30)]
        assert {s.status for s in subs} == {"sent"}
