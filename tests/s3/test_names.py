"""The six-hour same-name rule and the readable variant of a name."""

from __future__ import annotations

import calendar

import pytest

from as2sync.backends.mftgateway_s3.names import (
    CLOCK_SKEW_SECONDS,
    WINDOW_SECONDS,
    SameName,
    choose,
    free_at,
    stamped,
)

NOW = float(calendar.timegm((2026, 12, 1, 8, 5, 43)))


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("orders.edi", "orders_20261201T080543Z.edi"),
        ("invoice.2026.xml", "invoice.2026_20261201T080543Z.xml"),
        ("ORDERS", "ORDERS_20261201T080543Z"),
        (".edi", ".edi_20261201T080543Z"),
    ],
)
def test_the_variant_keeps_the_extension(name: str, variant: str) -> None:
    assert stamped(name, NOW) == variant


def test_a_free_name_is_used_as_it_is() -> None:
    assert choose("orders.edi", {}, NOW, SameName.SUFFIX) == "orders.edi"
    old = {"orders.edi": NOW - WINDOW_SECONDS - CLOCK_SKEW_SECONDS}
    assert choose("orders.edi", old, NOW, SameName.HOLD) == "orders.edi"


def test_a_name_used_within_the_window_gets_a_variant_never_used() -> None:
    uploads = {
        "orders.edi": NOW - 3600,
        "orders_20261201T080543Z.edi": NOW - 1,
        "orders_20261201T080543Z-2.edi": NOW - 1,
    }
    assert choose("orders.edi", uploads, NOW, SameName.SUFFIX) == "orders_20261201T080543Z-3.edi"


def test_hold_waits_until_the_window_has_passed() -> None:
    uploads = {"orders.edi": NOW - 3600}
    assert choose("orders.edi", uploads, NOW, SameName.HOLD) is None
    ends = free_at("orders.edi", uploads)
    assert ends == NOW - 3600 + WINDOW_SECONDS + CLOCK_SKEW_SECONDS
    assert choose("orders.edi", uploads, ends - 1, SameName.HOLD) is None
    assert choose("orders.edi", uploads, ends, SameName.HOLD) == "orders.edi"
    assert free_at("other.edi", uploads) is None
