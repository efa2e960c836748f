"""The v1 client over a scripted transport: requests on the wire, error classes, streaming."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from structlog.testing import capture_logs

from as2sync.backends.as2gateway.client import As2GatewayClient
from as2sync.backends.as2gateway.model import (
    Digest,
    Folder,
    ListQuery,
    OutboundFile,
    PartnerType,
    Truncation,
)
from as2sync.backends.as2gateway.parsing import message_id_from_link, parse_truncation
from as2sync.backends.http.ratelimit import Priority, RateLimiter, current_priority, priority
from as2sync.errors import (
    ConfigError,
    ContentChanged,
    InvalidRequest,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    StorageError,
    TransientError,
    UnknownOutcome,
)
from tests.unit.fake_gateway import BASE, PASSWORD, ScriptedGateway, make_client, ok

MESSAGE_ID = "<90766548.41.1573209810390@as2gateway.com>"
ODD_ID = "<a+b/c d@x.y>"
ODD_ID_PATH = "%3Ca%2Bb%2Fc%20d%40x.y%3E"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def accepted(message_id: str = MESSAGE_ID) -> httpx.Response:
    return httpx.Response(
        202,
        json={"message": "Successfully added a new outbound entry"},
        headers={"Link": f"{BASE}/message/sent/{message_id}"},
    )


def record(message_id: str = MESSAGE_ID, **extra: object) -> dict[str, object]:
    return {
        "as2MessageId": message_id,
        "persistedTimestamp": 1556797479000,
        "senderId": "ST1",
        "receiverId": "PA1",
        "attachments": [{"name": "a.edi", "size": 3}],
        **extra,
    }


def page(*records: dict[str, object]) -> httpx.Response:
    return ok({"totalRecords": len(records), "records": list(records)})


@pytest.fixture
def one_file(tmp_path: Path) -> OutboundFile:
    path = tmp_path / "invoice.xml"
    path.write_bytes(b"<invoice/>")
    return OutboundFile(path=path, name="invoice.xml", content_type="text/xml", size=10)


def make_files(tmp_path: Path, *names: str) -> list[OutboundFile]:
    files: list[OutboundFile] = []
    for name in names:
        path = tmp_path / f"src-{len(files)}"
        path.write_bytes(f"content of {name}".encode())
        files.append(OutboundFile(path, name, "text/plain", path.stat().st_size))
    return files


def multipart_parts(request: httpx.Request) -> list[tuple[str | None, str, bytes]]:
    """(filename, content type, payload) of every part of a multipart request."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    parts = []
    for part in message.iter_parts():
        assert part.get_param("name", header="content-disposition") == "file"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((part.get_filename(), part.get_content_type(), payload))
    return parts


# -- submit -------------------------------------------------------------------------------


def test_single_file_is_sent_as_raw_body_with_name_type_and_length(
    one_file: OutboundFile,
) -> None:
    gateway = ScriptedGateway(accepted())
    with make_client(gateway) as client:
        message_id = client.submit("ST1", "PA1", [one_file], subject="Invoice 1")
    assert message_id == MESSAGE_ID
    (request,) = gateway.requests
    assert request.method == "POST"
    assert request.url.raw_path.split(b"?")[0] == b"/v1/message/ST1/PA1"
    assert request.url.params["subject"] == "Invoice 1"
    assert request.url.params["partnerType"] == "production"
    assert request.headers["Name"] == "invoice.xml"
    assert request.headers["Content-Type"] == "text/xml"
    assert request.headers["Content-Length"] == "10"
    assert request.content == b"<invoice/>"


def test_partner_type_test_and_missing_subject(one_file: OutboundFile) -> None:
    gateway = ScriptedGateway(accepted())
    with make_client(gateway) as client:
        client.submit("ST1", "PA1", [one_file], partner_type=PartnerType.TEST)
    params = gateway.requests[0].url.params
    assert params["partnerType"] == "test"
    assert "subject" not in params


class ChunkCountingTransport(httpx.BaseTransport):
    """Consumes request bodies chunk by chunk, as a socket would (MockTransport reads the
    whole body into memory first, which would hide what this test is about)."""

    def __init__(self) -> None:
        self.chunks: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authorize"):
            request.read()
            return ok({"token": "tok-stream-0123456789", "expiry": 4_102_444_800_000})
        assert isinstance(request.stream, httpx.SyncByteStream)
        self.chunks.extend(len(chunk) for chunk in request.stream)
        return accepted()


