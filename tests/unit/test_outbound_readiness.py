"""Settle tracking: ready once size and mtime stayed put for settle_seconds since first seen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from as2sync.outbound.readiness import Readiness
from as2sync.outbound.scanner import Observation


def obs(
    path: str = "/o/a.edi", size: int = 1, mtime_ns: int = 1, partner: str = "ACME"
) -> Observation:
    return Observation("ST", partner, path, path.rsplit("/", 1)[-1], size, mtime_ns)


def test_a_file_with_an_old_mtime_still_settles_from_first_sight() -> None:
    r = Readiness(settle_seconds=2)
    r.observe(obs(mtime_ns=1), now=1000.0)  # mtime from 1970: a preserved mtime proves nothing
    assert r.ready(1001.9) == []
    assert [w.path for w in r.ready(1002.0)] == ["/o/a.edi"]


def test_a_growing_file_restarts_its_settle_clock() -> None:
    r = Readiness(settle_seconds=2)
    r.observe(obs(size=1), now=0.0)
    r.observe(obs(size=2), now=1.5)
    assert r.ready(3.0) == []
    assert len(r.ready(3.5)) == 1


def test_confirm_rejects_a_file_changed_since_its_last_observation() -> None:
    r = Readiness(settle_seconds=1)
    entry = r.observe(obs(size=1), now=0.0)
    assert r.confirm(entry, obs(size=5), now=5.0) is False
    assert r.confirm(entry, obs(size=5), now=6.0) is True


def test_confirm_forgets_a_vanished_file() -> None:
    r = Readiness(settle_seconds=0)
    entry = r.observe(obs(), now=0.0)
    assert r.confirm(entry, None, now=1.0) is False
    assert len(r) == 0


def test_zero_settle_makes_a_file_ready_at_once() -> None:
    r = Readiness(settle_seconds=0)
    r.observe(obs(), now=5.0)
    assert len(r.ready(5.0)) == 1


def test_ready_files_come_oldest_first() -> None:
    r = Readiness(settle_seconds=0)
    r.observe(obs("/o/new", mtime_ns=50), now=2.0)
    r.observe(obs("/o/b", mtime_ns=20), now=1.0)
    r.observe(obs("/o/a", mtime_ns=10), now=1.0)
    assert [w.path for w in r.ready(3.0)] == ["/o/a", "/o/b", "/o/new"]


def test_deferred_files_wait_and_next_ready_at_accounts_for_it() -> None:
    r = Readiness(settle_seconds=1)
    entry = r.observe(obs(), now=0.0)
    r.defer(entry, until=30.0)
    assert r.ready(10.0) == []
    assert r.next_ready_at() == 30.0
    assert len(r.ready(30.0)) == 1


def test_forget_missing_drops_only_that_partnerships_unseen_files() -> None:
    r = Readiness(settle_seconds=0)
    r.observe(obs("/o/a", partner="ACME"), 0.0)
    r.observe(obs("/o/b", partner="ACME"), 0.0)
    r.observe(obs("/p/c", partner="OTHER"), 0.0)
    r.forget_missing("ST", "ACME", {"/o/b"})
    assert sorted(w.path for w in r.entries()) == ["/o/b", "/p/c"]
    r.retain_pairs({("ST", "ACME")})
    assert [w.path for w in r.entries()] == ["/o/b"]


@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0, max_value=100, allow_nan=False), st.integers(0, 3)),
        min_size=1,
        max_size=20,
    ),
    settle=st.floats(min_value=0, max_value=10, allow_nan=False),
)
def test_never_ready_before_settle_seconds_after_the_last_change(
    events: list[tuple[float, int]], settle: float
) -> None:
    r = Readiness(settle_seconds=settle)
    last_change, size = None, None
    for at, new_size in sorted(events):
        if new_size != size:
            last_change, size = at, new_size
        r.observe(obs(size=new_size), now=at)
        assert last_change is not None
        for probe in (at, at + settle / 2, at + settle):
            if r.ready(probe):
                assert probe - last_change >= settle
