"""Deciding what to do with a listed unread message from what the ledger knows."""

from __future__ import annotations

import pytest

from as2sync.config.schema import OnRedelivery
from as2sync.inbound.decide import MAX_RETRY_DELAY, Action, Known, decide, retry_delay
from as2sync.ledger.inbound import InboundState

SKIP, AGAIN = OnRedelivery.SKIP, OnRedelivery.STORE_AGAIN


def test_an_unknown_message_is_recorded_and_fetched() -> None:
    assert decide(None, now=10, on_redelivery=SKIP) is Action.FETCH_NEW


def test_a_message_being_fetched_is_fetched_again_once_due() -> None:
    known = Known(InboundState.FETCHING, next_attempt_at=5)
    assert decide(known, now=10, on_redelivery=SKIP) is Action.FETCH
    assert decide(known, now=4, on_redelivery=SKIP) is Action.WAIT


def test_a_message_already_tried_in_this_poll_waits_for_the_next() -> None:
    known = Known(InboundState.FETCHING, next_attempt_at=0, tried_this_poll=True)
    assert decide(known, now=10, on_redelivery=SKIP) is Action.WAIT


def test_a_stored_message_is_only_marked_read() -> None:
    known = Known(InboundState.STORED, next_attempt_at=0)
    assert decide(known, now=10, on_redelivery=AGAIN) is Action.MARK_READ


@pytest.mark.parametrize("state", [InboundState.READ, InboundState.DELETED])
def test_a_finished_message_unread_again_follows_on_redelivery(state: InboundState) -> None:
    known = Known(state, next_attempt_at=0)
    assert decide(known, now=10, on_redelivery=SKIP) is Action.SKIP_REDELIVERY
    assert decide(known, now=10, on_redelivery=AGAIN) is Action.STORE_AGAIN


def test_retries_back_off_from_the_next_poll_to_at_most_an_hour() -> None:
    assert retry_delay(1, 30) == 0
    assert retry_delay(2, 30) == 60
    assert retry_delay(3, 30) == 120
    assert retry_delay(50, 30) == MAX_RETRY_DELAY


@pytest.mark.parametrize("state", [InboundState.READ, InboundState.DELETED])
@pytest.mark.parametrize("on_redelivery", [SKIP, AGAIN])
def test_without_a_read_flag_a_finished_message_listed_again_is_done(
    state: InboundState, on_redelivery: OnRedelivery
) -> None:
    known = Known(state, next_attempt_at=0)
    assert decide(known, now=10, on_redelivery=on_redelivery, read_flag=False) is Action.DONE


def test_without_a_read_flag_unfinished_messages_are_decided_as_with_one() -> None:
    for known in (None, Known(InboundState.FETCHING, 0), Known(InboundState.STORED, 0)):
        assert decide(known, now=10, on_redelivery=AGAIN, read_flag=False) is decide(
            known, now=10, on_redelivery=AGAIN
        )