def test_single_file_body_is_streamed_from_disk_in_chunks(tmp_path: Path) -> None:
    size = 8 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as out:
        out.truncate(size)
    transport = ChunkCountingTransport()
    client = As2GatewayClient(
        BASE, "u@example.com", PASSWORD, transport=transport, limiter=RateLimiter(1000, 1.0)
    )
    with client:
        tracemalloc.start()
        try:
            client.submit("ST1", "PA1", [OutboundFile(path, "big.bin", "application/x", size)])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert sum(transport.chunks) == size
    assert max(transport.chunks) <= 64 * 1024
    assert peak < size / 8, f"peak {peak} bytes for an {size}-byte upload"


class ChangingTransport(httpx.BaseTransport):
    """Consumes request bodies chunk by chunk and lets ``change`` run after the first chunk
    went, as a writer holding the file open could (the chunks that went are recorded)."""

    def __init__(self, change: Callable[[], None]) -> None:
        self.change = change
        self.sent: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authorize"):
            request.read()
            return ok({"token": "tok-stream-0123456789", "expiry": 4_102_444_800_000})
        assert isinstance(request.stream, httpx.SyncByteStream)
        for chunk in request.stream:
            self.sent.append(chunk)
            if len(self.sent) == 1:
                self.change()
        return accepted()


def claimed(path: Path, name: str = "big.edi") -> OutboundFile:
    data = path.read_bytes()
    return OutboundFile(
        path, name, "application/edi-x12", len(data), hashlib.sha256(data).hexdigest()
    )


@pytest.mark.parametrize("files", [1, 2])
@pytest.mark.parametrize(
    "change",
    [
        lambda fh: (fh.seek(0, 2), fh.write(b"appended by a writer")),  # grew
        lambda fh: (fh.seek(200_000), fh.write(b"CHANGED")),  # same size, other bytes
        lambda fh: fh.truncate(100_000),  # shrank
    ],
)
def test_a_file_changed_during_its_upload_is_cut_off_before_its_last_byte(
    tmp_path: Path, files: int, change: Callable[[IO[bytes]], object]
) -> None:
    path = tmp_path / "big.edi"
    path.write_bytes(b"ISA*" + b"x" * 300_000)
    items = [claimed(path)] + [claimed(path, f"other{i}.edi") for i in range(1, files)]
    expected = sum(i.size for i in items)

    def writer() -> None:
        with path.open("r+b") as fh:
            change(fh)

    transport = ChangingTransport(writer)
    client = As2GatewayClient(
        BASE, "u@example.com", PASSWORD, transport=transport, limiter=RateLimiter(1000, 1.0)
    )
    with client, pytest.raises(ContentChanged) as raised:
        client.submit("ST1", "PA1", items)
    assert raised.value.partial  # the request had begun: in doubt for the caller
    assert sum(len(c) for c in transport.sent) < expected  # its last bytes never went


@pytest.mark.parametrize("files", [1, 2])
def test_a_file_whose_size_changed_before_the_upload_is_not_sent_at_all(
    tmp_path: Path, files: int
) -> None:
    path = tmp_path / "inv.edi"
    path.write_bytes(b"ISA*claimed~")
    items = [claimed(path, f"f{i}.edi") for i in range(files)]
    with path.open("ab") as fh:
        fh.write(b"and more~")
    gateway = ScriptedGateway()
    with make_client(gateway) as client, pytest.raises(ContentChanged) as raised:
        client.submit("ST1", "PA1", items)
    assert not raised.value.partial
    assert gateway.requests == []


def test_exactly_the_recorded_bytes_are_sent_with_their_length(tmp_path: Path) -> None:
    path = tmp_path / "inv.edi"
    path.write_bytes(b"ISA*claimed~")
    gateway = ScriptedGateway(accepted(), accepted())
    with make_client(gateway) as client:
        client.submit("ST1", "PA1", [claimed(path, "inv.edi")])
        client.submit("ST1", "PA1", [claimed(path, "a.edi"), claimed(path, "b.edi")])
    raw, multi = gateway.requests
    assert (raw.headers["Content-Length"], raw.content) == ("12", b"ISA*claimed~")
    assert int(multi.headers["Content-Length"]) == len(multi.content)  # not chunked
    assert [p[2] for p in multipart_parts(multi)] == [b"ISA*claimed~", b"ISA*claimed~"]


def test_several_files_go_as_multipart_file_parts(tmp_path: Path) -> None:
    files = make_files(tmp_path, "one.txt", "two.txt", "three.txt")
    gateway = ScriptedGateway(accepted())
    with make_client(gateway) as client:
        client.submit("ST1", "PA1", files)
    (request,) = gateway.requests
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "Name" not in request.headers
    assert multipart_parts(request) == [
        ("one.txt", "text/plain", b"content of one.txt"),
        ("two.txt", "text/plain", b"content of two.txt"),
        ("three.txt", "text/plain", b"content of three.txt"),
    ]


