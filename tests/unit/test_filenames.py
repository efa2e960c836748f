"""Names that are not UTF-8: the escaped wire name is faithful and reversible; ledger paths
round-trip to the original bytes."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from as2sync.folders.filenames import from_ledger, is_utf8, to_ledger, wire_name

names = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)


@given(names)
def test_the_wire_name_gives_the_original_bytes_back(raw: bytes) -> None:
    name = os.fsdecode(raw)
    wire = wire_name(name)
    assert is_utf8(wire)
    if is_utf8(name):
        assert wire == name  # a UTF-8 name is sent exactly as it is
    else:
        assert urllib.parse.unquote_to_bytes(wire) == raw


def test_examples_of_wire_names() -> None:
    assert wire_name(os.fsdecode(b"inv\xff.edi")) == "inv%FF.edi"
    assert wire_name(os.fsdecode(b"100%\xe9.edi")) == "100%25%E9.edi"
    assert wire_name("100%.edi") == "100%.edi"
    assert wire_name("Rechnung-März.edi") == "Rechnung-März.edi"


@given(names)
def test_ledger_paths_round_trip_and_are_utf8(raw: bytes) -> None:
    path = Path(os.fsdecode(b"/srv/as2/ST/P/outbox/" + raw))
    stored = to_ledger(path)
    assert is_utf8(str(stored))
    assert from_ledger(stored) == path
    if is_utf8(str(path)):
        assert stored == path  # every path recorded before this existed reads the same
