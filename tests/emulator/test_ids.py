"""Message IDs look like the ones real AS2 software produces."""

from __future__ import annotations

import random
import re

from as2sync.emulator import ids
from as2sync.emulator.server import RunningEmulator

NOW_MS = 1_637_051_234_567


def test_gateway_ids_follow_the_spec_example_format() -> None:
    mid = ids.gateway_id(random.Random(1), NOW_MS)
    assert re.fullmatch(r"<\d{8}\.\d+\.1637051234567@as2gateway\.com>", mid)


def test_openas2_and_mendelson_formats() -> None:
    rng = random.Random(1)
    assert re.fullmatch(
        r"<OPENAS2-16112021082714\+0000-\d{4}@ACME_MYSTATION>",
        ids.openas2_id(rng, NOW_MS, "ACME", "MYSTATION"),
    )
    assert re.fullmatch(
        r"<mendelson_opensource_AS2-1637051234567-\d+@ACME>",
        ids.mendelson_id(rng, NOW_MS, "ACME", "MYSTATION"),
    )


def test_received_ids_rotate_through_several_formats_and_are_unique(
    emulator: RunningEmulator,
) -> None:
    mids = [emulator.state.seed_received("MYSTATION", "ACME", [("a", b"1")]) for _ in range(8)]
    assert len(set(mids)) == 8
    assert all(m.startswith("<") and m.endswith(">") and "@" in m for m in mids)
    prefixes = {re.split(r"[-.]", m[1:], maxsplit=1)[0] for m in mids}
    assert len(prefixes) >= 3


def test_as2_ids_with_spaces_are_made_safe_in_the_domain_part() -> None:
    mid = ids.openas2_id(random.Random(1), NOW_MS, "ACME CORP", "MY<ST>")
    assert " " not in mid and mid.count("<") == 1 and mid.count(">") == 1
