"""Received messages listed from a real S3 protocol server (moto)."""

from __future__ import annotations

import threading

import pytest

from as2sync.backends import base
from as2sync.backends.mftgateway_s3 import listing
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.listing import folder_ms, list_inbox

INBOX = "AS2/files/MYSTATION/ACME/inbox/"
FAR = 4_000_000_000.0  # a "now" long after every object was written


def _put(s3: S3Clients, key: str, body: bytes = b"x") -> None:
    s3.writes.put_object(Bucket=s3.bucket, Key=key, Body=body)


def test_one_message_per_folder_with_its_attachments(s3: S3Clients) -> None:
    _put(s3, f"{INBOX}1733040000000-4821/inv.xml", b"<inv/>")
    _put(s3, f"{INBOX}1733040000000-4821/inv.pdf", b"%PDF-1.7")
    _put(s3, f"{INBOX}1733040005000-0007/orders.edi", b"UNB")
    _put(s3, f"{INBOX}stray.txt")  # no message folder: not the seed's layout
    _put(s3, "AS2/files/MYSTATION/OTHER/inbox/1733040000000-1/a.edi")  # another partner
    listed = list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=5)
    assert listed.complete and listed.unsettled == 0 and listed.objects == 4
    first, second = sorted(listed.messages, key=lambda p: p.remote_id)
    assert first.remote_id == f"{INBOX}1733040000000-4821/"
    assert first.persisted_ms == 1733040000000
    assert sorted(first.attachments, key=lambda a: a.name) == [
        base.Attachment("inv.pdf", 8),
        base.Attachment("inv.xml", 6),
    ]
    assert sorted(first.remote["keys"]) == [
        f"{INBOX}1733040000000-4821/inv.pdf",
        f"{INBOX}1733040000000-4821/inv.xml",
    ]
    assert (second.station, second.partner) == ("MYSTATION", "ACME")


def test_a_message_still_being_written_is_not_handed_out(s3: S3Clients) -> None:
    _put(s3, f"{INBOX}1733040000000-4821/inv.xml")
    written = s3.reads.head_object(Bucket=s3.bucket, Key=f"{INBOX}1733040000000-4821/inv.xml")
    at = written["LastModified"].timestamp()
    listed = list_inbox(s3, "MYSTATION", "ACME", now=at + 1, settle=5)
    assert (listed.messages, listed.unsettled) == ([], 1)
    assert len(list_inbox(s3, "MYSTATION", "ACME", now=at + 5, settle=5).messages) == 1


def test_every_page_is_read(s3: S3Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages of 10 keys on the real server (1,000 in production: the same pagination).
    monkeypatch.setattr(listing, "PAGE_SIZE", 10)
    for n in range(35):
        _put(s3, f"{INBOX}{1733040000000 + n:013d}-{n}/m.edi")
    listed = list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=0)
    assert len(listed.messages) == 35 and listed.complete


def test_the_horizon_skips_older_folders_but_not_a_late_early_key(s3: S3Clients) -> None:
    _put(s3, f"{INBOX}1733040000000-1/old.edi")
    _put(s3, f"{INBOX}1733043600000-2/new.edi")
    # A slow message whose receipt started before new.edi's lands after it was seen: a horizon
    # before the newest key (the longest receipt allowed) still finds it.
    _put(s3, f"{INBOX}1733043000000-3/late.edi")
    listed = list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=0, since_ms=1733042000000)
    assert sorted(p.attachments[0].name for p in listed.messages) == ["late.edi", "new.edi"]
    assert listed.objects == 2


def test_a_set_stop_says_the_listing_is_not_complete(s3: S3Clients) -> None:
    _put(s3, f"{INBOX}1733040000000-1/a.edi")
    stop = threading.Event()
    stop.set()
    listed = list_inbox(s3, "MYSTATION", "ACME", now=FAR, settle=0, stop=stop)
    assert not listed.complete and listed.messages == []


def test_folder_timestamps() -> None:
    assert folder_ms("1733040000000-4821") == 1733040000000
    assert folder_ms("abc-1") is None
