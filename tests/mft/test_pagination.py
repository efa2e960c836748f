"""Walking ID-only lists that may shrink while they are read: nothing skipped, nothing handed
out twice, bounded."""

from __future__ import annotations

from collections.abc import Sequence

from as2sync.backends.mftgateway.pagination import walk


class UnreadList:
    """An ascending unread list; ``read`` removes IDs, as marking them read does."""

    def __init__(self, ids: Sequence[str], *, list_marks_read: bool = False) -> None:
        self.ids = list(ids)
        self.list_marks_read = list_marks_read
        self.requests = 0

    def page(self, number: int, length: int) -> list[str]:
        self.requests += 1
        got = self.ids[number * length : (number + 1) * length]
        if self.list_marks_read:
            self.read(got)
        return got

    def read(self, ids: Sequence[str]) -> None:
        self.ids = [i for i in self.ids if i not in ids]


IDS = [f"<m{i:02}>" for i in range(23)]


def run(lst: UnreadList, *, mark: bool, length: int = 5) -> list[str]:
    out: list[str] = []
    for batch in walk(lambda p: lst.page(p, length), page_length=length):
        out += batch
        if mark:
            lst.read(batch)  # the caller handles each batch before the next read
    return out


def test_a_list_that_does_not_shrink_is_stepped_through() -> None:
    lst = UnreadList(IDS)
    assert run(lst, mark=False) == IDS
    assert lst.requests == 2 * 5  # each page read twice (once more to see nothing new)


def test_a_list_that_shrinks_as_batches_are_acknowledged_loses_nothing() -> None:
    lst = UnreadList(IDS)
    assert run(lst, mark=True) == IDS
    assert lst.ids == []


def test_reading_b_a_list_call_that_marks_what_it_returns() -> None:
    lst = UnreadList(IDS, list_marks_read=True)
    assert run(lst, mark=False) == IDS


def test_arrivals_during_the_walk_are_found_and_duplicates_dropped() -> None:
    lst = UnreadList(IDS[:5])
    out: list[str] = []
    for batch in walk(lambda p: lst.page(p, 5) + lst.page(p, 5)[:1], page_length=5):
        out += batch
        if len(out) == 5:
            lst.ids += IDS[5:7]
    assert out == IDS[:7]


def test_the_walk_is_bounded() -> None:
    calls = 0

    def endless(page: int) -> list[str]:
        nonlocal calls
        calls += 1
        return [f"<{calls}-{i}>" for i in range(5)]

    assert sum(len(b) for b in walk(endless, page_length=5, max_requests=7)) == 35
    assert calls == 7