def test_a_name_a_header_cannot_carry_goes_as_multipart(tmp_path: Path) -> None:
    files = make_files(tmp_path, "Rechnung-März.xml")
    gateway = ScriptedGateway(accepted())
    with make_client(gateway) as client:
        client.submit("ST1", "PA1", files)
    (request,) = gateway.requests
    assert "Name" not in request.headers
    assert multipart_parts(request)[0][0] == "Rechnung-März.xml"


@pytest.mark.parametrize("names", [[], ["a.txt", "a.txt"], [f"f{i}.txt" for i in range(11)], [""]])
def test_invalid_file_sets_are_refused_before_any_request(tmp_path: Path, names: list[str]) -> None:
    gateway = ScriptedGateway()
    files = [OutboundFile(tmp_path / "x", n, "text/plain", 1) for n in names]
    with make_client(gateway) as client, pytest.raises(InvalidRequest):
        client.submit("ST1", "PA1", files)
    assert gateway.requests == []
    assert gateway.logins == []


def test_missing_file_is_a_storage_error_and_nothing_is_sent(tmp_path: Path) -> None:
    gateway = ScriptedGateway()
    gone = OutboundFile(tmp_path / "gone.txt", "gone.txt", "text/plain", 1)
    with make_client(gateway) as client, pytest.raises(StorageError):
        client.submit("ST1", "PA1", [gone])
    assert gateway.requests == []


def test_a_file_that_is_a_symlink_is_not_followed_and_nothing_is_sent(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(b"s")
    (tmp_path / "link.txt").symlink_to(tmp_path / "elsewhere")
    gateway = ScriptedGateway(accepted())
    link = OutboundFile(tmp_path / "link.txt", "link.txt", "text/plain", 1)
    with make_client(gateway) as client, pytest.raises(StorageError, match="symbolic link"):
        client.submit("ST1", "PA1", [link])
    assert gateway.requests == []


def test_a_file_is_read_through_its_opener(tmp_path: Path) -> None:
    gateway = ScriptedGateway(accepted())
    opened: list[str] = []

    (tmp_path / "given").write_bytes(b"given")

    def opener() -> IO[bytes]:
        opened.append("x")
        return (tmp_path / "given").open("rb")

    item = OutboundFile(tmp_path / "absent.txt", "a.txt", "text/plain", 5, opener=opener)
    with make_client(gateway) as client:
        client.submit("ST1", "PA1", [item])
    (request,) = gateway.requests
    assert request.content == b"given"
    assert opened == ["x"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.ConnectError("connection refused"), TransientError),
        (httpx.ConnectTimeout("connect timed out"), TransientError),
        (httpx.PoolTimeout("no connection free"), TransientError),
        (httpx.ReadTimeout("read timed out"), UnknownOutcome),
        (httpx.WriteTimeout("write timed out"), UnknownOutcome),
        (httpx.WriteError("broken pipe"), UnknownOutcome),
        (httpx.ReadError("connection reset"), UnknownOutcome),
        (httpx.RemoteProtocolError("server disconnected"), UnknownOutcome),
        (ok({"message": "boom"}, 500), UnknownOutcome),
        (ok({"message": "bad gateway"}, 502), UnknownOutcome),
        (ok({"message": "unavailable"}, 503), UnknownOutcome),
        (ok({"message": "gateway timeout"}, 504), UnknownOutcome),
        (ok({"message": "too many"}, 429), RateLimited),
        (ok({"message": "Partner PA1 not found"}, 404), NotFound),
        (ok({"message": "Invalid partner type"}, 400), PermanentError),
        (ok({"message": "too big"}, 413), PermanentError),
        (httpx.Response(307, headers={"Location": "https://elsewhere/"}), PermanentError),
        (httpx.Response(202, json={"message": "queued"}), UnknownOutcome),
        (httpx.Response(202, headers={"Link": "https://gw.example/v1/other"}), UnknownOutcome),
    ],
)
def test_send_errors_are_classified_and_never_repeated(
    one_file: OutboundFile, answer: httpx.Response | Exception, expected: type[Exception]
) -> None:
    gateway = ScriptedGateway(answer, default=accepted())
    sleeps: list[float] = []
    with make_client(gateway, sleeps=sleeps) as client, pytest.raises(expected) as raised:
        client.submit("ST1", "PA1", [one_file])
    assert type(raised.value) is expected
    assert len(gateway.requests) == 1
    assert sleeps == []


