"""Several files of one message as one zip archive (seed 004, section 3.1: "zip the files into
a single archive, and then upload the archive").

Each file goes in through :class:`~as2sync.backends.http.transfer.ClaimedBytes` (the recorded
bytes or ``ContentChanged``), under its own name, with a fixed timestamp: the archive of the
same files is the same bytes, whenever it is built. The archive is written to a file the caller
gives (in the daemon's own temporary folder) and uploaded as one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

from as2sync.backends import base
from as2sync.backends.http.transfer import CHUNK, ClaimedBytes, open_file
from as2sync.errors import InvalidRequest

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the archive does not vary with time


def bundle(files: Sequence[base.OutboundFile], dest: Path, name: str) -> base.OutboundFile:
    """Write ``files`` as one zip to ``dest`` and describe it as the file to upload under
    ``name``. InvalidRequest if two files share a name (the gateway would unpack one)."""
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise InvalidRequest("two files of one message have the same name: " + ", ".join(names))
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in files:
            with contextlib.ExitStack() as stack:
                body = ClaimedBytes(open_file(stack, item), item)
                body.check_size()
                info = zipfile.ZipInfo(item.name, date_time=FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with archive.open(info, "w") as out:
                    shutil.copyfileobj(body, out, CHUNK)
    digest = hashlib.sha256()
    size = 0
    with dest.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return base.OutboundFile(dest, name, "application/zip", size, digest.hexdigest())
