"""Failpoints armed to raise stand for a bug at that line, on every hit from the n-th on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from as2sync import failpoints
from as2sync.failpoints import FailpointError, failpoint


@pytest.fixture(autouse=True)
def disarm() -> Iterator[None]:
    yield
    failpoints.arm("")


def test_a_point_armed_to_raise_raises_on_every_hit_from_the_nth_on() -> None:
    killed: list[str] = []
    failpoints.arm("loop.pass@3:raise,other@1", on_hit=killed.append)
    failpoint("loop.pass")
    failpoint("loop.pass")
    for _ in range(3):
        with pytest.raises(FailpointError, match=r"loop\.pass"):
            failpoint("loop.pass")
    failpoint("other")
    failpoint("other")
    assert killed == ["other"]  # the plain point fires once, as before
