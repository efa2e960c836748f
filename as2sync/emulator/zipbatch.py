"""Writing zip archives for the batch and ``/attachments/all`` downloads.

Entry names are written verbatim: attachment names are chosen by the partner, and a name like
``../../x`` must reach the client exactly as a real gateway would pass it on, so that the
client's safe-extraction code is what gets tested. The archive is built in a spooled temporary
file (in memory up to a few MB, then on disk) so a 10 MB batch does not need 10 MB of RAM twice.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO

from as2sync.emulator.folders import BatchPlan

SPOOL_MAX = 4 * 1024 * 1024
CHUNK = 64 * 1024
ERROR_FILE = ".error"


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def _folder(zf: zipfile.ZipFile, name: str) -> None:
    info = zipfile.ZipInfo(name + "/", date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o40755 << 16 | 0x10
    zf.writestr(info, b"")


def write_batch(plan: BatchPlan) -> tuple[IO[bytes], int]:
    """The batch zip of ``plan`` in a rewound temp file, and its size in bytes."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 - returned
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in plan.entries:
            _folder(zf, entry.folder)
            if entry.error is not None:
                _entry(zf, f"{entry.folder}/{ERROR_FILE}", entry.error.encode())
            for name, data in entry.files:
                _entry(zf, f"{entry.folder}/{name}", data)
    size = out.tell()
    out.seek(0)
    return out, size


def write_flat(files: Sequence[tuple[str, bytes]]) -> tuple[IO[bytes], int]:
    """A zip of one message's attachments at the archive root (``/attachments/all``)."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 - returned
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            _entry(zf, name, data)
    size = out.tell()
    out.seek(0)
    return out, size


def iter_file(fh: IO[bytes]) -> Iterator[bytes]:
    """Chunks of ``fh`` until EOF; closes it at the end."""
    try:
        while chunk := fh.read(CHUNK):
            yield chunk
    finally:
        fh.close()
