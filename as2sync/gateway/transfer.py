"""Streaming between files and HTTP bodies: what is sent is read from disk in chunks, what is
received is written to disk in chunks, so a 10 MB message never needs 10 MB of memory.

Request bodies are built per attempt (a request repeated after a 401 re-reads its files) and
their files are closed by the caller's ``ExitStack`` once the attempt is over.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

import httpx

from as2sync.errors import TransientError
from as2sync.fsutil import storage_error
from as2sync.gateway.base import Digest, OutboundFile
from as2sync.gateway.parsing import filename_from_disposition

CHUNK: Final = 64 * 1024


def header_safe(name: str) -> bool:
    """Whether ``name`` can travel in the ``Name`` header as it is (printable ASCII only)."""
    return all(" " <= ch <= "~" for ch in name)


def _file_chunks(fh: IO[bytes], size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of ``fh``: a file that grows meanwhile cannot overrun the
    declared Content-Length."""
    remaining = size
    while remaining > 0:
        chunk = fh.read(min(CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def raw_body(stack: contextlib.ExitStack, item: OutboundFile) -> dict[str, Any]:
    """httpx request arguments for a single-file send (spec 4.4.1): the file streamed as the
    body, with ``Name``, ``Content-Type`` and ``Content-Length``. StorageError if unreadable."""
    fh = open_file(stack, item.path)
    size = os.fstat(fh.fileno()).st_size  # measured now, on the open file we stream from
    return {
        "content": _file_chunks(fh, size),
        "headers": {
            "Name": item.name,
            "Content-Type": item.content_type or "application/octet-stream",
            "Content-Length": str(size),
        },
    }


def multipart_body(stack: contextlib.ExitStack, items: Sequence[OutboundFile]) -> dict[str, Any]:
    """httpx request arguments for a multipart send (spec 4.4.2): one ``file`` part per file,
    each streamed from its open file (httpx reads file parts in chunks)."""
    parts = [
        (
            "file",
            (
                item.name,
                open_file(stack, item.path),
                item.content_type or "application/octet-stream",
            ),
        )
        for item in items
    ]
    return {"files": parts}


def open_file(stack: contextlib.ExitStack, path: Path) -> IO[bytes]:
    try:
        return stack.enter_context(path.open("rb"))
    except OSError as exc:
        raise storage_error("read", path, exc) from exc


def digest_of(response: httpx.Response, endpoint: str) -> Digest:
    """SHA-256 and size of the body, read chunk by chunk and kept nowhere."""
    digest = hashlib.sha256()
    size = 0
    for chunk in response.iter_bytes(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    _check_length(response, size, endpoint)
    name = filename_from_disposition(response.headers.get("Content-Disposition"))
    return Digest(digest.hexdigest(), size, name)


def stream_to(response: httpx.Response, dest: Path, endpoint: str) -> int:
    """Write the body to ``dest`` chunk by chunk; the number of (decoded) bytes written."""
    written = 0
    try:
        with dest.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                written += len(chunk)
    except OSError as exc:
        raise storage_error("write", dest, exc) from exc
    _check_length(response, written, endpoint)
    return written


def _check_length(response: httpx.Response, received: int, endpoint: str) -> None:
    """TransientError if the body ended before its declared Content-Length."""
    declared = response.headers.get("Content-Length", "").strip()
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    # Downloads ask for identity encoding, so the bytes received are the bytes declared.
    if declared.isdigit() and encoding in ("", "identity") and received != int(declared):
        raise TransientError(
            f"{endpoint}: body ended after {received} of {declared} bytes",
            status=response.status_code,
        )