def test_send_refused_with_404_carries_the_gateway_message(one_file: OutboundFile) -> None:
    gateway = ScriptedGateway(ok({"message": "Partner PA1 not found"}, 404))
    with make_client(gateway) as client, pytest.raises(NotFound) as raised:
        client.submit("ST1", "PA1", [one_file])
    assert "Partner PA1 not found" in str(raised.value)
    assert raised.value.status == 404


def test_send_rate_limited_carries_retry_after_and_pauses_the_limiter(
    one_file: OutboundFile,
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    gateway = ScriptedGateway(ok({"message": "slow down"}, 429, **{"Retry-After": "7"}))
    with make_client(gateway, limiter=limiter) as client:
        with pytest.raises(RateLimited) as raised:
            client.submit("ST1", "PA1", [one_file])
        assert raised.value.retry_after == 7.0
        gateway.script.append(accepted())
        client.submit("ST1", "PA1", [one_file])
    assert sum(clock.sleeps) == pytest.approx(7.0)


def test_send_with_expired_token_is_renewed_and_repeated_with_the_whole_file(
    one_file: OutboundFile,
) -> None:
    gateway = ScriptedGateway(ok({"message": "token expired"}, 401), accepted())
    with make_client(gateway) as client:
        assert client.submit("ST1", "PA1", [one_file]) == MESSAGE_ID
    assert [r.content for r in gateway.requests] == [b"<invoice/>", b"<invoice/>"]
    assert [r.headers["Authorization"] for r in gateway.requests] == gateway.tokens


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (f"{BASE}/message/sent/{MESSAGE_ID}", MESSAGE_ID),
        (f"{BASE}/message/sent/%3C90766548.41%40as2gateway.com%3E", "<90766548.41@as2gateway.com>"),
        (f'<{BASE}/message/sent/%3Cid%40host%3E>; rel="self"', "<id@host>"),
        (f"<{BASE}/message/sent/<id@host>>", "<id@host>"),
        (f"  {BASE}/message/sent/{ODD_ID_PATH}  ", ODD_ID),
        (f"{BASE}/message/sent/<a/b@host>", "<a/b@host>"),
        (f"{BASE}/message/sent/", None),
        (f"{BASE}/message/received/<id@host>", None),
        ("", None),
        (None, None),
    ],
)
def test_message_id_is_read_from_the_link_header(link: str | None, expected: str | None) -> None:
    assert message_id_from_link(link) == expected


def test_submit_returns_the_percent_decoded_id_of_the_link(one_file: OutboundFile) -> None:
    gateway = ScriptedGateway(
        httpx.Response(202, headers={"Link": f"{BASE}/message/sent/{ODD_ID_PATH}"})
    )
    with make_client(gateway) as client:
        assert client.submit("ST1", "PA1", [one_file]) == ODD_ID


def test_sends_wait_as_high_priority_whatever_the_context(one_file: OutboundFile) -> None:
    levels: list[Priority] = []

    class RecordingLimiter(RateLimiter):
        def slot(
            self, level: Priority | None = None, *, stop: threading.Event | None = None
        ) -> Any:
            levels.append(level if level is not None else current_priority())
            return super().slot(level, stop=stop)

    gateway = ScriptedGateway(accepted(), page())
    with make_client(gateway, limiter=RecordingLimiter(100, 1.0)) as client, priority(Priority.LOW):
        client.submit("ST1", "PA1", [one_file])
        client.list_messages(Folder.SENT, ListQuery())
    # authorize, send, list
    assert levels == [Priority.HIGH, Priority.HIGH, Priority.LOW]


# -- idempotent requests: retries -------------------------------------------------------------


def test_idempotent_request_is_retried_through_503s() -> None:
    seen: list[tuple[str, int | None]] = []
    gateway = ScriptedGateway(ok(None, 503), ok(None, 503), page(record()))
    sleeps: list[float] = []
    with make_client(
        gateway, sleeps=sleeps, observer=lambda e, s, _t: seen.append((e, s))
    ) as client:
        result = client.list_messages(Folder.RECEIVED, ListQuery(unread_only=True))
    assert [m.message_id for m in result.records] == [MESSAGE_ID]
    assert len(gateway.requests) == 3
    assert seen == [
        ("authorize", 200),
        ("list_received", 503),
        ("list_received", 503),
        ("list_received", 200),
    ]


def test_503_with_retry_after_pauses_the_shared_limiter() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    gateway = ScriptedGateway(ok(None, 503, **{"Retry-After": "4"}), page())
    with make_client(gateway, limiter=limiter) as client:
        client.list_messages(Folder.SENT, ListQuery())
    assert clock.sleeps == [pytest.approx(4.0)]


