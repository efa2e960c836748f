"""What the MFT Gateway REST API offers, as the engines and the config check read it.

Neither a file count nor a size limit per message is documented (the 3 MB of seed 003 section
4 is about *receiving* without ``largePayloadSupport``); a 413 is a refusal like any other. The
file count is held to AS2 Gateway's 10 until the vendor says otherwise.
"""

from __future__ import annotations

from as2sync.backends.base import Capabilities, Lookup
from as2sync.backends.mftgateway.settings import API

MAX_FILES = 10

CAPABILITIES = Capabilities(
    name=API,
    max_files_per_message=MAX_FILES,
    max_bytes_per_message=None,
    idempotent_submit=False,
    read_flag=True,
    tracks_delivery=True,
    lookup=Lookup.BY_ID,
    deletes=True,
    partner_types=False,
)
