"""What the AS2 Gateway REST API v1 offers, as the engines and the config check read it."""

from __future__ import annotations

from as2sync.backends.as2gateway.client import MAX_FILES
from as2sync.backends.as2gateway.settings import MAX_MESSAGE_BYTES
from as2sync.backends.base import Capabilities, Lookup

CAPABILITIES = Capabilities(
    name="as2gateway",
    max_files_per_message=MAX_FILES,
    max_bytes_per_message=MAX_MESSAGE_BYTES,
    idempotent_submit=False,
    read_flag=True,
    tracks_delivery=True,
    lookup=Lookup.BY_CONTENT,
    deletes=True,
    partner_types=True,
)
