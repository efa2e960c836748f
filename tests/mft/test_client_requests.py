"""The MFT client's requests, exactly as sent (httpx.MockTransport): the new names only,
the bare token, the submit's shapes, renewal, back-off, and the error mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from as2sync.backends.base import OutboundFile
from as2sync.backends.http.ratelimit import RateLimiter
from as2sync.backends.http.retrying import RetryPolicy
from as2sync.backends.mftgateway.client import Box, MftClient
from as2sync.backends.mftgateway.errors_map import UrlRefused
from as2sync.backends.mftgateway.names import OLD_REQUEST_NAMES
from as2sync.errors import (
    AuthError,
    InvalidRequest,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)

BASE = "https://api.example.test"
PASSWORD = "s3cret-Passw0rd"
MID = "<1603@mftgateway.com>"
Reply = Callable[[httpx.Request], httpx.Response]


def jwt(exp: float, tag: str) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'HS256'})}.{b64({'exp': exp, 'tag': tag})}.c2ln"


class FakeTime:
    """One clock for the session (epoch) and the limiter; sleeping moves it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeMft:
    """Answers /authorize and /refresh-session with fresh JWTs; every other path from
    ``routes`` (a reply, or a list of replies used in turn); records every request."""

    def __init__(self, clock: FakeTime, *, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.requests: list[httpx.Request] = []
        self.routes: dict[str, Reply | list[Reply]] = {}
        self.logins = 0
        self.refresh_status = 200

    def tokens(self, tag: str) -> httpx.Response:
        return httpx.Response(
            200,
            json={"apiToken": jwt(self.clock() + self.lifetime, tag), "refreshToken": f"r-{tag}"},
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path = request.url.path
        if path == "/authorize":
            self.logins += 1
            return self.tokens(f"login{self.logins}")
        if path == "/refresh-session":
            if self.refresh_status != 200:
                return httpx.Response(self.refresh_status, json={"message": "Error occurred"})
            return self.tokens(f"refresh{len(self.requests)}")
        route = self.routes.get(path) or self.routes.get(request.url.host)
        if route is None:
            return httpx.Response(404, json={"message": f"no route {path}"})
        if not isinstance(route, list):
            return route(request)
        return (route.pop(0) if len(route) > 1 else route[0])(request)

    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path not in ("/authorize", "/refresh-session")]


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return lambda request: httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake(clock: FakeTime) -> FakeMft:
    return FakeMft(clock)


@pytest.fixture
def client(fake: FakeMft, clock: FakeTime) -> MftClient:
    return make_client(fake, clock)


def make_client(fake: FakeMft, clock: FakeTime, **kwargs: Any) -> MftClient:
    return MftClient(
        BASE,
        "user@example.com",
        PASSWORD,
        transport=httpx.MockTransport(fake),
        limiter=RateLimiter(100, 10.0, clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(attempts=3, sleep=clock.sleep, jitter=lambda: 0.0),
        clock=clock,
        **kwargs,
    )


def outbound(tmp_path: Path, name: str, data: bytes) -> OutboundFile:
    path = tmp_path / name
    path.write_bytes(data)
    return OutboundFile(path, name, "application/edi-x12", len(data))


def parts(request: httpx.Request) -> list[Message]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    parsed = message_from_bytes(head + request.content)
    payload = parsed.get_payload()
    assert isinstance(payload, list)
    return payload


def assert_new_names_only(fake: FakeMft) -> None:
    for request in fake.requests:
        assert not set(request.url.params) & OLD_REQUEST_NAMES, request.url
        if request.content and request.headers.get("content-type") == "application/json":
            assert not set(json.loads(request.content)) & OLD_REQUEST_NAMES


# -- auth ------------------------------------------------------------------------------------


def test_login_then_the_bare_token_on_every_call(client: MftClient, fake: FakeMft) -> None:
    fake.routes["/message/inbox"] = ok({"messages": []})
    client.list_page(Box.INBOX)
    client.list_page(Box.INBOX)
    login, first, second = fake.requests
    assert json.loads(login.content) == {"username": "user@example.com", "password": PASSWORD}
    assert "authorization" not in login.headers
    token = fake.tokens("login1").json()["apiToken"].rsplit(".", 2)[0]
    assert first.headers["authorization"].startswith(token)
    assert first.headers["authorization"] == second.headers["authorization"]
    assert not first.headers["authorization"].lower().startswith("bearer")


def test_the_token_is_renewed_early_by_refresh_session(clock: FakeTime) -> None:
    fake = FakeMft(clock, lifetime=100.0)  # short-lived: renewed at half its lifetime
    client = make_client(fake, clock)
    fake.routes["/message/inbox"] = ok({"messages": []})
    client.list_page(Box.INBOX)
    clock.now += 40
    client.list_page(Box.INBOX)
    assert [r.url.path for r in fake.requests].count("/refresh-session") == 0
    clock.now += 20
    client.list_page(Box.INBOX)
    refresh = next(r for r in fake.requests if r.url.path == "/refresh-session")
    assert json.loads(refresh.content) == {
        "username": "user@example.com",
        "refreshToken": "r-login1",
    }
    assert fake.logins == 1
    assert fake.requests[-1].headers["authorization"] != fake.requests[1].headers["authorization"]


def test_a_failed_refresh_logs_in_again_with_the_password(clock: FakeTime) -> None:
    fake = FakeMft(clock, lifetime=100.0)
    client = make_client(fake, clock)
    fake.routes["/message/inbox"] = ok({"messages": []})
    client.list_page(Box.INBOX)
    fake.refresh_status = 500
    clock.now += 60
    with capture_logs() as logs:
        client.list_page(Box.INBOX)
    assert [r.url.path for r in fake.requests][-3:] == [
        "/refresh-session",
        "/authorize",
        "/message/inbox",
    ]
    assert fake.logins == 2
    assert any(e["event"] == "gateway.refresh_failed" for e in logs)


def test_a_refused_token_is_renewed_and_the_request_repeated_once(
    client: MftClient, fake: FakeMft
) -> None:
    fake.routes["/message/inbox"] = [
        ok({"message": "Unauthorized"}, 401),
        ok({"messages": ["<a>"]}),
    ]
    assert client.list_page(Box.INBOX) == ["<a>"]
    assert [r.url.path for r in fake.requests] == [
        "/authorize",
        "/message/inbox",
        "/refresh-session",
        "/message/inbox",
    ]
    fake.routes["/message/inbox"] = ok({"message": "Forbidden"}, 403)
    with pytest.raises(AuthError):
        client.list_page(Box.INBOX)


def test_the_password_never_shows(clock: FakeTime) -> None:
    fake = FakeMft(clock)
    fake.routes["/message/inbox"] = ok({"messages": []})
    client = make_client(fake, clock)

    def refuse(request: httpx.Request) -> httpx.Response:
        fake.requests.append(request)
        return httpx.Response(401, json={"message": f"bad password {PASSWORD}"})

    bad = MftClient(
        BASE,
        "user@example.com",
        PASSWORD,
        transport=httpx.MockTransport(refuse),
        retry=RetryPolicy(attempts=1),
    )
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        bad.list_page(Box.INBOX)
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(bad) and PASSWORD not in repr(client)
    assert PASSWORD not in repr(logs)


# -- submit ----------------------------------------------------------------------------------


def test_one_file_goes_raw_with_attachment_name(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    fake.routes["/message/submit"] = ok(
        {"message": "Message queued successfully", "identifier": MID}, 202
    )
    item = outbound(tmp_path, "po.edi", b"ISA*00*")
    assert client.submit("MYSTATION", "ACME", [item], subject="S-1") == MID
    (sent,) = fake.api_requests()
    assert sent.method == "POST" and sent.url.path == "/message/submit"
    assert sent.headers["Attachment-Name"] == "po.edi"
    assert (sent.headers["AS2-From"], sent.headers["AS2-To"]) == ("MYSTATION", "ACME")
    assert sent.headers["Subject"] == "S-1"
    assert sent.headers["Content-Type"] == "application/edi-x12"
    assert sent.content == b"ISA*00*"
    assert not sent.url.params


def test_several_files_go_as_multipart_file_parts(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    link = f"https://api.mftgateway.com/message/outbox/{MID}"
    fake.routes["/message/submit"] = ok(
        {"message": "Message queued successfully"}, 202, {"Link": link}
    )
    files = [outbound(tmp_path, "a.edi", b"A"), outbound(tmp_path, "b.edi", b"BB")]
    assert client.submit("MYSTATION", "ACME", files) == MID  # from the Link header
    (sent,) = fake.api_requests()
    assert "attachment-name" not in sent.headers and "subject" not in sent.headers
    got = [
        (
            p.get_param("name", header="content-disposition"),
            p.get_filename(),
            p.get_payload(decode=True),
        )
        for p in parts(sent)
    ]
    assert got == [("File", "a.edi", b"A"), ("File", "b.edi", b"BB")]


def test_a_name_no_header_can_carry_goes_as_one_multipart_part(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    fake.routes["/message/submit"] = ok({"identifier": MID}, 202)
    client.submit("MYSTATION", "ACME", [outbound(tmp_path, "fäctura.edi", b"x")])
    (sent,) = fake.api_requests()
    assert sent.headers["content-type"].startswith("multipart/form-data")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (ok({"message": "Unable to find partner with AS2 identifier: ACME"}, 422), PermanentError),
        (ok({"message": "Request Entity Too Large"}, 413), PermanentError),
        (ok({"message": "Service Unavailable"}, 503), UnknownOutcome),
        (ok({"message": "boom"}, 500), UnknownOutcome),
        (ok({"message": "slow down"}, 429), RateLimited),
        (ok({"message": "Message queued successfully"}, 202), UnknownOutcome),
    ],
)
def test_submit_outcomes(
    client: MftClient, fake: FakeMft, tmp_path: Path, reply: Reply, error: type[Exception]
) -> None:
    fake.routes["/message/submit"] = reply
    with pytest.raises(error) as caught:
        client.submit("MYSTATION", "ACME", [outbound(tmp_path, "a.edi", b"x")])
    assert type(caught.value) is error
    assert len(fake.api_requests()) == 1  # never repeated
    if caught.value.__class__ is PermanentError:
        assert "MFT Gateway" in str(caught.value)


def test_a_submit_that_never_left_is_transient(
    fake: FakeMft, clock: FakeTime, tmp_path: Path
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/message/submit":
            raise httpx.ConnectError("refused", request=request)
        return fake(request)

    client = MftClient(
        BASE,
        "u",
        PASSWORD,
        transport=httpx.MockTransport(refuse),
        clock=clock,
        limiter=RateLimiter(100, 10.0, clock=clock, sleep=clock.sleep),
    )
    with pytest.raises(TransientError) as caught:
        client.submit("MYSTATION", "ACME", [outbound(tmp_path, "a.edi", b"x")])
    assert not isinstance(caught.value, UnknownOutcome)


def test_submit_refuses_what_headers_cannot_carry(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    item = outbound(tmp_path, "a.edi", b"x")
    for args in (
        ("MYSTATION", "ACMÉ", [item]),
        ("MYSTATION", "ACME", []),
        ("MYSTATION", "ACME", [item, item]),
    ):
        with pytest.raises(InvalidRequest):
            client.submit(*args)
    with pytest.raises(InvalidRequest):
        client.submit("MYSTATION", "ACME", [item], subject="line\nbreak")
    assert fake.requests == []


# -- lists, messages, deletes ----------------------------------------------------------------


def test_lists_send_only_new_names(client: MftClient, fake: FakeMft) -> None:
    fake.routes["/message/outbox/failed"] = ok({"messages": [MID]})
    got = client.list_page(
        Box.FAILED, page=2, page_length=50, station="MYSTATION", partner="ACME", identifier=MID
    )
    assert got == [MID]
    (sent,) = fake.api_requests()
    assert dict(sent.url.params) == {
        "sortDir": "asc",
        "pageOffset": "2",
        "pageLength": "50",
        "stationIdentifier": "MYSTATION",
        "partnerIdentifier": "ACME",
        "identifier": MID,
    }
    fake.routes["/message/inbox"] = ok({"messages": []})
    client.list_page(Box.INBOX, fetch_all=True, subject="INV-")
    assert dict(fake.api_requests()[-1].url.params)["fetchAll"] == "true"
    assert_new_names_only(fake)


def test_message_ids_are_percent_encoded_and_mark_as_read_always_explicit(
    client: MftClient, fake: FakeMft
) -> None:
    body = {
        "identifier": MID,
        "incoming": True,
        "senderIdentifier": "ACME",
        "receiverIdentifier": "ST",
    }
    fake.routes[f"/message/inbox/{MID}"] = ok(body)
    info = client.inbox_message(MID, mark_read=False)
    client.mark_read(MID)
    assert info.partner == "ACME"
    peek, mark = fake.api_requests()
    assert peek.url.raw_path.decode().startswith("/message/inbox/%3C1603%40mftgateway.com%3E?")
    assert (peek.url.params["markAsRead"], mark.url.params["markAsRead"]) == ("false", "true")


def test_delete_sends_message_identifiers(client: MftClient, fake: FakeMft) -> None:
    fake.routes["/message/inbox/delete"] = [
        ok({"deleted": ["<a>"]}),
        ok({"message": "Unable to find messages"}, 404),
    ]
    assert client.delete(Box.INBOX, ["<a>", "<b>", "<a>"]) == ["<a>"]
    assert json.loads(fake.api_requests()[0].content) == {"messageIdentifiers": ["<a>", "<b>"]}
    assert client.delete(Box.INBOX, ["<c>"]) == []
    assert_new_names_only(fake)


def test_incomplete_list_404_is_empty_with_one_warning(client: MftClient, fake: FakeMft) -> None:
    fake.routes["/message/outbox/incomplete"] = ok({"message": "Coming soon"}, 404)
    with capture_logs() as logs:
        assert client.list_page(Box.INCOMPLETE) == []
        assert client.list_page(Box.INCOMPLETE) == []
    warnings = [e for e in logs if e["event"] == "gateway.incomplete_list_unavailable"]
    assert len(warnings) == 1
    fake.routes["/message/outbox/failed"] = ok({"message": "nope"}, 404)
    with pytest.raises(PermanentError):
        client.list_page(Box.FAILED)


def test_429_and_503_back_off_through_the_shared_limiter(
    client: MftClient, fake: FakeMft, clock: FakeTime
) -> None:
    fake.routes["/message/inbox"] = [
        ok({"message": "Too Many Requests"}, 429, {"Retry-After": "7"}),
        ok({"message": "Service Unavailable"}, 503),
        ok({"messages": ["<a>"]}),
    ]
    start = clock.now
    assert client.list_page(Box.INBOX) == ["<a>"]
    assert len(fake.api_requests()) == 3
    assert clock.now - start >= 7 + 10  # Retry-After, then a whole window for the 503


# -- downloads -------------------------------------------------------------------------------


def test_downloads_carry_no_authorization_and_expired_urls_are_renewed(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    listings = iter(range(1, 10))

    def urls(request: httpx.Request) -> httpx.Response:
        n = next(listings)
        return httpx.Response(
            200,
            json={
                "total": 2,
                "attachments": [
                    {"name": "a.edi", "url": f"https://s3.example.test/a?sig={n}"},
                    {"name": "b.edi", "url": f"https://s3.example.test/b?sig={n}"},
                ],
            },
        )

    def s3(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/b" and request.url.params["sig"] == "1":
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>")
        return httpx.Response(200, content=request.url.path.encode() * 3)

    fake.routes[f"/message/inbox/{MID}/attachments"] = urls
    fake.routes["s3.example.test"] = s3
    done = client.download_attachments(Box.INBOX, MID, lambda i, name: tmp_path / f"{i}-{name}")
    assert [(d.index, d.name, d.size) for d in done] == [(0, "a.edi", 6), (1, "b.edi", 6)]
    assert (tmp_path / "1-b.edi").read_bytes() == b"/b/b/b"
    objects = [r for r in fake.requests if r.url.host == "s3.example.test"]
    assert [str(r.url) for r in objects] == [
        "https://s3.example.test/a?sig=1",
        "https://s3.example.test/b?sig=1",
        "https://s3.example.test/b?sig=2",
    ]
    assert all("authorization" not in r.headers for r in objects)


def test_a_url_refused_every_time_gives_up(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    fake.routes[f"/message/inbox/{MID}/attachments"] = ok(
        {"total": 1, "attachments": [{"name": "a", "url": "https://s3.example.test/a"}]}
    )
    fake.routes["s3.example.test"] = lambda r: httpx.Response(403)
    with pytest.raises(UrlRefused):
        client.download_attachments(Box.INBOX, MID, lambda i, name: tmp_path / name)
    assert not (tmp_path / "a").exists()
    listings = [r for r in fake.requests if r.url.path.endswith("/attachments")]
    assert len(listings) == 3  # the first, and two refreshes


def test_a_plain_http_url_to_another_host_is_refused(
    client: MftClient, fake: FakeMft, tmp_path: Path
) -> None:
    fake.routes[f"/message/inbox/{MID}/attachments"] = ok(
        {"total": 1, "attachments": [{"name": "a", "url": "http://s3.example.test/a"}]}
    )
    with pytest.raises(Exception, match="not https"):
        client.download_attachments(Box.INBOX, MID, lambda i, name: tmp_path / name)


def test_sizes_from_content_range_or_a_store_that_ignores_the_range(
    client: MftClient, fake: FakeMft
) -> None:
    fake.routes[f"/message/inbox/{MID}/attachments"] = ok(
        {
            "total": 2,
            "attachments": [
                {"name": "a", "url": "https://s3.example.test/a"},
                {"name": "b", "url": "https://s3.example.test/b"},
            ],
        }
    )

    def s3(request: httpx.Request) -> httpx.Response:
        assert request.headers["range"] == "bytes=0-0"
        assert "authorization" not in request.headers
        if request.url.path == "/a":
            return httpx.Response(206, content=b"x", headers={"Content-Range": "bytes 0-0/1234"})
        return httpx.Response(200, content=b"whole body")

    fake.routes["s3.example.test"] = s3
    assert client.attachment_sizes(Box.INBOX, MID) == [("a", 1234), ("b", 10)]


def test_an_object_store_5xx_is_retried(client: MftClient, fake: FakeMft, tmp_path: Path) -> None:
    fake.routes[f"/message/inbox/{MID}/attachments"] = ok(
        {"total": 1, "attachments": [{"name": "a", "url": "https://s3.example.test/a"}]}
    )
    fake.routes["s3.example.test"] = [
        lambda r: httpx.Response(500, text="<Error><Code>InternalError</Code></Error>"),
        lambda r: httpx.Response(200, content=b"bytes"),
    ]
    done = client.download_attachments(Box.INBOX, MID, lambda i, name: tmp_path / name)
    assert [(d.name, d.size) for d in done] == [("a", 5)]
