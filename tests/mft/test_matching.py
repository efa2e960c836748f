"""The MFT locate rules, pure: a match is certain (same bytes) or not made."""

from __future__ import annotations

import hashlib

from as2sync.backends.base import Content, Doubt, Found, Located
from as2sync.backends.mftgateway.matching import Seen, content_key, names_key, plan

T0 = 1_800_000_000.0


def files(*pairs: tuple[str, bytes]) -> tuple[Content, ...]:
    return tuple(Content(n, len(d), hashlib.sha256(d).hexdigest()) for n, d in pairs)


A = files(("po.edi", b"AAAA"))
B = files(("po.edi", b"BBBB"))  # same name and size, other bytes


def row(id: int, content: tuple[Content, ...], at: float = T0, settle: bool = True) -> Doubt:
    return Doubt(id=id, started_at=at, files=content, settle=settle)


def seen(
    rid: str, content: tuple[Content, ...] | None, at: float = T0 + 1, gone: bool = False
) -> Seen:
    names = names_key([c.name for c in (content or A)])
    key = None if content is None else content_key(content)
    return Seen(rid, "message/outbox", int(at * 1000), names, key, gone)


def decide(
    rows: list[Doubt], items: list[Seen], now: float = T0 + 10, complete: bool = True
) -> dict[int, Located]:
    return plan(rows, items, now=now, grace=300, complete=complete)


def test_same_bytes_is_found_other_bytes_never() -> None:
    got = decide([row(1, A), row(2, B)], [seen("<a>", A)])
    assert (got[1].found, got[1].remote_id) == (Found.FOUND, "<a>")
    assert got[2].found is Found.WAIT
    later = decide([row(2, B)], [seen("<a>", A)], now=T0 + 301)
    assert later[2].found is Found.ABSENT


def test_one_message_settles_one_row_of_two_with_the_same_bytes() -> None:
    rows = [row(1, A), row(2, A, at=T0 + 0.5)]
    got = decide(rows, [seen("<a>", A)])
    assert (got[1].found, got[2].found) == (Found.FOUND, Found.WAIT)
    both = decide(rows, [seen("<a>", A), seen("<b>", A, at=T0 + 2)])
    assert {got.remote_id for got in both.values()} == {"<a>", "<b>"}


def test_a_message_stored_before_the_submit_began_is_not_it() -> None:
    got = decide([row(1, A)], [seen("<old>", A, at=T0 - 3600)], now=T0 + 301)
    assert got[1].found is Found.ABSENT


def test_a_send_in_flight_with_the_same_bytes_blocks() -> None:
    got = decide([row(1, A), row(2, A, settle=False)], [seen("<a>", A)])
    assert set(got) == {1} and got[1].found is Found.WAIT


def test_unread_bytes_wait_and_bytes_gone_for_good_go_to_a_person() -> None:
    assert decide([row(1, A)], [seen("<a>", None)], now=T0 + 301)[1].found is Found.WAIT
    gone = decide([row(1, A)], [seen("<a>", None, gone=True)], now=T0 + 301)
    assert gone[1].found is Found.AMBIGUOUS
    assert decide([row(1, A)], [seen("<a>", None, gone=True)])[1].found is Found.WAIT


def test_absent_only_after_the_grace_and_a_complete_walk() -> None:
    assert decide([row(1, A)], [])[1].found is Found.WAIT
    assert decide([row(1, A)], [], now=T0 + 301, complete=False)[1].found is Found.WAIT
    assert decide([row(1, A)], [], now=T0 + 301)[1].found is Found.ABSENT
