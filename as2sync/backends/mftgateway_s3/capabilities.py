"""What the MFT Gateway S3 integration offers, as the engines and the config check read it.

Seed 004: one file per upload, or several zipped into one archive (one message); no size limit
is documented. The bucket keeps no read flag (the ledger is the only memory of what was
fetched); an upload's key says where it went (``send/``, ``files/…/outbox/`` or
``duplicate/``). Received objects may be deleted (``inbound.delete_after_store``): nothing in
the seed forbids it, and the 70-day lifecycle deletes them anyway.
"""

from __future__ import annotations

from as2sync.backends.base import Capabilities, Lookup
from as2sync.backends.mftgateway_s3.settings import API

MAX_FILES = 10

CAPABILITIES = Capabilities(
    name=API,
    max_files_per_message=MAX_FILES,
    max_bytes_per_message=None,
    idempotent_submit=False,
    read_flag=False,
    tracks_delivery=True,
    lookup=Lookup.BY_KEY,
    deletes=True,
    partner_types=False,
)