def test_429_without_retry_after_waits_a_whole_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 10.0, clock=clock, sleep=clock.sleep)
    gateway = ScriptedGateway(ok(None, 429), page())
    with make_client(gateway, limiter=limiter) as client:
        client.list_messages(Folder.SENT, ListQuery())
    assert sum(clock.sleeps) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("disconnected"),
        httpx.ConnectError("refused"),
        ok(None, 500),
        httpx.Response(200, content=b"<html>proxy error</html>"),
    ],
)
def test_idempotent_failures_are_retried(failure: httpx.Response | Exception) -> None:
    gateway = ScriptedGateway(failure, ok([{"as2Identifier": "ST1", "name": "Station"}]))
    with make_client(gateway) as client:
        stations = client.stations()
    assert [(s.as2_id, s.name) for s in stations] == [("ST1", "Station")]
    assert len(gateway.requests) == 2


def test_persistent_transient_failure_gives_up_as_transient_error() -> None:
    gateway = ScriptedGateway(default=lambda r: ok(None, 502))
    with make_client(gateway, attempts=3) as client, pytest.raises(TransientError) as raised:
        client.partners()
    assert raised.value.status == 502
    assert len(gateway.requests) == 3


def test_not_found_is_not_retried() -> None:
    gateway = ScriptedGateway(ok({"message": "Message not found"}, 404))
    with make_client(gateway) as client, pytest.raises(NotFound, match="Message not found"):
        client.get_received(MESSAGE_ID)
    assert len(gateway.requests) == 1


def test_body_that_is_not_a_pagination_is_a_protocol_error() -> None:
    gateway = ScriptedGateway(default=lambda r: ok({"items": []}))
    with make_client(gateway, attempts=2) as client, pytest.raises(ProtocolError):
        client.list_messages(Folder.RECEIVED, ListQuery())


# -- message IDs on the wire -------------------------------------------------------------------


def test_message_ids_are_percent_encoded_in_every_path() -> None:
    gateway = ScriptedGateway(default=lambda r: ok(record(ODD_ID)))
    with make_client(gateway) as client:
        client.get_received(ODD_ID)
        client.mark_read(ODD_ID)
        client.mark_unread(ODD_ID)
    paths = [r.url.raw_path for r in gateway.requests]
    assert paths == [
        f"/v1/message/received/{ODD_ID_PATH}".encode(),
        f"/v1/message/received/{ODD_ID_PATH}?markAsRead=true".encode(),
        f"/v1/message/received/{ODD_ID_PATH}/markUnread".encode(),
    ]
    assert [r.method for r in gateway.requests] == ["GET", "GET", "POST"]


def test_message_id_filter_is_encoded_in_the_query() -> None:
    gateway = ScriptedGateway(page())
    with make_client(gateway) as client:
        client.list_messages(Folder.SENT, ListQuery(message_id="<a+b@x>"))
    raw = gateway.requests[0].url.raw_path
    assert b"as2MessageId=%3Ca%2Bb%40x%3E" in raw
    assert gateway.requests[0].url.params["as2MessageId"] == "<a+b@x>"


def test_get_received_parses_the_message_and_marks_read_only_when_asked() -> None:
    full = record(
        subject="Invoice",
        partnerType="Production",
        mdnStatus="Received",
        mdnMessage={"persistedTimestamp": 1556797479500, "mdnError": False, "content": "ok"},
    )
    gateway = ScriptedGateway(ok(full), ok(full))
    with make_client(gateway) as client:
        info = client.get_received(MESSAGE_ID)
        client.get_received(MESSAGE_ID, mark_read=True)
    assert "markAsRead" not in gateway.requests[0].url.params
    assert gateway.requests[1].url.params["markAsRead"] == "true"
    assert info.subject == "Invoice"
    assert info.mdn is not None and info.mdn.content == "ok"
    assert info.attachments[0].name == "a.edi"
    assert info.total_size == 3


# -- lists ------------------------------------------------------------------------------------


def test_list_sends_sorting_paging_and_filters() -> None:
    gateway = ScriptedGateway(page(record()))
    query = ListQuery(
        station="ST1",
        partner="PA1",
        unread_only=True,
        page=2,
        page_length=50,
        ascending=True,
        partner_type=PartnerType.TEST,
    )
    with make_client(gateway) as client:
        result = client.list_messages(Folder.RECEIVED, query)
    request = gateway.requests[0]
    assert request.url.path == "/v1/message/received"
    assert dict(request.url.params) == {
        "sortCol": "persistedTimestamp",
        "sortDir": "asc",
        "partnerType": "test",
        "pageOffset": "2",
        "pageLength": "50",
        "stationAS2Id": "ST1",
        "partnerAS2Id": "PA1",
        "unreadOnly": "true",
    }
    assert result.total == 1


