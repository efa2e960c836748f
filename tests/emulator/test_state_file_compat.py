"""A ``--data`` directory written by an earlier emulator loads, and is rewritten in its format.

``fixtures/state-v1`` was written by the emulator of commit 545b44c (state version 1, before the
state was split into account, store, faults and journal), on a manual clock starting at
1_800_000_000 s with delivery and echo delays of 1 s and two attempts for a ``fail`` partner:
a runtime station and echo test partner, two seeded received messages, five submissions (one
sent and deleted from the sent list, one stopped after two failed attempts, one echoed, one
sent whose echo was still due, one still queued) and a forced token expiry.
"""

from __future__ import annotations

import json
import shutil
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest

from as2sync.emulator.server import RunningEmulator, running_emulator
from as2sync.emulator.tokens import TokenIssuer
from tests.conftest import EMULATOR_DEFAULTS
from tests.emulator.conftest import ManualClock, plain_client

FIXTURE = Path(__file__).parent / "fixtures" / "state-v1"
SAVED_AT = 1_800_000_003.0  # the fixture's clock when it was last written
R1 = "<OPENAS2-15012027080000+0000-6305@ACME_MYSTATION>"
R2 = "<mendelson_opensource_AS2-1800000000000-1@LOOP>"
R3_ECHO = "<1103694312.5.1800000002000.JavaMail.as2@LOOP.example>"
S1_DELETED = "<30246633.2.1800000000000@as2gateway.com>"
S2_STOPPED = "<62992312.3.1800000000000@as2gateway.com>"
S3_ECHOED = "<97366946.4.1800000000000@as2gateway.com>"
S5_ECHO_DUE = "<19722233.6.1800000002000@as2gateway.com>"
S4_QUEUED = "<81924865.7.1800000003000@as2gateway.com>"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "data"))


def _open(data_dir: Path, clock: ManualClock) -> AbstractContextManager[RunningEmulator]:
    settings = replace(EMULATOR_DEFAULTS, data_dir=data_dir, delivery_delay=1.0, echo_delay=1.0)
    return running_emulator(replace(settings, failed_attempts=2), clock=clock)


def _token(data_dir: Path, issued_ms: int) -> str:
    doc = json.loads((data_dir / "state.json").read_text())
    token, _expiry = TokenIssuer(bytes.fromhex(doc["secret"])).issue(
        "demo@example.com", issued_ms, 3_600_000
    )
    return token


def _ids(emu: RunningEmulator, token: str, folder: str, **params: str) -> list[str]:
    with plain_client(emu.base_url, {"Authorization": token}) as api:
        response = api.get(f"/message/{folder}", params=params)
    assert response.status_code == 200, response.text
    return [r["as2MessageId"] for r in response.json()["records"]]


def test_every_message_flag_and_runtime_addition_of_the_old_format_loads(data_dir: Path) -> None:
    with _open(data_dir, ManualClock(SAVED_AT)) as emu:
        state = emu.state
        assert state.received_ids() == [R1, R2, R3_ECHO]
        assert [state.is_read(m) for m in (R1, R2, R3_ECHO)] == [False, True, False]
        r1, r2 = state.received(R1), state.received(R2)
        assert r1.attachments == [("../../x", b"\x00\x01"), ("b.edi", b"B")]
        assert (r1.subject, r1.persisted_ms) == ("S", 1_800_000_000_000)
        assert (r2.station, r2.partner, r2.partner_type) == ("LATESTATION", "LOOP", "test")
        subs = state.submissions()
        assert [(s.message_id, s.status, s.attempts) for s in subs] == [
            (S1_DELETED, "sent", 1),
            (S2_STOPPED, "stopped", 2),
            (S3_ECHOED, "sent", 1),
            (S5_ECHO_DUE, "sent", 1),
            (S4_QUEUED, "queued", 0),
        ]
        assert subs[0].content_types == ["application/edi-x12"]
        assert (subs[1].profile, subs[2].echo_id, subs[3].echo_id) == ("p1", R3_ECHO, None)
        assert subs[3].attachments == [("five.edi", b"FIVE")]
        assert state.stations() == ["MYSTATION", "LATESTATION"]
        late = state.partners()[-1]
        assert (late.as2_id, late.behaviour, late.name, late.partner_type) == (
            "LATE",
            "echo",
            "Late Ltd",
            "Test",
        )

        # The signing secret and the forced expiry were restored with the file.
        revoked_before = 1_800_000_003_001
        with plain_client(emu.base_url) as anon:
            revoked = _token(data_dir, revoked_before - 2)  # not expired, but before the revoke
            old = anon.get("/station", headers={"Authorization": revoked})
            assert (old.status_code, old.json()["message"]) == (401, "Token expired")
        token = _token(data_dir, revoked_before)
        with plain_client(emu.base_url, {"Authorization": token}) as api:
            stations = api.get("/station").json()
            assert [(s["as2Identifier"], s["id"]) for s in stations] == [
                ("MYSTATION", 1),
                ("LATESTATION", 2),
            ]
            assert api.get("/partner", params={"query": "LATE"}).json()[0]["partnerId"] == 4
            assert api.get(f"/message/received/{quote(R1)}/mdn").status_code == 200
            assert api.get(f"/message/received/{quote(R2)}/mdn").status_code == 404
            assert api.get(f"/message/queued/{quote(S2_STOPPED)}").status_code == 200
        assert _ids(emu, token, "sent", sortDir="asc") == [S3_ECHOED]
        assert _ids(emu, token, "sent", partnerType="test") == [S5_ECHO_DUE]
        assert _ids(emu, token, "queued") == [S4_QUEUED]
        assert _ids(emu, token, "failed", sortDir="asc") == [S2_STOPPED, S2_STOPPED]
        assert _ids(emu, token, "received", partnerType="test") == [R2]


def test_deliveries_and_echoes_due_while_it_was_down_happen_on_load(data_dir: Path) -> None:
    with _open(data_dir, ManualClock(SAVED_AT + 10)) as emu:
        subs = {s.message_id: s for s in emu.state.submissions()}
        assert subs[S4_QUEUED].status == "sent"
        echo = subs[S5_ECHO_DUE].echo_id
        assert echo is not None
        assert emu.state.received_ids() == [R1, R2, R3_ECHO, echo]
        view = emu.state.received(echo)
        assert (view.station, view.partner, view.partner_type) == ("LATESTATION", "LATE", "test")
        assert view.attachments == [("five.edi", b"FIVE")]


def test_the_old_file_is_rewritten_in_the_same_format(data_dir: Path) -> None:
    before = json.loads((data_dir / "state.json").read_text())
    with _open(data_dir, ManualClock(SAVED_AT)) as emu:
        emu.state.set_read(R1, True)
    after = json.loads((data_dir / "state.json").read_text())
    before["received"][0]["read"] = True
    assert after == before
    assert sorted(p.name for p in (data_dir / "blobs").iterdir()) == sorted(
        p.name for p in (FIXTURE / "blobs").iterdir()
    )
