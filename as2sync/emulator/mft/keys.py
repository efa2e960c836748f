"""Names MFT Gateway gives things: internal message numbers and object keys.

The object keys follow seed 003 section 3.3's ``attachmentPaths``
(``AS2/files/<station>/<partner>/inbox/<n>/<file>``) and ``rawMdnS3Key``; the object store
resolves a key back to its bytes through :meth:`Boxes.object`.
"""

from __future__ import annotations

from typing import Literal

from as2sync.emulator.model import ReceivedMessage, Submission

OutBox = Literal["sent", "queued", "failed", "incomplete"]
Box = Literal["inbox", "sent", "queued", "failed", "incomplete"]
OUT_BOXES: tuple[OutBox, ...] = ("sent", "queued", "failed", "incomplete")

# Internal message numbers (``id``, ``messageId``) above 2**53, as the real ones may be: a
# client that reads them as doubles would lose digits, so tests catch it.
INTERNAL_ID_BASE = 2**53


def internal_id(seq: int) -> int:
    return INTERNAL_ID_BASE + seq


def files_key(station: str, partner: str, box: str, seq: int, name: str) -> str:
    """The object key of an attachment (seed 003 section 3.3's ``attachmentPaths``)."""
    return f"AS2/files/{station}/{partner}/{box}/{internal_id(seq)}/{name}"


def mdn_key(incoming: bool, seq: int) -> str:
    direction = "outgoing" if incoming else "incoming"  # we send MDNs for what we received
    return f"AS2/raw-mdn/{direction}/{internal_id(seq)}/mdn.raw"


def inbox_keys(msg: ReceivedMessage) -> list[str]:
    return [files_key(msg.station, msg.partner, "inbox", msg.seq, a.name) for a in msg.attachments]


def outbox_keys(sub: Submission) -> list[str]:
    return [files_key(sub.station, sub.partner, "outbox", sub.seq, a.name) for a in sub.attachments]


def seq_of(text: str) -> int:
    try:
        return int(text) - INTERNAL_ID_BASE
    except ValueError:
        return -1