def test_unread_only_is_sent_for_received_messages_only() -> None:
    gateway = ScriptedGateway(page())
    with make_client(gateway) as client:
        client.list_messages(Folder.SENT, ListQuery(unread_only=True))
    assert "unreadOnly" not in gateway.requests[0].url.params
    assert gateway.requests[0].url.params["sortDir"] == "desc"


def test_queued_list_uses_the_single_query_and_filters_the_rest_here() -> None:
    gateway = ScriptedGateway(
        ok(
            {
                "totalRecords": 3,
                "records": [
                    {"as2MessageId": "<m1@x>", "senderId": "ST1", "receiverId": "PA1"},
                    {"as2MessageId": "<m2@x>", "senderId": "ST2", "receiverId": "PA1"},
                    {"as2MessageId": "<m3@x>", "senderId": "ST1", "receiverId": "PA2"},
                ],
            }
        )
    )
    with make_client(gateway) as client:
        result = client.list_messages(Folder.QUEUED, ListQuery(station="ST1", partner="PA1"))
    params = gateway.requests[0].url.params
    assert params["query"] == "PA1"
    assert not {"stationAS2Id", "partnerAS2Id", "as2MessageId"} & set(params)
    assert [m.message_id for m in result.records] == ["<m1@x>"]
    # Queued records may lack attachments and timestamps: still parsed.
    assert result.records[0].attachments == ()


def test_queued_list_prefers_the_message_id_as_query() -> None:
    gateway = ScriptedGateway(page(record("<m1@x>", senderId="ST1", receiverId="PA1")))
    with make_client(gateway) as client:
        result = client.list_messages(
            Folder.QUEUED, ListQuery(station="ST1", partner="PA1", message_id="m1@x")
        )
    assert gateway.requests[0].url.params["query"] == "m1@x"
    assert len(result.records) == 1


def test_page_length_outside_the_api_range_is_refused() -> None:
    with make_client(ScriptedGateway()) as client, pytest.raises(InvalidRequest):
        client.list_messages(Folder.SENT, ListQuery(page_length=101))


def test_record_without_message_id_is_a_protocol_error() -> None:
    gateway = ScriptedGateway(default=lambda r: ok({"totalRecords": 1, "records": [{}]}))
    with make_client(gateway, attempts=1) as client, pytest.raises(ProtocolError):
        client.list_messages(Folder.SENT, ListQuery())


def test_stations_and_partners_are_parsed() -> None:
    gateway = ScriptedGateway(
        ok([{"id": 2, "as2Identifier": "bar", "name": "Bar"}]),
        ok([{"as2Identifier": "foo", "name": "Foo", "partnerType": "Test", "pauseOutgoing": True}]),
    )
    with make_client(gateway) as client:
        stations = client.stations()
        partners = client.partners()
    assert [r.url.path for r in gateway.requests] == ["/v1/station", "/v1/partner"]
    assert stations[0].as2_id == "bar"
    assert (partners[0].as2_id, partners[0].partner_type) == ("foo", "Test")
    assert partners[0].pause_outgoing and not partners[0].pause_incoming
    assert partners[0].send_timeout is None  # not given: the caller assumes the worst


@pytest.mark.parametrize(
    ("value", "expected"), [(60, 60.0), (2.5, 2.5), ("300", 300.0), (-1, None), ("x", None)]
)
def test_a_partners_send_timeout_is_read_when_it_is_a_number(
    value: object, expected: float | None
) -> None:
    gateway = ScriptedGateway(ok([{"as2Identifier": "foo", "sendTimeout": value}]))
    with make_client(gateway) as client:
        [partner] = client.partners()
    assert partner.send_timeout == expected


# -- downloads --------------------------------------------------------------------------------


def test_batch_posts_the_ids_and_streams_the_zip_to_disk(tmp_path: Path) -> None:
    body = b"PK\x03\x04" + b"z" * 5000
    gateway = ScriptedGateway(httpx.Response(200, content=body))
    dest = tmp_path / "batch.zip"
    with make_client(gateway) as client:
        result = client.download_batch(["<a@x>", "<b@x>"], dest, mark_read=True)
    request = gateway.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/message/received/batch/attachments"
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.url.params["markAsRead"] == "true"
    assert json.loads(request.content) == ["<a@x>", "<b@x>"]
    assert result.zip_path == dest
    assert result.truncation is None
    assert result.size == len(body)
    assert dest.read_bytes() == body


