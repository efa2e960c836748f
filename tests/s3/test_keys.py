"""The bucket layout of seed 004."""

from __future__ import annotations

import pytest

from as2sync.backends.mftgateway_s3 import keys


def test_the_seeds_prefixes() -> None:
    assert keys.send_key("ST", "PA", "orders.edi") == "AS2/send/ST/PA/orders.edi"
    assert keys.outbox_prefix("ST", "PA") == "AS2/files/ST/PA/outbox/"
    assert keys.duplicate_prefix("ST", "PA") == "AS2/duplicate/ST/PA/"
    assert keys.inbox_prefix("ST", "PA") == "AS2/files/ST/PA/inbox/"


@pytest.mark.parametrize("bad", ["", "a/b", ".", ".."])
def test_a_value_that_is_not_one_segment_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.send_key("ST", "PA", bad)
    with pytest.raises(ValueError):
        keys.inbox_prefix(bad, "PA")


def test_inbox_keys_are_taken_apart() -> None:
    parsed = keys.parse_inbox_key("AS2/files/ST/PA/inbox/1733040000000-4821/inv.xml")
    assert parsed == keys.InboxObject("ST", "PA", "1733040000000-4821", "inv.xml")
    assert keys.name_of("AS2/files/ST/PA/outbox/x/inv.xml") == "inv.xml"


@pytest.mark.parametrize(
    "key",
    [
        "AS2/files/ST/PA/inbox/",  # a folder marker
        "AS2/files/ST/PA/inbox/inv.xml",  # no message folder
        "AS2/files/ST/PA/inbox/m/sub/inv.xml",  # deeper than the seed says
        "AS2/files/ST/PA/outbox/m/inv.xml",
        "AS2/raw-message/ST/PA/inbox/m/inv.xml",
        "AS2/files/ST/PA/inbox/m/",
    ],
)
def test_other_keys_are_not_inbox_objects(key: str) -> None:
    assert keys.parse_inbox_key(key) is None
