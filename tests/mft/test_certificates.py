"""Certificate expiry on MFT Gateway (issue 13, seed 002's lesson), read from the MFT emulator
through the backend's watch on an injected clock: a warning per certificate when it enters
``warn_days`` and daily while in it, an error once expired, at most one reading an hour, and
the previous reading reported while the gateway fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from as2sync.backends.base import Certificates
from as2sync.backends.mftgateway.backend import MftBackend
from as2sync.backends.mftgateway.certificates import CertificateWatch
from as2sync.backends.mftgateway.client import MftClient
from as2sync.emulator.mft.server import RunningMftEmulator
from as2sync.emulator.mft.settings import CertificateSpec
from as2sync.emulator.settings import Faults
from as2sync.errors import GatewayError
from tests.mft.conftest import MakeMft
from tests.mft.test_client_emulator import client_for

DAY = 86400.0
T0 = 2_000_000_000.0  # the injected "now"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def ms(seconds: float) -> int:
    return int(seconds * 1000)


@pytest.fixture
def emu(make_mft: MakeMft) -> RunningMftEmulator:
    emu = make_mft()
    emu.switches.update(
        certificates=[
            CertificateSpec("soon", "TRUST", ms(T0 + 10 * DAY + 60), "ACME", ("ACME",)),
            CertificateSpec("later", "IDENTITY", ms(T0 + 60 * DAY + 60), "ME", ("MYSTATION",)),
            CertificateSpec("gone", "TRUST", ms(T0 - DAY), "OLD", ("OLDCO",)),
        ]
    )
    return emu


@pytest.fixture
def client(emu: RunningMftEmulator) -> Iterator[MftClient]:
    client = client_for(emu)
    yield client
    client.close()


def events(logs: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [
        (e["event"], e["alias"], e["days_left"])
        for e in logs
        if str(e["event"]).startswith("certificate.")
    ]


def certificate_reads(emu: RunningMftEmulator) -> int:
    return sum(1 for e in emu.state.journal.exchanges() if e.path == "/certificate")


def test_warned_on_entering_the_window_and_daily_in_it(
    emu: RunningMftEmulator, client: MftClient
) -> None:
    clock = Clock()
    watch = CertificateWatch(client, warn_days=30, clock=clock)
    with capture_logs() as logs:
        certs = watch.current()
    assert {c.alias: c.days_left(T0) for c in certs} == {"soon": 10, "later": 60, "gone": -1}
    assert {c.alias: c.type for c in certs} == {
        "soon": "TRUST",
        "later": "IDENTITY",
        "gone": "TRUST",
    }
    assert sorted(events(logs)) == [
        ("certificate.expired", "gone", -1),
        ("certificate.expiring", "soon", 10),
    ]
    clock.now = T0 + 3000  # neither a new reading nor a new warning within the hour/day
    with capture_logs() as logs:
        watch.current()
    assert events(logs) == []
    assert certificate_reads(emu) == 1
    clock.now = T0 + DAY  # daily while in the window
    with capture_logs() as logs:
        watch.current()
    assert sorted(events(logs)) == [
        ("certificate.expired", "gone", -2),
        ("certificate.expiring", "soon", 9),
    ]
    assert certificate_reads(emu) == 2
    clock.now = T0 + 31 * DAY  # "later" enters the window (29 days left)
    with capture_logs() as logs:
        watch.current()
    assert ("certificate.expiring", "later", 29) in events(logs)


def test_a_failed_reading_reports_the_previous_one(
    emu: RunningMftEmulator, client: MftClient
) -> None:
    clock = Clock()
    watch = CertificateWatch(client, warn_days=30, clock=clock)
    first = watch.current()
    emu.state.set_faults(Faults(error_before=1.0))
    clock.now = T0 + 2 * 3600
    with capture_logs() as logs:
        assert watch.current() == first
    assert any(e["event"] == "certificate.read_failed" for e in logs)
    fresh = CertificateWatch(client, clock=clock)
    with pytest.raises(GatewayError):
        fresh.current()


def test_the_backend_offers_its_certificates_to_the_daemon(
    emu: RunningMftEmulator, client: MftClient
) -> None:
    backend = MftBackend(client, clock=Clock(), warn_days=5)
    assert isinstance(backend, Certificates)
    with capture_logs() as logs:
        assert len(backend.certificates()) == 3
    assert events(logs) == [("certificate.expired", "gone", -1)]  # "soon" is outside 5 days
