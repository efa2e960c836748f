"""Walking MFT Gateway's ID-only lists, which have no total and no next link, and whose unread
inbox shrinks as messages are marked read (by the single GET, or under reading (b) by the
list call itself), so stepping ``pageOffset`` alone would skip messages.

The walk (ascending order, so new arrivals land at the end):

1. read page ``p`` (starting at 0); hand out the IDs not seen before in this walk;
2. if there were new ones, read page ``p`` again: if messages before it left the list, what
   was on it moved to earlier pages (already seen) and later ones moved onto it;
3. if there were none and the page was full, go on to page ``p + 1``; if it was short (or
   empty), the walk is over.

Nothing is skipped: an ID can leave the list only once it was handed out (the only IDs marked
read are ones a caller saw), so every ID still listed lies at or after the current position.
An ID is handed out at most once per walk. ``max_requests`` bounds a walk's cost; the rest is
found by the next walk, which starts at page 0 again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

FetchPage = Callable[[int], Sequence[str]]
"""Reads one page (by number) of IDs."""


def walk(fetch: FetchPage, *, page_length: int, max_requests: int = 1000) -> Iterator[list[str]]:
    """The new IDs of each page read, in list order, as described in the module docstring.
    ``fetch(page)`` is called lazily: the caller handles each batch before the next read."""
    if page_length < 1 or max_requests < 1:
        raise ValueError("page_length and max_requests must be positive")
    seen: set[str] = set()
    page = 0
    for _ in range(max_requests):
        ids = list(fetch(page))
        new = [i for i in dict.fromkeys(ids) if i not in seen]
        if new:
            seen.update(new)
            yield new
            continue
        if len(ids) < page_length:
            return
        page += 1
