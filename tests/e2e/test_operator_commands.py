"""The operator's commands against a real daemon: status, messages, retry, send, metrics."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec
from tests.e2e.harness import (
    PASSWORD,
    USER,
    DaemonProcess,
    as2sync,
    free_port,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    settings = EmulatorSettings(
        user=USER,
        password=PASSWORD,
        stations=["MYSTATION"],
        partners=[PartnerSpec("ACME")],
        rate_limit=None,
        delivery_delay=0.1,
    )
    with running_emulator(settings) as running:
        yield running


def pair_dir(config: Path, partner: str) -> Path:
    path = config.parent / "root" / "MYSTATION" / partner
    for sub in ("outbox", "inbox", "sent", "failed"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_status_and_messages_report_both_directions(tmp_path: Path, emu: RunningEmulator) -> None:
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    (acme / "outbox" / "out.edi").write_text("ISA*out~")
    mid = emu.state.seed_received(
        station="MYSTATION", partner="ACME", attachments=[("in.edi", b"x")]
    )
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0

    status = json_of(as2sync("status", "--json", "-c", str(config)))
    counts = status["partnerships"]["MYSTATION/ACME"]
    assert sum(counts["outbound"].values()) == 1
    assert counts["inbound"] == {"read": 1}
    assert status["backlog"]["outbox_files"] == 0
    assert status["daemon"]["running"] is False
    assert PASSWORD not in json.dumps(status)

    table = as2sync("status", "-c", str(config))
    assert "MYSTATION/ACME" in table.stdout
    assert "not running" in table.stdout

    rows = json_of(as2sync("messages", "--json", "-c", str(config)))
    assert {(r["direction"], r["file"]) for r in rows} == {("out", "out.edi"), ("in", "in.edi")}
    inbound = json_of(as2sync("messages", "--in", "--json", "-c", str(config)))
    assert [r["message_id"] for r in inbound] == [mid]
    assert json_of(as2sync("messages", "--partner", "NOBODY", "--json", "-c", str(config))) == []
    assert json_of(as2sync("messages", "--since", "2030-01-01", "--json", "-c", str(config))) == []
    bad = as2sync("messages", "--since", "yesterday-ish", "-c", str(config))
    assert bad.returncode == 2
    assert "--since" in bad.stderr


def test_retry_moves_a_refused_file_back_and_it_is_sent(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config = write_config(tmp_path, emu.base_url)
    newco = pair_dir(config, "NEWCO")  # not (yet) a partner on the gateway: refused with 404
    (newco / "outbox" / "po.edi").write_text("ISA*po~")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        failed = newco / "failed" / "po.edi"
        wait_until(failed.exists, 20, what="refused file in failed/")
        reason = json.loads((newco / "failed" / "po.edi.error.json").read_text())
        assert reason["http_status"] == 404

        status = json_of(as2sync("status", "--json", "-c", str(config)))
        assert any(f["file"] == "po.edi" for f in status["recent_failures"])

        emu.state.add_partner(PartnerSpec("NEWCO"))  # the operator fixes the account
        result = as2sync("retry", str(failed), "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert not (newco / "failed" / "po.edi.error.json").exists()
        wait_until((newco / "sent" / "po.edi").exists, 20, what="sent after retry")
        assert [s.partner for s in emu.state.submissions()] == ["NEWCO"]
    finally:
        daemon.close()


def test_retry_of_a_file_outside_failed_is_refused(tmp_path: Path, emu: RunningEmulator) -> None:
    config = write_config(tmp_path, emu.base_url)
    stray = pair_dir(config, "ACME") / "outbox" / "x.edi"
    stray.write_text("x")
    result = as2sync("retry", str(stray), "-c", str(config))
    assert result.returncode == 1
    assert "not in a failed/ folder" in result.stderr


def test_retry_of_a_message_id_fetches_it_again(tmp_path: Path, emu: RunningEmulator) -> None:
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    mid = emu.state.seed_received(
        station="MYSTATION", partner="ACME", attachments=[("a.edi", b"1")]
    )
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    (acme / "inbox" / "a.edi").unlink()  # the consumer took it, then lost it downstream
    result = as2sync("retry", mid, "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    assert (acme / "inbox" / "a.edi").read_bytes() == b"1"
    assert emu.state.is_read(mid)


def test_send_without_a_daemon_sends_directly(tmp_path: Path, emu: RunningEmulator) -> None:
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    source = tmp_path / "invoice.edi"
    source.write_text("ISA*invoice~")
    result = as2sync(
        "send", str(source), "--station", "MYSTATION", "--partner", "ACME", "-c", str(config)
    )
    assert result.returncode == 0, result.stderr
    (submission,) = emu.state.submissions()
    assert submission.message_id in result.stdout
    assert submission.attachments == [("invoice.edi", b"ISA*invoice~")]
    assert (acme / "sent" / "invoice.edi").read_text() == "ISA*invoice~"
    assert source.exists()  # the user's copy is left alone


def test_send_while_the_daemon_runs_hands_the_file_to_it(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    source = tmp_path / "order.edi"
    source.write_text("ISA*order~")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        result = as2sync(
            "send", str(source), "--station", "MYSTATION", "--partner", "ACME", "-c", str(config)
        )
        assert result.returncode == 0, result.stderr
        (submission,) = emu.state.submissions()
        assert submission.message_id in result.stdout
        wait_until((acme / "sent" / "order.edi").exists, 20, what="archived by the daemon")
    finally:
        daemon.close()


def test_prometheus_metrics_count_sent_files_and_requests(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    port = free_port()
    config = write_config(tmp_path, emu.base_url, metrics={"listen": f"127.0.0.1:{port}"})
    acme = pair_dir(config, "ACME")
    daemon = DaemonProcess(config)
    try:
        daemon.start()
        (acme / "outbox" / "m.edi").write_text("ISA*m~")
        wait_until((acme / "sent" / "m.edi").exists, 20, what="sent")

        def counted() -> bool:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            return 'as2sync_files_sent_total{partner="ACME",station="MYSTATION"} 1.0' in text

        wait_until(counted, 10, what="sent counter")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'as2sync_gateway_requests_total{endpoint="send",status="202"} 1.0' in text
        assert "as2sync_outbound_backlog" in text
        assert "as2sync_last_success_timestamp_seconds" in text
        assert "as2sync_rate_limit_in_use" in text
        assert "as2sync_gateway_request_seconds_bucket" in text
    finally:
        daemon.close()


def _refused_file(tmp_path: Path, emu: RunningEmulator) -> tuple[Path, Path]:
    """A config and a NEWCO partnership whose po.edi was refused (404) into failed/."""
    config = write_config(tmp_path, emu.base_url)
    newco = pair_dir(config, "NEWCO")  # not (yet) a partner on the gateway: refused with 404
    (newco / "outbox" / "po.edi").write_text("ISA*po~")
    as2sync("run", "--once", "-c", str(config))
    assert (newco / "failed" / "po.edi").exists()
    assert (newco / "failed" / "po.edi.error.json").exists()
    return config, newco


def test_retry_of_the_error_report_puts_back_only_the_data_file(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config, newco = _refused_file(tmp_path, emu)
    emu.state.add_partner(PartnerSpec("NEWCO"))
    report = newco / "failed" / "po.edi.error.json"
    result = as2sync("retry", str(report), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (newco / "outbox").iterdir()) == ["po.edi"]
    assert list((newco / "failed").iterdir()) == []
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    (submission,) = emu.state.submissions()
    assert submission.attachments == [("po.edi", b"ISA*po~")]
    assert (newco / "sent" / "po.edi").read_text() == "ISA*po~"


def test_retry_of_a_report_whose_file_is_gone_is_refused(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config, newco = _refused_file(tmp_path, emu)
    (newco / "failed" / "po.edi").unlink()
    report = newco / "failed" / "po.edi.error.json"
    result = as2sync("retry", str(report), "-c", str(config))
    assert result.returncode == 1
    assert "po.edi is no longer in" in result.stderr
    assert report.exists()  # the reason stays for the operator
    assert list((newco / "outbox").iterdir()) == []


def test_retry_of_a_data_file_named_like_a_report_sends_that_file(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config = write_config(tmp_path, emu.base_url)
    newco = pair_dir(config, "NEWCO")
    (newco / "outbox" / "x.error.json").write_text('{"a": 1}')  # a user's data file
    as2sync("run", "--once", "-c", str(config))
    assert (newco / "failed" / "x.error.json.error.json").exists()
    emu.state.add_partner(PartnerSpec("NEWCO"))
    result = as2sync("retry", str(newco / "failed" / "x.error.json"), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (newco / "outbox").iterdir()) == ["x.error.json"]
    assert list((newco / "failed").iterdir()) == []


def _tree(top: Path) -> set[Path]:
    return {p.relative_to(top) for p in top.rglob("*")}


@pytest.mark.parametrize("daemon_running", [False, True], ids=["alone", "daemon-running"])
@pytest.mark.parametrize(
    ("partner", "message"),
    [
        ("../../../x", "--partner: must be an AS2 identifier"),
        ("NOPE", "--partner: partner 'NOPE' does not exist on the gateway"),
    ],
)
def test_send_to_a_bad_or_unknown_partner_is_refused_and_creates_nothing(
    tmp_path: Path, emu: RunningEmulator, partner: str, message: str, daemon_running: bool
) -> None:
    top = tmp_path / "top"
    config = write_config(top / "deep" / "er", emu.base_url)
    pair_dir(config, "ACME")
    source = tmp_path / "invoice.edi"
    source.write_text("ISA*invoice~")
    daemon = DaemonProcess(config)
    try:
        if daemon_running:
            daemon.start()
        before = _tree(top)
        result = as2sync(
            "send", str(source), "--station", "MYSTATION", "--partner", partner, "-c", str(config),
            timeout=60,  # the handoff to a daemon waited 300 s for a file it never saw
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        after = _tree(top)
        assert {p for p in after - before if "daemon-logs" not in p.parts} == set()
        assert emu.state.submissions() == []
    finally:
        daemon.close()


LEDGER = Path("state") / "ledger.sqlite3"


def _worked_once(tmp_path: Path, emu: RunningEmulator) -> tuple[Path, Path]:
    """A config whose daemon has sent one file: folders hold .as2sync work, the ledger rows."""
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    (acme / "outbox" / "a.edi").write_text("ISA*a~")
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    assert (acme / ".as2sync").is_dir()
    return config, acme


@pytest.mark.parametrize("command", [("status",), ("messages",)])
def test_read_only_commands_never_create_a_ledger(tmp_path: Path, command: tuple[str, ...]) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    result = as2sync(*command, "-c", str(config))
    assert result.returncode == 4
    assert "no ledger" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / LEDGER).exists()


def test_read_only_commands_never_migrate_a_ledger(tmp_path: Path, emu: RunningEmulator) -> None:
    config, _acme = _worked_once(tmp_path, emu)
    with sqlite3.connect(tmp_path / LEDGER) as db:
        (version,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (int(version) - 1,))
    result = as2sync("status", "-c", str(config))
    assert result.returncode == 4
    assert "start the daemon once" in result.stderr
    with sqlite3.connect(tmp_path / LEDGER) as db:
        (after,) = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert int(after) == int(version) - 1


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_run_refuses_to_start_without_its_ledger_over_earlier_work(
    tmp_path: Path, emu: RunningEmulator, how: str
) -> None:
    config, acme = _worked_once(tmp_path, emu)
    ledger = tmp_path / LEDGER
    if how == "deleted":
        for side in ledger.parent.glob("ledger.sqlite3*"):
            side.unlink()
    else:
        ledger.write_bytes(b"")
    result = as2sync("run", "--once", "-c", str(config))
    assert result.returncode == 4
    assert str(acme / ".as2sync") in result.stderr or "health.json" in result.stderr
    assert "as2sync run --new-ledger" in result.stderr
    assert "Traceback" not in result.stderr
    assert not ledger.exists() or ledger.stat().st_size == 0
    for command in (("status",), ("retry", "some-message-id")):
        assert as2sync(*command, "-c", str(config)).returncode == 4

    result = as2sync("run", "--once", "--new-ledger", "-c", str(config))  # the way out
    assert result.returncode == 0, result.stderr
    assert ledger.stat().st_size > 0
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    assert as2sync("status", "-c", str(config)).returncode == 0


def test_first_start_on_fresh_folders_creates_the_ledger(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config = write_config(tmp_path, emu.base_url)
    pair_dir(config, "ACME")  # the user made the folders; as2sync has not worked here yet
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    assert (tmp_path / LEDGER).stat().st_size > 0


def test_a_ledger_missing_a_table_is_refused_not_patched(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    config, _acme = _worked_once(tmp_path, emu)
    with sqlite3.connect(tmp_path / LEDGER) as db:
        (table,) = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta' LIMIT 1"
        ).fetchone()
        db.execute(f"DROP TABLE {table}")
    for command in (("run", "--once"), ("status",), ("run", "--once", "--new-ledger")):
        result = as2sync(*command, "-c", str(config))
        assert result.returncode == 4, command
        assert f"lacks the table {table}" in result.stderr
        assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / LEDGER) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert table not in names


def test_retry_of_a_file_whose_name_is_not_utf8_allows_the_resend(
    tmp_path: Path, emu: RunningEmulator
) -> None:
    """A second copy refused as a duplicate goes again after retry: the ledger row of the
    failed file (recorded under a file: URI) is found and marked, though its name is bytes."""
    config = write_config(tmp_path, emu.base_url)
    acme = pair_dir(config, "ACME")
    name = os.fsdecode(b"inv\xff.edi")
    (acme / "outbox" / name).write_bytes(b"ISA*latin1~")
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    (acme / "outbox" / name).write_bytes(b"ISA*latin1~")  # the same again: a duplicate
    as2sync("run", "--once", "-c", str(config))
    failed = acme / "failed" / name
    assert "duplicate" in json.loads((acme / "failed" / f"{name}.error.json").read_text())["reason"]

    result = as2sync("retry", str(failed), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "inv%FF.edi is back in" in result.stdout
    assert list((acme / "failed").iterdir()) == []
    assert as2sync("run", "--once", "-c", str(config)).returncode == 0
    assert [s.attachments for s in emu.state.submissions()] == [
        [("inv%FF.edi", b"ISA*latin1~")]
    ] * 2
    assert list((acme / "failed").iterdir()) == []
    assert sorted(os.fsencode(p.name) for p in (acme / "sent").iterdir()) == [
        b"inv\xff (2).edi",
        b"inv\xff.edi",
    ]
