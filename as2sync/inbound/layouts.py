"""Inbox names for a message's files under each ``inbound.layout`` (pure).

The three layouts mirror the AS2 Gateway's own inbox folder structures:

* ``flat``: ``inbox/<name>``;
* ``message-folder``: ``inbox/<message id>/<name>`` (angle brackets dropped, sanitised);
* ``timestamp-prefix``: ``inbox/<YYYYMMDDHHMMSS>_<name>``, the message's gateway time in UTC.

Names computed here are *wanted* names; the writer then picks the first free variant in the
real inbox (``invoice.edi``, ``invoice (2).edi``...), so nothing is ever overwritten. Room for
that suffix and for the sidecar suffix is kept inside ``max_name_length``.

Metadata sidecars (``write_metadata``): in the file layouts every file gets
``<its final name>.as2.json``; in the folder layout the folder holds one
``<folder name>.as2.json`` for the whole message, so the folder (and the sidecar with it)
appears at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from as2sync.backends.base import bare_message_id
from as2sync.config.schema import Layout
from as2sync.folders.fsutil import unique_name
from as2sync.inbound.names import sanitise_name

SIDECAR_SUFFIX = ".as2.json"
UNIQUE_ROOM = len(" (9999)")
MIN_NAME_BYTES = 12


def timestamp_prefix(persisted_ms: int) -> str:
    """``YYYYMMDDHHMMSS_`` of the gateway's timestamp, in UTC."""
    return time.strftime("%Y%m%d%H%M%S_", time.gmtime(persisted_ms / 1000.0))


@dataclass(frozen=True)
class WantedNames:
    """Wanted names of one message's files.

    ``data[k]`` is the name for attachment ``k``: directly in the inbox for the file layouts,
    inside the message folder for ``message-folder`` (unique within the message there).
    ``folder`` and ``sidecar`` are set for ``message-folder`` only (the sidecar only with
    ``write_metadata``).
    """

    data: tuple[str, ...]
    folder: str | None = None
    sidecar: str | None = None


def wanted_names(
    layout: Layout,
    *,
    message_id: str,
    attachment_names: Sequence[str],
    persisted_ms: int,
    max_name_length: int,
    write_metadata: bool,
) -> WantedNames:
    """The wanted names of a message's files (see the module docstring)."""
    budget = max_name_length - UNIQUE_ROOM
    if layout is Layout.MESSAGE_FOLDER:
        folder = sanitise_name(
            bare_message_id(message_id),
            max_bytes=max(MIN_NAME_BYTES, budget),
            fallback="message",
        )
        taken: set[str] = set()
        data: list[str] = []
        for k, raw in enumerate(attachment_names):
            name = sanitise_name(
                raw, max_bytes=max(MIN_NAME_BYTES, budget), fallback=f"attachment-{k + 1}"
            )
            data.append(_unique_within(name, taken))
        sidecar = None
        if write_metadata:
            base = sanitise_name(
                folder,
                max_bytes=max(MIN_NAME_BYTES, budget - len(SIDECAR_SUFFIX)),
                fallback="message",
            )
            sidecar = _unique_within(base + SIDECAR_SUFFIX, taken)
        return WantedNames(tuple(data), folder=folder, sidecar=sidecar)

    prefix = timestamp_prefix(persisted_ms) if layout is Layout.TIMESTAMP_PREFIX else ""
    room = budget - len(prefix) - (len(SIDECAR_SUFFIX) if write_metadata else 0)
    names = tuple(
        prefix
        + sanitise_name(raw, max_bytes=max(MIN_NAME_BYTES, room), fallback=f"attachment-{k + 1}")
        for k, raw in enumerate(attachment_names)
    )
    return WantedNames(names)


def _unique_within(name: str, taken: set[str]) -> str:
    attempt = 1
    while True:
        candidate = unique_name_str(name, attempt)
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        attempt += 1


def unique_name_str(name: str, attempt: int) -> str:
    """``name``, ``name (2)``... with the extension kept (as :func:`fsutil.unique_name`)."""
    return unique_name(Path(), name, attempt).name
