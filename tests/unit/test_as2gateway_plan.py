"""Batch planning: which messages go into which download request."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from as2sync.backends.as2gateway.plan import (
    MAX_BATCH_IDS,
    Batch,
    NoDownload,
    OneByOne,
    Sized,
    limit_below,
    plan_downloads,
)
from as2sync.backends.as2gateway.zipread import folder_names


def test_small_messages_share_one_batch_in_order() -> None:
    steps = plan_downloads([Sized(1, (10,)), Sized(2, (20, 5)), Sized(3, (1,))], max_bytes=100)
    assert steps == [Batch((1, 2, 3))]


def test_a_batch_is_closed_before_it_would_exceed_the_byte_limit() -> None:
    steps = plan_downloads([Sized(1, (60,)), Sized(2, (40,)), Sized(3, (1,))], max_bytes=100)
    assert steps == [Batch((1, 2)), Batch((3,))]


def test_a_batch_holds_at_most_100_ids() -> None:
    steps = plan_downloads([Sized(k, (1,)) for k in range(250)], max_bytes=10**9)
    assert [len(s.keys) for s in steps if isinstance(s, Batch)] == [100, 100, 50]


def test_a_message_larger_than_the_limit_is_fetched_one_by_one_without_breaking_the_batch() -> None:
    steps = plan_downloads([Sized(1, (10,)), Sized(2, (60, 60)), Sized(3, (10,))], max_bytes=100)
    assert steps == [OneByOne(2), Batch((1, 3))]


def test_a_message_without_attachments_needs_no_download() -> None:
    assert plan_downloads([Sized(7, ())], max_bytes=100) == [NoDownload(7)]


def test_messages_whose_zip_folders_could_share_a_name_never_share_a_batch() -> None:
    def sized(key: int, message_id: str) -> Sized:
        return Sized(key, (1,), folder_names(message_id))

    steps = plan_downloads(
        [sized(1, "<a@x>"), sized(2, "<b@x>"), sized(3, "a@x"), sized(4, "c@x")], max_bytes=100
    )
    assert steps == [Batch((1, 2)), Batch((3, 4))]


@given(
    st.lists(
        st.tuples(st.lists(st.integers(0, 50), max_size=4), st.sampled_from(["a", "<a>", "b"])),
        max_size=300,
    ),
    st.integers(1, 120),
)
def test_every_message_is_planned_exactly_once_within_the_limits(
    sizes: list[tuple[list[int], str]], max_bytes: int
) -> None:
    messages = [Sized(k, tuple(s), folder_names(m)) for k, (s, m) in enumerate(sizes)]
    steps = plan_downloads(messages, max_bytes=max_bytes)
    seen: list[int] = []
    for step in steps:
        if isinstance(step, Batch):
            assert 1 <= len(step.keys) <= MAX_BATCH_IDS
            assert sum(messages[k].total for k in step.keys) <= max_bytes
            names = [name for k in step.keys for name in messages[k].folders]
            assert len(names) == len(set(names))  # every folder name has one owner
            seen.extend(step.keys)
        elif isinstance(step, OneByOne):
            assert messages[step.key].total > max_bytes
            seen.append(step.key)
        else:
            assert messages[step.key].sizes == ()
            seen.append(step.key)
    assert sorted(seen) == list(range(len(messages)))


def test_a_206_bounds_the_gateway_limit_by_what_was_served_plus_what_did_not_fit() -> None:
    sizes = [(100, 100), (50,), (70, 80)]
    # Cut after message 0's second attachment: 200 served, message 1's 50 did not fit.
    assert limit_below(sizes, 0, 1) == 250
    # Cut inside message 2 after its first attachment: 320 served, its 80 did not fit.
    assert limit_below(sizes, 2, 0) == 400
    # Nothing added at all ((0,-1)): the first attachment alone is over the limit.
    assert limit_below(sizes, 0, -1) == 100
    # Cut at the very last attachment of the request: nothing proves a limit.
    assert limit_below(sizes, 2, 1) is None
    # Messages without attachments after the cut are skipped when finding what did not fit.
    assert limit_below([(10,), (), (5,)], 0, 0) == 15
