"""Wanted inbox names under each layout."""

from __future__ import annotations

from as2sync.config.schema import Layout
from as2sync.inbound.layouts import SIDECAR_SUFFIX, timestamp_prefix, wanted_names

MID = "<mendelson_opensource_AS2-1637051234567-3@mycompany_AS2>"
MS = 1_700_000_000_123  # 2023-11-14 22:13:20 UTC


def test_flat_uses_the_sanitised_attachment_names() -> None:
    wanted = wanted_names(
        Layout.FLAT,
        message_id=MID,
        attachment_names=["../../x.edi", "b.edi"],
        persisted_ms=MS,
        max_name_length=200,
        write_metadata=False,
    )
    assert wanted.data == ("x.edi", "b.edi")
    assert wanted.folder is None


def test_timestamp_prefix_uses_the_gateway_time_in_utc() -> None:
    assert timestamp_prefix(MS) == "20231114221320_"
    wanted = wanted_names(
        Layout.TIMESTAMP_PREFIX,
        message_id=MID,
        attachment_names=["a.edi"],
        persisted_ms=MS,
        max_name_length=200,
        write_metadata=False,
    )
    assert wanted.data == ("20231114221320_a.edi",)


def test_message_folder_names_the_folder_after_the_id_without_brackets() -> None:
    wanted = wanted_names(
        Layout.MESSAGE_FOLDER,
        message_id=MID,
        attachment_names=["a.edi", "a.edi", "/etc/a.edi"],
        persisted_ms=MS,
        max_name_length=200,
        write_metadata=True,
    )
    assert wanted.folder == "mendelson_opensource_AS2-1637051234567-3@mycompany_AS2"
    assert wanted.data == ("a.edi", "a (2).edi", "a (3).edi")
    assert wanted.sidecar == f"{wanted.folder}{SIDECAR_SUFFIX}"


def test_names_leave_room_for_a_unique_suffix_and_the_sidecar_suffix() -> None:
    for layout in Layout:
        wanted = wanted_names(
            layout,
            message_id="<" + "m" * 300 + "@x>",
            attachment_names=["n" * 300 + ".edi"],
            persisted_ms=MS,
            max_name_length=100,
            write_metadata=True,
        )
        longest = max(len(n.encode()) for n in wanted.data)
        assert wanted.data[0].endswith(".edi")
        if wanted.folder is None:  # one sidecar per file, named after it
            assert longest + len(" (9999)") + len(SIDECAR_SUFFIX) <= 100, layout
        else:  # one sidecar per folder
            assert longest + len(" (9999)") <= 100
            assert len(wanted.folder.encode()) + len(" (9999)") <= 100
            assert wanted.sidecar is not None and len(wanted.sidecar.encode()) <= 100