def test_batch_without_mark_read_does_not_ask_for_it(tmp_path: Path) -> None:
    gateway = ScriptedGateway(httpx.Response(200, content=b"PK"))
    with make_client(gateway) as client:
        client.download_batch(["<a@x>"], tmp_path / "z", mark_read=False)
    assert "markAsRead" not in gateway.requests[0].url.params


@pytest.mark.parametrize(
    ("header", "expected"),
    [("(1,2)", Truncation(1, 2)), ("( 0 , -1 )", Truncation(0, -1)), (" (3,0) ", Truncation(3, 0))],
)
def test_partial_batch_reports_the_truncation_index(
    tmp_path: Path, header: str, expected: Truncation
) -> None:
    gateway = ScriptedGateway(
        httpx.Response(206, content=b"PK", headers={"X-Batch-Truncation-Index": header})
    )
    with make_client(gateway) as client:
        result = client.download_batch(["<a@x>", "<b@x>"], tmp_path / "z", mark_read=True)
    assert result.truncation == expected


@pytest.mark.parametrize("header", [None, "", "1,", "(a,b)", "(-1,0)", "(1;2)"])
def test_partial_batch_without_a_valid_index_is_a_protocol_error(
    tmp_path: Path, header: str | None
) -> None:
    headers = {} if header is None else {"X-Batch-Truncation-Index": header}
    gateway = ScriptedGateway(default=lambda r: httpx.Response(206, content=b"PK", headers=headers))
    dest = tmp_path / "z"
    with make_client(gateway, attempts=2) as client, pytest.raises(ProtocolError):
        client.download_batch(["<a@x>"], dest, mark_read=True)
    assert not dest.exists()


def test_truncation_header_parser_accepts_bare_pairs() -> None:
    assert parse_truncation("2, 5") == Truncation(2, 5)
    assert parse_truncation(None) is None


def test_short_batch_body_is_retried(tmp_path: Path) -> None:
    body = b"PK" + b"x" * 98
    short = httpx.Response(200, content=body[:50], headers={"Content-Length": "100"})
    gateway = ScriptedGateway(short, httpx.Response(200, content=body))
    dest = tmp_path / "z"
    with make_client(gateway) as client:
        result = client.download_batch(["<a@x>"], dest, mark_read=False)
    assert len(gateway.requests) == 2
    assert result.size == 100
    assert dest.read_bytes() == body


def test_short_body_that_stays_short_ends_as_transient_and_leaves_no_file(tmp_path: Path) -> None:
    gateway = ScriptedGateway(
        default=lambda r: httpx.Response(200, content=b"PK", headers={"Content-Length": "100"})
    )
    dest = tmp_path / "z"
    with make_client(gateway, attempts=2) as client, pytest.raises(TransientError):
        client.download_batch(["<a@x>"], dest, mark_read=False)
    assert not dest.exists()


def test_batch_of_more_than_100_ids_is_refused(tmp_path: Path) -> None:
    gateway = ScriptedGateway()
    with make_client(gateway) as client:
        with pytest.raises(InvalidRequest):
            client.download_batch([f"<{i}@x>" for i in range(101)], tmp_path / "z", mark_read=True)
        with pytest.raises(InvalidRequest):
            client.download_batch([], tmp_path / "z", mark_read=True)
    assert gateway.requests == []


