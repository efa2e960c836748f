"""Interpreting X-Batch-Truncation-Index (i,j) against the list metadata."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from as2sync.backends.as2gateway.model import Truncation
from as2sync.backends.as2gateway.truncation import Coverage, interpret
from as2sync.errors import ProtocolError


def test_without_truncation_every_message_is_complete() -> None:
    assert interpret([1, 2, 3], None) == Coverage(complete=(0, 1, 2), leftover=(), one_by_one=())


def test_truncated_batch_on_last_attachment_marks_message_complete() -> None:
    coverage = interpret([1, 3, 2], Truncation(1, 2))
    assert coverage.complete == (0, 1)
    assert coverage.leftover == (2,)
    assert coverage.one_by_one == ()
    assert coverage.cut_at_last == 1


def test_truncation_in_the_middle_of_a_message_sends_it_again_with_the_rest() -> None:
    coverage = interpret([1, 3, 2], Truncation(1, 1))
    assert coverage.complete == (0,)
    assert coverage.leftover == (1, 2)
    assert coverage.cut_at_last is None


def test_truncation_at_the_very_last_attachment_of_the_batch_leaves_nothing_over() -> None:
    coverage = interpret([2, 2], Truncation(1, 1))
    assert coverage.complete == (0, 1)
    assert coverage.leftover == ()
    assert coverage.cut_at_last == 1


def test_a_first_message_cut_short_is_fetched_one_by_one_instead_of_looping() -> None:
    coverage = interpret([3, 1], Truncation(0, 1))
    assert coverage == Coverage(complete=(), leftover=(1,), one_by_one=(0,))


def test_nothing_added_at_all_means_the_first_message_goes_one_by_one() -> None:
    coverage = interpret([1, 1], Truncation(0, -1))
    assert coverage == Coverage(complete=(), leftover=(1,), one_by_one=(0,))


def test_nothing_of_a_later_message_added_leaves_it_for_the_next_request() -> None:
    coverage = interpret([1, 1, 1], Truncation(2, -1))
    assert coverage.complete == (0, 1)
    assert coverage.leftover == (2,)


@pytest.mark.parametrize("truncation", [Truncation(3, 0), Truncation(-1, 0), Truncation(0, -2)])
def test_an_index_outside_the_request_is_a_protocol_error(truncation: Truncation) -> None:
    with pytest.raises(ProtocolError):
        interpret([1, 1, 1], truncation)


@given(st.data())
def test_every_response_makes_progress_and_covers_each_message_once(data: st.DataObject) -> None:
    counts = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=20))
    i = data.draw(st.integers(0, len(counts) - 1))
    j = data.draw(st.integers(-1, counts[i] - 1))
    coverage = interpret(counts, Truncation(i, j))
    parts = [*coverage.complete, *coverage.leftover, *coverage.one_by_one]
    assert sorted(parts) == list(range(len(counts)))
    assert coverage.complete or coverage.one_by_one
    assert 0 not in coverage.leftover  # the first message is never sent again as it was
