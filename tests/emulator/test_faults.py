"""Fault injection: the outages a client must survive without losing or duplicating data."""

from __future__ import annotations

import time

import httpx
import pytest

from as2sync.emulator.server import RunningEmulator
from as2sync.emulator.settings import Faults
from tests.conftest import MakeEmulator
from tests.emulator.conftest import ClientFor

SEND = "/message/MYSTATION/ACME"


def _send(api: httpx.Client, name: str = "a.edi") -> httpx.Response:
    return api.post(SEND, content=b"ISA*1", headers={"Name": name})


def test_error_before_answers_5xx_and_nothing_is_submitted(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(error_before=1.0))
    response = _send(api)
    assert response.status_code in (500, 502, 503, 504)
    assert emulator.state.submissions() == []
    assert emulator.state.fault_counts() == {"error_before": 1}


def test_error_after_answers_5xx_but_the_message_was_submitted(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(error_after=1.0))
    response = _send(api)
    assert response.status_code >= 500
    assert "Link" not in response.headers
    assert len(emulator.state.submissions()) == 1
    assert emulator.state.fault_counts() == {"error_after": 1}


def test_bad_gateway_errors_have_an_html_body(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.state.set_faults(Faults(error_before=1.0, error_statuses=(502,)))
    response = _send(api)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")


def test_drop_closes_the_connection_without_a_response_and_takes_no_action(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(drop=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        _send(api)
    assert emulator.state.submissions() == []
    assert emulator.state.request_log()[-1] == ("POST", "/v1" + SEND, 0)


def test_drop_after_takes_the_action_then_closes_without_a_response(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(drop_after=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        _send(api)
    assert len(emulator.state.submissions()) == 1
    # The client can reconnect at once and see the outcome.
    emulator.state.set_faults(Faults())
    assert api.get("/message/queued").json()["totalRecords"] == 1


def test_truncate_cuts_a_download_short_of_its_content_length(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("big.bin", b"z" * 100_000)])
    emulator.state.set_faults(Faults(truncate=1.0, seed=1))
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/message/received/batch/attachments", json=[mid])
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(f"/message/received/{mid}/attachments/0")
    assert emulator.state.fault_counts() == {"truncate": 2}


def test_truncate_by_default_spares_non_download_endpoints(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    emulator.state.set_faults(Faults(truncate=1.0))
    assert api.get("/message/received").json()["totalRecords"] == 1


def test_faults_can_be_restricted_to_named_endpoints(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(error_before=1.0, endpoints=("send",)))
    assert _send(api).status_code >= 500
    assert api.get("/message/received").status_code == 200
    assert api.get("/partner").status_code == 200


def test_markread_pseudo_endpoint_targets_requests_that_mark_read(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    mid = emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")])
    emulator.state.set_faults(Faults(error_after=1.0, endpoints=("markread",)))
    assert api.get(f"/message/received/{mid}").status_code == 200
    assert not emulator.state.is_read(mid)
    assert api.get(f"/message/received/{mid}", params={"markAsRead": "true"}).status_code >= 500
    assert emulator.state.is_read(mid)  # the action took effect before the error


def test_faults_never_hit_authorize_unless_named(
    emulator: RunningEmulator, client_for: ClientFor
) -> None:
    emulator.state.set_faults(Faults(error_before=1.0))
    client_for(emulator)  # authorizes successfully


def test_faults_do_not_replace_the_handlers_own_errors(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(error_after=1.0, drop_after=0.0))
    assert api.get("/message/received/%3Cnope%3E").status_code == 404


def test_token_expiry_fault_answers_401_to_a_valid_token(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(token_expiry=1.0))
    response = api.get("/message/received")
    assert response.status_code == 401
    assert "expired" in response.json()["message"].lower()
    assert emulator.state.fault_counts() == {"token_expiry": 1}


def test_rate_limit_burst_answers_a_spurious_429(
    emulator: RunningEmulator, api: httpx.Client
) -> None:
    emulator.state.set_faults(Faults(rate_limit_burst=1.0))
    response = api.get("/message/received")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_latency_delays_every_request(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.state.set_faults(Faults(latency=0.2))
    started = time.monotonic()
    api.get("/partner")
    assert time.monotonic() - started >= 0.2


def test_same_seed_gives_the_same_faults(
    make_emulator: MakeEmulator, client_for: ClientFor
) -> None:
    runs = []
    for _ in range(2):
        emu = make_emulator(faults=Faults(error_before=0.5, seed=42))
        api = client_for(emu)
        runs.append([api.get("/partner").status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert 200 in runs[0] and any(s >= 500 for s in runs[0])


def test_unknown_fault_endpoint_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault endpoints"):
        Faults(endpoints=("sned",))


def test_duplicate_submissions_are_counted(emulator: RunningEmulator, api: httpx.Client) -> None:
    _send(api, "a.edi")
    _send(api, "b.edi")
    assert emulator.state.duplicate_submissions() == 0
    _send(api, "a.edi")
    assert emulator.state.duplicate_submissions() == 1
    assert emulator.state.duplicate_submission_ids() == [emulator.state.submissions()[2].message_id]