def test_download_never_holds_the_body_in_memory(tmp_path: Path) -> None:
    chunk = b"\x00" * 65536
    total = 8 * 1024 * 1024

    def body() -> Iterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    gateway = ScriptedGateway(
        lambda r: httpx.Response(200, content=body(), headers={"Content-Length": str(total)})
    )
    dest = tmp_path / "big.zip"
    with make_client(gateway) as client:
        client.stations  # noqa: B018 - warm up imports outside the measurement
        tracemalloc.start()
        try:
            result = client.download_batch(["<a@x>"], dest, mark_read=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.size == total
    assert dest.stat().st_size == total
    assert peak < total / 8, f"peak {peak} bytes for an {total}-byte body"


def test_attachment_download_streams_to_dest(tmp_path: Path) -> None:
    gateway = ScriptedGateway(
        httpx.Response(
            200,
            content=b"ISA*00*...",
            headers={"Content-Disposition": "attachment; filename=a.edi"},
        )
    )
    dest = tmp_path / "a.edi"
    with make_client(gateway) as client:
        size = client.download_attachment(ODD_ID, 1, dest, mark_read=True)
    request = gateway.requests[0]
    assert (
        request.url.raw_path
        == f"/v1/message/received/{ODD_ID_PATH}/attachments/1?markAsRead=true".encode()
    )
    assert size == 10
    assert dest.read_bytes() == b"ISA*00*..."


def test_sent_attachment_is_hashed_as_it_streams_with_the_name_it_was_given() -> None:
    body = b"ISA*00*" * 50_000
    gateway = ScriptedGateway(
        httpx.Response(
            200,
            content=body,
            headers={
                "Content-Disposition": 'attachment; filename="f_r.edi"; '
                "filename*=UTF-8''f%C3%BCr.edi"
            },
        )
    )
    with make_client(gateway) as client:
        digest = client.sent_attachment_digest(ODD_ID, 2)
    assert (
        gateway.requests[0].url.raw_path == f"/v1/message/sent/{ODD_ID_PATH}/attachments/2".encode()
    )
    assert digest == Digest(hashlib.sha256(body).hexdigest(), len(body), "für.edi")


def test_a_sent_attachment_cut_short_is_retried_then_transient() -> None:
    short = httpx.Response(200, content=b"abc", headers={"Content-Length": "10"})
    gateway = ScriptedGateway(default=short)
    with make_client(gateway, attempts=2) as client, pytest.raises(TransientError):
        client.sent_attachment_digest("<a@x>", 0)
    assert len(gateway.requests) == 2


def test_download_into_a_missing_folder_is_a_storage_error(tmp_path: Path) -> None:
    gateway = ScriptedGateway(httpx.Response(200, content=b"x"))
    with make_client(gateway) as client, pytest.raises(StorageError):
        client.download_attachment("<a@x>", 0, tmp_path / "no" / "such" / "dir")
    assert len(gateway.requests) == 1


# -- delete -----------------------------------------------------------------------------------


def test_delete_sends_the_ids_as_a_json_array() -> None:
    gateway = ScriptedGateway(ok({"message": "Deleted 2 messages"}))
    with make_client(gateway) as client:
        client.delete(Folder.RECEIVED, ["<a@x>", "<b@x>"])
    request = gateway.requests[0]
    assert (request.method, request.url.path) == ("DELETE", "/v1/message/received")
    assert json.loads(request.content) == ["<a@x>", "<b@x>"]


def test_delete_of_already_deleted_messages_is_fine() -> None:
    gateway = ScriptedGateway(ok({"message": "Message not found"}, 404))
    with make_client(gateway) as client:
        client.delete(Folder.SENT, ["<gone@x>"])
    assert len(gateway.requests) == 1


def test_delete_limits() -> None:
    gateway = ScriptedGateway()
    with make_client(gateway) as client:
        client.delete(Folder.SENT, [])
        with pytest.raises(InvalidRequest):
            client.delete(Folder.SENT, [f"<{i}@x>" for i in range(101)])
    assert gateway.requests == []


# -- construction, observation, secrets --------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://api.as2gateway.com/v1", "ftp://127.0.0.1/v1", "api.as2gateway.com"]
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        As2GatewayClient(url, "u@example.com", PASSWORD)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:1/v1", BASE]
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    As2GatewayClient(url, "u@example.com", PASSWORD).close()


def test_a_failing_observer_does_not_change_the_result(one_file: OutboundFile) -> None:
    def broken(_endpoint: str, _status: int | None, _seconds: float) -> None:
        raise RuntimeError("metrics bug")

    gateway = ScriptedGateway(accepted())
    with make_client(gateway, observer=broken) as client:
        assert client.submit("ST1", "PA1", [one_file]) == MESSAGE_ID


def test_observer_sees_transport_failures_without_a_status() -> None:
    seen: list[tuple[str, int | None]] = []
    gateway = ScriptedGateway(httpx.ConnectError("refused"), page())
    with make_client(gateway, observer=lambda e, s, _t: seen.append((e, s))) as client:
        client.list_messages(Folder.FAILED, ListQuery())
    assert seen[1:] == [("list_failed", None), ("list_failed", 200)]


def test_requests_are_logged_at_debug_without_secrets(one_file: OutboundFile) -> None:
    gateway = ScriptedGateway(
        ok({"message": "x"}, 401),
        lambda r: ok({"message": f"bad token {r.headers['Authorization']}"}, 400),
    )
    with (
        capture_logs() as logs,
        make_client(gateway) as client,
        pytest.raises(PermanentError) as raised,
    ):
        client.submit("ST1", "PA1", [one_file])
    requests = [e for e in logs if e["event"] == "gateway.request"]
    assert [(e["endpoint"], e["status"]) for e in requests] == [
        ("authorize", 200),
        ("send", 401),
        ("authorize", 200),
        ("send", 400),
    ]
    assert all(e["log_level"] == "debug" for e in requests)
    text = json.dumps(logs, default=str) + str(raised.value)
    for secret in [PASSWORD, *gateway.tokens]:
        assert secret not in text
