"""The gateway outage: one probe at a time once the pause is over, and the probe's turn is
always given back, however the block that holds it ends."""

from __future__ import annotations

import pytest

from as2sync.outbound.outage import Outage


def down_since(now: float) -> Outage:
    outage = Outage()
    outage.failed(now, None, "connection refused")
    return outage


def test_no_probe_is_granted_without_an_outage_or_before_the_pause_is_over() -> None:
    with Outage().probe(0.0) as granted:
        assert not granted
    outage = down_since(0.0)
    with outage.probe(outage.paused_until - 0.1) as granted:
        assert not granted
    with outage.probe(outage.paused_until) as granted:
        assert granted


def test_one_probe_at_a_time() -> None:
    outage = down_since(0.0)
    later = outage.paused_until
    with outage.probe(later) as first, outage.probe(later) as second:
        assert first and not second
    with outage.probe(later) as again:
        assert again


def test_the_probe_is_given_back_when_choosing_it_fails() -> None:
    outage = down_since(0.0)
    later = outage.paused_until
    with pytest.raises(RuntimeError), outage.probe(later) as granted:
        assert granted
        raise RuntimeError("the ledger refused the claim of the probe's file")
    with outage.probe(later) as granted:
        assert granted


def test_a_failed_probe_pauses_again_and_a_successful_one_ends_the_outage() -> None:
    outage = down_since(0.0)
    first_pause = outage.paused_until
    with outage.probe(first_pause) as granted:
        assert granted
        outage.failed(first_pause, None, "still refused")
    assert outage.paused_until > first_pause
    with outage.probe(outage.paused_until) as granted:
        assert granted
        outage.succeeded()
    assert not outage.active()
