"""Where things are in the tenant's bucket (seed 004, section 2.1 and 3).

``AS2/send/<station>/<partner>/<name>`` is where an upload goes; the gateway moves what it
processed to ``AS2/files/<station>/<partner>/outbox/…`` and a same-name upload within six hours
to ``AS2/duplicate/<station>/<partner>/…``. Received files are
``AS2/files/<station>/<partner>/inbox/<timestamp-random>/<name>``.

The seed does not say what follows ``outbox/`` or ``duplicate/<station>/<partner>/`` (only
that the received side has a per-message ``<timestamp-random>/`` folder). This module finds
an upload's name as the last path segment under those prefixes, at any depth, and nothing
else: both the flat layout and a per-message folder are read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "AS2/"


def _segment(value: str, what: str) -> str:
    # An AS2 ID or a file name becomes one path segment: a "/" would move it elsewhere in the
    # bucket, and "." / ".." are not names the gateway could echo back.
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"{what} {value!r} cannot be one S3 key segment")
    return value


def send_prefix(station: str, partner: str) -> str:
    return f"{ROOT}send/{_segment(station, 'station')}/{_segment(partner, 'partner')}/"


def send_key(station: str, partner: str, name: str) -> str:
    return send_prefix(station, partner) + _segment(name, "file name")


def outbox_prefix(station: str, partner: str) -> str:
    return f"{ROOT}files/{_segment(station, 'station')}/{_segment(partner, 'partner')}/outbox/"


def duplicate_prefix(station: str, partner: str) -> str:
    return f"{ROOT}duplicate/{_segment(station, 'station')}/{_segment(partner, 'partner')}/"


def inbox_prefix(station: str, partner: str) -> str:
    return f"{ROOT}files/{_segment(station, 'station')}/{_segment(partner, 'partner')}/inbox/"


FILES_PREFIX = f"{ROOT}files/"


def name_of(key: str) -> str:
    """The file name an object key ends in."""
    return key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class InboxObject:
    """One received file's key, taken apart."""

    station: str
    partner: str
    message: str  # the <timestamp-random> folder: one AS2 message
    name: str


def parse_inbox_key(key: str) -> InboxObject | None:
    """``AS2/files/<station>/<partner>/inbox/<message>/<name>`` taken apart; None for any
    other key (a folder marker, a file directly under ``inbox/``, deeper nesting)."""
    if not key.startswith(FILES_PREFIX):
        return None
    parts = key[len(FILES_PREFIX) :].split("/")
    if len(parts) != 5 or parts[2] != "inbox" or not all(parts):
        return None
    station, partner, _, message, name = parts
    return InboxObject(station, partner, message, name)
