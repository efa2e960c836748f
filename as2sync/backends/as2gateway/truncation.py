"""What a batch response covered, given ``X-Batch-Truncation-Index: (i,j)`` (pure).

The spec (7.3): on 206 the zip holds what was aggregated before the 10 MB limit was hit, and
``(i,j)`` is the zero-based index of the last attachment added (attachment ``j`` of message
``i`` of the request). Hence:

* messages ``0 .. i-1`` are complete;
* message ``i`` is complete only if ``j`` is its last attachment *according to the list
  metadata* (the header cannot say whether more attachments were left out);
* the rest -- from ``i``, or from ``i+1`` when ``i`` is complete -- go into the next request;
* if message ``i`` is the *first* of the request and incomplete (``j`` below its last, including
  ``j == -1`` for "nothing added"), the gateway's limit is smaller than that one message: it
  can never come whole in a batch, so its attachments are fetched one by one. Sending it again
  would loop forever.

Whether the gateway marked message ``i`` read when ``j`` is its last attachment is not said by
the spec ("only the fully-archived messages"); the engine therefore marks such a message read
explicitly instead of assuming.

Every request makes progress: at least one message is complete or moved to one-by-one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from as2sync.backends.as2gateway.model import Truncation
from as2sync.errors import ProtocolError


@dataclass(frozen=True)
class Coverage:
    """How the messages of one batch request (by position) were covered by the response."""

    complete: tuple[int, ...]
    leftover: tuple[int, ...]  # to request again in a batch
    one_by_one: tuple[int, ...]  # never whole in a batch: fetch attachment by attachment
    cut_at_last: int | None = None  # the message completed exactly at the truncation point


def interpret(attachment_counts: Sequence[int], truncation: Truncation | None) -> Coverage:
    """Cover a request of ``len(attachment_counts)`` messages (the n-th has that many
    attachments per the list metadata). Raises ProtocolError for an index outside the request."""
    n = len(attachment_counts)
    everything = tuple(range(n))
    if truncation is None:
        return Coverage(complete=everything, leftover=(), one_by_one=())
    i, j = truncation.message, truncation.attachment
    if not 0 <= i < n or j < -1:
        raise ProtocolError(f"batch truncation index ({i},{j}) is outside a request of {n} IDs")
    last = attachment_counts[i] - 1
    if j >= last:
        # j beyond the metadata's last index means the metadata is off; verification of the
        # zip against the metadata catches that and the message is not stored.
        return Coverage(
            complete=tuple(range(i + 1)),
            leftover=tuple(range(i + 1, n)),
            one_by_one=(),
            cut_at_last=i,
        )
    if i == 0:
        return Coverage(complete=(), leftover=tuple(range(1, n)), one_by_one=(0,))
    return Coverage(complete=tuple(range(i)), leftover=tuple(range(i, n)), one_by_one=())
