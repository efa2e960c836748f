"""The v1 client against the emulator: real HTTP, real encoding, real faults."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.factory import make_gateway
from as2sync.backends.as2gateway.model import Folder, ListQuery, OutboundFile, Truncation
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from as2sync.errors import AuthError, NotFound, UnknownOutcome
from tests.conftest import EMULATOR_DEFAULTS, MakeEmulator, emulator_config

STATION = "MYSTATION"
PARTNER = "ACME"
ODD_IDS = ("<a+b.c@x.y>", "<slash/in+id@host.example>", "<plain.1@gw>")


def client_for(
    emu: RunningEmulator,
    *,
    password: str = EMULATOR_DEFAULTS.password,
    limiter: RateLimiter | None = None,
) -> As2GatewayClient:
    return As2GatewayClient(
        emu.base_url,
        EMULATOR_DEFAULTS.user,
        password,
        # A short window: a 503 without Retry-After pauses the limiter for one window.
        limiter=limiter or RateLimiter(10_000, 0.05),
        retry=RetryPolicy(initial=0.01, maximum=0.05),
        timeout=10.0,
    )


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[As2GatewayClient]:
    with client_for(emulator) as gateway:
        yield gateway


def files_in(tmp_path: Path, *items: tuple[str, bytes]) -> list[OutboundFile]:
    out = []
    for n, (name, data) in enumerate(items):
        path = tmp_path / f"src-{n}"
        path.write_bytes(data)
        out.append(OutboundFile(path, name, "text/plain", len(data)))
    return out


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_logs_in_and_lists_the_account(client: As2GatewayClient) -> None:
    assert [s.as2_id for s in client.stations()] == [STATION]
    assert {p.as2_id for p in client.partners()} == {"ACME", "LOOP", "DOWN"}


def test_wrong_password_is_an_auth_error(emulator: RunningEmulator) -> None:
    with client_for(emulator, password="wrong-password") as gateway, pytest.raises(AuthError):
        gateway.stations()


def test_expired_token_is_renewed_transparently(
    emulator: RunningEmulator, client: As2GatewayClient
) -> None:
    client.stations()
    emulator.state.expire_tokens()
    assert [s.as2_id for s in client.stations()] == [STATION]

    def statuses() -> list[int]:
        return [status for _m, path, status in emulator.state.request_log() if "station" in path]

    eventually(lambda: len(statuses()) == 3)  # the log entry may trail the response a little
    assert statuses() == [200, 401, 200]


def test_single_file_submission_arrives_and_shows_up_as_sent(
    emulator: RunningEmulator, client: As2GatewayClient, tmp_path: Path
) -> None:
    files = files_in(tmp_path, ("invoice 1.xml", b"<invoice/>"))
    message_id = client.submit(STATION, PARTNER, files, subject="Invoice 1")
    (submission,) = emulator.state.submissions()
    assert submission.message_id == message_id
    assert submission.attachments == [("invoice 1.xml", b"<invoice/>")]
    assert submission.subject == "Invoice 1"

    def listed() -> bool:
        page = client.list_messages(Folder.SENT, ListQuery(message_id=message_id))
        return [m.message_id for m in page.records] == [message_id]

    eventually(listed)


def test_several_files_and_a_unicode_name_go_as_multipart(
    emulator: RunningEmulator, client: As2GatewayClient, tmp_path: Path
) -> None:
    files = files_in(tmp_path, ("a.txt", b"one"), ("Grüße.txt", b"two"), ("c.txt", b"three"))
    client.submit(STATION, PARTNER, files)
    client.submit(STATION, PARTNER, files[1:2])
    first, second = emulator.state.submissions()
    assert first.attachments == [("a.txt", b"one"), ("Grüße.txt", b"two"), ("c.txt", b"three")]
    assert second.attachments == [("Grüße.txt", b"two")]


def test_submission_to_an_unknown_partner_is_refused(
    client: As2GatewayClient, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        client.submit(STATION, "NOBODY", files_in(tmp_path, ("a.txt", b"x")))


def test_lost_answer_to_a_send_is_an_unknown_outcome_and_never_repeated(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    emu = make_emulator(faults=Faults(drop_after=1.0, endpoints=("send",)))
    with client_for(emu) as gateway, pytest.raises(UnknownOutcome):
        gateway.submit(STATION, PARTNER, files_in(tmp_path, ("a.txt", b"x")))
    assert len(emu.state.submissions()) == 1  # it was accepted: the caller must reconcile


def test_received_messages_with_odd_ids_are_listed_fetched_and_marked(
    emulator: RunningEmulator, client: As2GatewayClient, tmp_path: Path
) -> None:
    for n, message_id in enumerate(ODD_IDS):
        emulator.state.seed_received(
            STATION,
            PARTNER,
            [(f"f{n}.edi", b"0" * n), ("second.edi", b"2nd")],
            message_id=message_id,
        )
    unread = ListQuery(station=STATION, partner=PARTNER, unread_only=True, ascending=True)
    page = client.list_messages(Folder.RECEIVED, unread)
    assert [m.message_id for m in page.records] == list(ODD_IDS)
    assert page.total == 3

    for message_id in ODD_IDS:
        info = client.get_received(message_id)
        assert info.message_id == message_id
        assert [a.name for a in info.attachments][1] == "second.edi"
        dest = tmp_path / "second"
        assert client.download_attachment(message_id, 1, dest) == 3
        assert dest.read_bytes() == b"2nd"

    client.mark_read(ODD_IDS[0])
    client.download_attachment(ODD_IDS[1], 0, tmp_path / "first", mark_read=True)
    assert emulator.state.is_read(ODD_IDS[0]) and emulator.state.is_read(ODD_IDS[1])
    assert [m.message_id for m in client.list_messages(Folder.RECEIVED, unread).records] == [
        ODD_IDS[2]
    ]
    client.mark_unread(ODD_IDS[1])
    assert not emulator.state.is_read(ODD_IDS[1])
    with pytest.raises(NotFound):
        client.get_received("<unknown@x>")


def test_batch_download_returns_a_zip_per_message_and_marks_read(
    emulator: RunningEmulator, client: As2GatewayClient, tmp_path: Path
) -> None:
    for message_id in ODD_IDS:
        emulator.state.seed_received(
            STATION, PARTNER, [("a.edi", message_id.encode())], message_id=message_id
        )
    dest = tmp_path / "batch.zip"
    result = client.download_batch(ODD_IDS, dest, mark_read=True)
    assert result.truncation is None
    assert result.size == dest.stat().st_size
    with zipfile.ZipFile(dest) as archive:
        for message_id in ODD_IDS:
            assert archive.read(f"{message_id}/a.edi") == message_id.encode()
    assert all(emulator.state.is_read(m) for m in ODD_IDS)


def test_oversized_batch_is_partial_with_its_truncation_index(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    emu = make_emulator(batch_limit_bytes=250)
    ids = [
        emu.state.seed_received(STATION, PARTNER, [("x", b"1" * 100), ("y", b"2" * 100)])
        for _ in range(2)
    ]
    with client_for(emu) as gateway:
        result = gateway.download_batch(ids, tmp_path / "z.zip", mark_read=True)
    assert result.truncation == Truncation(message=0, attachment=1)
    assert emu.state.is_read(ids[0]) and not emu.state.is_read(ids[1])
    with zipfile.ZipFile(result.zip_path) as archive:
        files = sorted(n for n in archive.namelist() if not n.endswith("/"))
    assert files == [f"{ids[0]}/x", f"{ids[0]}/y"]


def test_truncated_downloads_and_5xx_are_retried_until_complete(
    make_emulator: MakeEmulator, tmp_path: Path
) -> None:
    emu = make_emulator(
        faults=Faults(truncate=0.5, error_before=0.3, endpoints=("batch", "list"), seed=11)
    )
    ids = [emu.state.seed_received(STATION, PARTNER, [("a", b"a" * 5000)]) for _ in range(3)]
    with client_for(emu) as gateway:
        for _ in range(5):
            page = gateway.list_messages(Folder.RECEIVED, ListQuery())
            assert page.total == 3
            result = gateway.download_batch(ids, tmp_path / "z.zip", mark_read=False)
            with zipfile.ZipFile(result.zip_path) as archive:
                assert archive.testzip() is None
    assert sum(emu.state.fault_counts().values()) > 0


def test_delete_removes_messages_and_ignores_missing_ones(
    emulator: RunningEmulator, client: As2GatewayClient
) -> None:
    ids = [emulator.state.seed_received(STATION, PARTNER, [("a", b"a")]) for _ in range(2)]
    client.delete(Folder.RECEIVED, [*ids, "<never-existed@x>"])
    assert emulator.state.received_ids() == []
    client.delete(Folder.RECEIVED, ["<never-existed@x>"])


def test_client_limiter_keeps_a_burst_below_the_gateway_limit(
    make_emulator: MakeEmulator,
) -> None:
    emu = make_emulator(rate_limit=(5, 0.2))
    with client_for(emu, limiter=RateLimiter(5, 0.2)) as gateway:
        for _ in range(14):
            gateway.stations()
    assert emu.state.fault_counts().get("rate_limited", 0) == 0
    assert 429 not in [status for _m, _p, status in emu.state.request_log()]


def test_factory_builds_a_working_client_from_the_config(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    config = emulator_config(emulator, tmp_path)
    seen: list[tuple[str, int | None]] = []
    gateway = make_gateway(config, observer=lambda e, s, _t: seen.append((e, s)))
    try:
        assert [s.as2_id for s in gateway.stations()] == [STATION]
    finally:
        gateway.close()
    assert seen == [("authorize", 200), ("stations", 200)]
