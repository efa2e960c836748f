"""The outbound engine (as the daemon wires it: real ledger, real folders) driving the MFT
backend against the MFT emulator: each file submitted exactly once, through lost answers and
restarts; refusals, failed and incomplete deliveries end in failed/ with their reasons."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.backend import MftBackend
from as2sync.backends.mftgateway.client import MftClient
from as2sync.backends.mftgateway.tracking import INCOMPLETE_REASON
from as2sync.emulator.mft.settings import MftSettings
from as2sync.emulator.settings import Faults, PartnerSpec
from as2sync.outbound.engine import OutboundEngine
from tests.integration.outbound_support import Rig
from tests.mft.conftest import PASSWORD, USER, MakeMft

X12 = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *~"


class MftRig(Rig):
    """The outbound rig with the MFT backend in place of v1's sender."""

    def _engine(self) -> OutboundEngine:
        client = MftClient(
            self.emu.base_url,
            USER,
            PASSWORD,
            limiter=RateLimiter(100_000, 1.0),
            retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.001, sleep=lambda _s: None),
        )
        self.backend = MftBackend(client, clock=self.clock)
        return OutboundEngine(self.config, self.ledger, self.backend, clock=self.clock)

    def close(self) -> None:
        super().close()
        self.backend.close()


MakeRig = Callable[..., MftRig]


@pytest.fixture
def make_rig(tmp_path: Path, make_mft: MakeMft) -> Iterator[MakeRig]:
    rigs: list[MftRig] = []

    def make(**emulator: object) -> MftRig:
        emu = make_mft(delivery_delay=0.0, **emulator)
        rig = MftRig(tmp_path, emu)  # type: ignore[arg-type]  # the rig reads emu duck-typed
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_files_are_sent_once_each_and_delivered(make_rig: MakeRig) -> None:
    rig = make_rig().start()
    for i in range(5):
        rig.drop(f"po-{i}.edi", X12 + bytes([48 + i]))
    rig.run_until(lambda: rig.states() == ["delivered"] * 5)
    assert sorted(s.attachments[0][0] for s in rig.submissions()) == [
        f"po-{i}.edi" for i in range(5)
    ]
    assert rig.emu.state.duplicate_submissions() == 0
    assert [r.message_id for r in rig.rows()] and all(r.message_id for r in rig.rows())


@pytest.mark.parametrize("fault", ["error_after", "drop_after"])
def test_a_lost_answer_is_located_not_sent_again(make_rig: MakeRig, fault: str) -> None:
    rig = make_rig()
    rig.emu.state.set_faults(Faults(**{fault: 1.0}, endpoints=("send",)))
    rig.start()
    rig.drop("a.edi", X12)
    rig.run_until(lambda: len(rig.names("sent")) == 1)
    rig.emu.state.set_faults(Faults())
    rig.run_until(lambda: rig.states() == ["delivered"])
    [sub] = rig.submissions()
    [row] = rig.rows()
    assert (row.message_id, row.attempts) == (sub.message_id, 1)


def test_restarts_under_faults_send_each_file_exactly_once(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.emu.state.set_faults(
        Faults(error_before=0.2, error_after=0.2, drop_after=0.1, endpoints=("send",), seed=3)
    )
    rig.start()
    for i in range(8):
        rig.drop(f"f{i}.edi", X12 + bytes([65 + i]))
    for _ in range(4):
        rig.run_for(0.6)
        rig.restart()
    rig.emu.state.set_faults(Faults())
    rig.run_until(lambda: rig.states() == ["delivered"] * 8, timeout=30)
    assert len(rig.submissions()) == 8
    assert rig.emu.state.duplicate_submissions() == 0


def test_refused_failed_and_incomplete_end_in_failed_with_their_reason(make_rig: MakeRig) -> None:
    rig = make_rig(
        failed_attempts=1,
        partners=(PartnerSpec("ACME"), PartnerSpec("DOWN", behaviour="fail"), PartnerSpec("SLOW")),
        mft=MftSettings(incomplete_partners=("SLOW",)),
    )
    rig.start()
    rig.drop("nobody.edi", X12, partner="NOBODY")
    rig.drop("down.edi", X12, partner="DOWN")
    rig.drop("slow.edi", X12, partner="SLOW")
    rig.run_until(lambda: sorted(rig.states()) == ["delivery_failed", "delivery_failed", "failed"])
    reasons = {}
    for partner in ("NOBODY", "DOWN", "SLOW"):
        failed = rig.dirs(partner).failed
        (sidecar,) = [p for p in failed.iterdir() if p.name.endswith(".json")]
        reasons[partner] = json.dumps(json.loads(sidecar.read_text()))
    assert "422" in reasons["NOBODY"]
    assert "failed" in reasons["DOWN"].lower()
    assert INCOMPLETE_REASON in reasons["SLOW"]
    assert len(rig.submissions()) == 2  # NOBODY was refused; nothing was resent
