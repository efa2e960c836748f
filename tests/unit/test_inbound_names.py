"""Hostile partner file names become safe, readable inbox names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from as2sync.inbound.names import cap_length, sanitise_name


def clean(raw: str, max_bytes: int = 200) -> str:
    return sanitise_name(raw, max_bytes=max_bytes, fallback="attachment-1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("invoice.edi", "invoice.edi"),
        ("../../x", "x"),
        ("/etc/x", "x"),
        ("a\\b", "b"),
        ("C:\\out\\order.xml", "order.xml"),
        ("..", "attachment-1"),
        ("../..", "attachment-1"),
        ("", "attachment-1"),
        ("   ", "attachment-1"),
        (".profile", "profile"),
        ("...hidden.edi", "hidden.edi"),
        ("trailing. ", "trailing"),
        ("nul\x00byte.edi", "nul_byte.edi"),
        ("tab\there\nnewline.edi", "tab_here_newline.edi"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ('what?<is>:this|"*.edi', "what__is__this___.edi"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Überweisung.xml", "Überweisung.xml"),
        ("請求書.edi", "請求書.edi"),
    ],
)
def test_hostile_names_become_safe_readable_names(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_decomposed_unicode_is_normalised_to_nfc() -> None:
    assert clean("U\u0308berweisung.xml") == "Überweisung.xml"


def test_a_300_character_name_is_capped_keeping_its_extension() -> None:
    name = clean("a" * 300 + ".edi", max_bytes=100)
    assert len(name.encode()) <= 100
    assert name.endswith(".edi")
    assert name.startswith("aaaa")


def test_capping_never_cuts_a_multibyte_character_in_half() -> None:
    name = cap_length("é" * 200 + ".xml", 51)
    assert len(name.encode()) <= 51
    name.encode("utf-8").decode("utf-8")  # valid UTF-8
    assert name.endswith(".xml")


def test_a_long_extension_is_not_kept_whole() -> None:
    name = cap_length("x." + "y" * 300, 40)
    assert len(name.encode()) <= 40
    assert name.startswith("x.")


@given(st.text(max_size=400))
def test_any_name_is_a_single_safe_component(raw: str) -> None:
    name = clean(raw, max_bytes=120)
    assert name
    assert len(name.encode("utf-8")) <= 120
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".")
    assert name not in (".", "..")
    assert all(ord(ch) >= 32 and ord(ch) != 127 for ch in name)
