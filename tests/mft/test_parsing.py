"""Reading MFT Gateway answers: new names first, old ones accepted; the submit's ID from any
documented key or the raw Link header."""

from __future__ import annotations

import pytest

from as2sync.backends.mftgateway.parsing import (
    id_from_link,
    parse_attachment_urls,
    parse_certificate,
    parse_certificates,
    parse_id_list,
    parse_message,
    parse_session,
    submit_id,
)
from as2sync.errors import ProtocolError

MID = "<16037890537199092@mftgateway.com>"


def test_session_tokens_new_names_first_old_accepted() -> None:
    both = parse_session({"apiToken": "new", "api_token": "old", "refresh_token": "r"})
    assert (both.api_token, both.refresh_token) == ("new", "r")
    old = parse_session({"api_token": "a", "refresh_token": "r"})
    assert (old.api_token, old.refresh_token) == ("a", "r")
    with pytest.raises(ProtocolError):
        parse_session({"token": "v1-style"})


@pytest.mark.parametrize("key", ["identifier", "messageIdentifier", "as2MessageId", "as2messageId"])
def test_submit_id_from_any_documented_key(key: str) -> None:
    assert submit_id({"message": "Message queued successfully", key: MID}, None) == MID


def test_submit_id_prefers_the_new_key_then_falls_back_to_the_link() -> None:
    assert submit_id({"identifier": "<new>", "as2MessageId": "<old>"}, None) == "<new>"
    link = f"https://api.mftgateway.com/message/outbox/{MID}"
    assert submit_id({"message": "queued"}, link) == MID
    assert submit_id(None, link) == MID
    assert submit_id({"message": "queued"}, None) is None


@pytest.mark.parametrize(
    "link",
    [
        f"https://api.mftgateway.com/message/outbox/{MID}",
        "https://api.mftgateway.com/message/outbox/%3C16037890537199092%40mftgateway.com%3E",
        f"<https://api.mftgateway.com/message/outbox/{MID}>; rel=self",
        f"<https://api.mftgateway.com/message/outbox/{MID}>",
        f"  http://127.0.0.1:8000/message/outbox/{MID}  ",
    ],
)
def test_link_header_is_read_raw(link: str) -> None:
    assert id_from_link(link) == MID


@pytest.mark.parametrize(
    "link", [None, "", "https://x/message/inbox/<a>", "https://x/message/outbox/"]
)
def test_link_without_an_id(link: str | None) -> None:
    assert id_from_link(link) is None


def test_message_new_names_first_old_accepted_and_sides_by_direction() -> None:
    new = parse_message(
        {
            "identifier": MID,
            "as2MessageId": "<old>",
            "id": 9007199254740993,
            "incoming": True,
            "senderIdentifier": "PARTNER",
            "receiverIdentifier": "STATION",
            "attachmentPaths": ["AS2/files/STATION/PARTNER/inbox/1/a.edi"],
            "timestamp": 1634132550192,
            "msgStatus": "Received",
            "apiFetched": False,
        },
        "get",
    )
    assert (new.identifier, new.station, new.partner) == (MID, "STATION", "PARTNER")
    assert new.internal_id == "9007199254740993"  # exact beyond 2**53
    old = parse_message(
        {"as2MessageId": MID, "incoming": False, "senderAS2Id": "ST", "receiverAS2Id": "PA"}, "get"
    )
    assert (old.identifier, old.station, old.partner) == (MID, "ST", "PA")
    with pytest.raises(ProtocolError):
        parse_message({"subject": "no id"}, "get")


def test_id_lists_and_attachment_urls() -> None:
    assert parse_id_list({"messages": ["<a>", "<b>"]}, "list") == ["<a>", "<b>"]
    with pytest.raises(ProtocolError):
        parse_id_list({"records": []}, "list")
    urls = parse_attachment_urls(
        {"total": 1, "attachments": [{"name": "a.edi", "url": "https://s3/x"}]}, "urls"
    )
    assert urls.total == 1 and urls.attachments[0].url == "https://s3/x"
    with pytest.raises(ProtocolError, match="total"):
        parse_attachment_urls({"total": 2, "attachments": [{"name": "a", "url": "u"}]}, "urls")


def test_certificate_expiry_timestamp_first_then_the_date_string() -> None:
    new = parse_certificate(
        {
            "alias": "a1",
            "type": "STATION",
            "subjectCommonName": "ME",
            "expiry": "Sun Jan 17 00:00:00 UTC 2038",
            "expiryTimestamp": 1_893_456_000_000,
            "belongsTo": ["MYSTATION"],
        }
    )
    assert (new.type, new.common_name, new.expires_at) == ("IDENTITY", "ME", 1_893_456_000.0)
    assert new.belongs_to == ("MYSTATION",)
    old = parse_certificate(
        {
            "alias": "a2",
            "type": "HTTPS",
            "subject_common_name": "Amazon Root CA 1",
            "expiry": "Sun Jan 17 00:00:00 UTC 2038",
        }
    )
    assert (old.common_name, old.expires_at) == ("Amazon Root CA 1", 2_147_299_200.0)
    seconds = parse_certificate({"alias": "a3", "type": "TRUST", "expiryTimestamp": 2_000_000_000})
    assert seconds.expires_at == 2_000_000_000.0
    assert parse_certificate({"alias": "a4", "expiry": "soon"}).expires_at is None
    refs = parse_certificates(
        [{"alias": "x", "type": "PARTNER_CHAIN"}, {"alias": "y", "type": "TRUST"}]
    )
    assert [(r.alias, r.type) for r in refs] == [("x", "TRUST_CHAIN"), ("y", "TRUST")]
