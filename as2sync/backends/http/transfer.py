"""Streaming between files and HTTP bodies: what is sent is read from disk in chunks, what is
received is written to disk in chunks, so a 10 MB message never needs 10 MB of memory. What is
sent is checked on the way to be the bytes recorded at the claim (:class:`ClaimedBytes`).

Request bodies are built per attempt (a request repeated after a 401 re-reads its files) and
their files are closed by the caller's ``ExitStack`` once the attempt is over.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import IO, Any, Final

import httpx

from as2sync.backends import base
from as2sync.errors import ContentChanged, InvalidRequest, TransientError
from as2sync.failpoints import failpoint
from as2sync.folders.fsutil import storage_error

CHUNK: Final = 64 * 1024

Claimed = base.OutboundFile
"""A file to send, as the seam describes it."""


def header_safe(name: str) -> bool:
    """Whether ``name`` can travel in the ``Name`` header as it is (printable ASCII only)."""
    return all(" " <= ch <= "~" for ch in name)


def check_message_files(files: Sequence[Claimed], max_files: int) -> None:
    """InvalidRequest (before anything is sent) unless 1..``max_files`` files with unique,
    non-empty names."""
    if not 1 <= len(files) <= max_files:
        raise InvalidRequest(f"a message carries 1 to {max_files} files, not {len(files)}")
    if not all(f.name for f in files):
        raise InvalidRequest("every file needs a name")
    if len({f.name for f in files}) != len(files):
        raise InvalidRequest("file names within one message must be unique")


class ClaimedBytes:
    """The bytes of an open file that were recorded at its claim, as a readable stream.

    Yields exactly ``item.size`` bytes, hashing them on the way. Before it hands out the last
    of them it checks that they are the recorded bytes (``item.sha256``, when given) and that
    the file has not grown or shrunk meanwhile; otherwise it raises :class:`ContentChanged`
    instead, so an upload of a file a writer changed after the claim never completes: the
    gateway can get the recorded bytes, or an incomplete request, never a silent truncation.

    httpx reads it as a multipart file part (``read``, ``seek(0)`` to start over, and its
    length from ``seek(0, SEEK_END)``: the recorded size, not the file's current one) or, via
    :meth:`chunks`, as a raw body.
    """

    def __init__(self, fh: IO[bytes], item: Claimed) -> None:
        self._fh = fh
        self._item = item
        self._pos = 0
        self._digest = hashlib.sha256()
        self._started = False

    def check_size(self) -> None:
        """ContentChanged if the file's size is not the recorded one (before anything is sent)."""
        size = os.fstat(self._fh.fileno()).st_size
        if size != self._item.size:
            raise ContentChanged(
                f"{self._item.name} changed after it was claimed: it has {size} bytes, "
                f"{self._item.size} were recorded"
            )

    def read(self, n: int = -1) -> bytes:
        if not self._started:
            self._started = True
            failpoint("outbound.during_upload")  # the request has begun; no body byte yet
        size = self._item.size
        want = size - self._pos if n < 0 else min(n, size - self._pos)
        data = b""
        while len(data) < want:
            chunk = self._fh.read(want - len(data))
            if not chunk:
                raise ContentChanged(
                    f"{self._item.name} changed after it was claimed: it ended after "
                    f"{self._pos + len(data)} of the {size} bytes recorded",
                    partial=True,
                )
            data += chunk
        self._digest.update(data)
        self._pos += len(data)
        if self._pos == size and (data or size == 0):
            self._verify()  # before the last bytes go out
        return data

    def _verify(self) -> None:
        expected = self._item.sha256
        if expected is not None and self._digest.hexdigest() != expected:
            raise ContentChanged(
                f"{self._item.name} changed after it was claimed: its bytes are not the ones "
                "recorded (SHA-256 differs)",
                partial=True,
            )
        size = os.fstat(self._fh.fileno()).st_size
        if size != self._item.size:
            raise ContentChanged(
                f"{self._item.name} changed after it was claimed: it grew to {size} bytes "
                f"while {self._item.size} were being sent",
                partial=True,
            )

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Only the start (to read again from scratch) and the end (to tell the length)."""
        target = self._item.size + offset if whence == os.SEEK_END else offset
        if whence == os.SEEK_CUR:
            target = self._pos + offset
        if target == 0:
            self._fh.seek(0)
            self._digest = hashlib.sha256()
            self._pos = 0
        elif target == self._item.size:
            self._pos = target  # read() gives nothing more; only httpx's length probe does this
        else:
            raise io.UnsupportedOperation("only the start and the end can be sought")
        return self._pos

    def chunks(self) -> Iterator[bytes]:
        """The bytes in pieces of :data:`CHUNK` (an empty file gives none, after its check)."""
        while True:
            chunk = self.read(CHUNK)
            if not chunk:
                return
            yield chunk


def raw_body(
    stack: contextlib.ExitStack, item: Claimed, *, name_header: str = "Name"
) -> dict[str, Any]:
    """httpx request arguments for a single-file send (spec 4.4.1): the recorded bytes of the
    file streamed as the body, with its name in ``name_header`` (v1's ``Name``, MFT's
    ``Attachment-Name``), ``Content-Type`` and ``Content-Length`` (the recorded size).
    StorageError if unreadable; ContentChanged (nothing sent) if its size is no longer the
    recorded one."""
    body = ClaimedBytes(open_file(stack, item), item)
    body.check_size()
    return {
        "content": body.chunks(),
        "headers": {
            name_header: item.name,
            "Content-Type": item.content_type or "application/octet-stream",
            "Content-Length": str(item.size),
        },
    }


def multipart_body(
    stack: contextlib.ExitStack, items: Sequence[Claimed], *, part: str = "file"
) -> dict[str, Any]:
    """httpx request arguments for a multipart send (spec 4.4.2): one ``part`` (v1's ``file``,
    MFT's ``File``) per file,
    each the recorded bytes streamed from its open file (httpx reads file parts in chunks).
    ContentChanged (nothing sent) if a file's size is no longer the recorded one."""
    parts = []
    for item in items:
        body = ClaimedBytes(open_file(stack, item), item)
        body.check_size()
        parts.append((part, (item.name, body, item.content_type or "application/octet-stream")))
    return {"files": parts}


def open_file(stack: contextlib.ExitStack, item: Claimed) -> IO[bytes]:
    """``item`` opened for reading (closed with ``stack``) by its opener, or by its path never
    following a symbolic link as the last component. StorageError if it cannot be opened:
    nothing was sent then."""
    try:
        if item.opener is not None:
            return stack.enter_context(item.opener())
        return stack.enter_context(_open_no_follow(item.path))
    except OSError as exc:
        raise storage_error("read", item.path, exc) from exc


def _open_no_follow(path: Path) -> IO[bytes]:
    return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


@dataclass(frozen=True)
class Digest:
    """What a download hashed: the SHA-256 (hex), the number of bytes, and the file name the
    response gave (``Content-Disposition``; None if it gave none)."""

    sha256: str
    size: int
    name: str | None = None


def filename_from_disposition(value: str | None) -> str | None:
    """The file name in a download's ``Content-Disposition`` (spec 7), or None.

    RFC 6266's ``filename*=UTF-8''...`` (the exact name) wins over its plain ``filename``
    fallback; the standard library's MIME parser reads both forms.
    """
    if not value:
        return None
    header = Message()
    header["Content-Disposition"] = value
    params = header.get_params(header="content-disposition") or []
    names = [v for k, v in params[1:] if k.lower() == "filename"]
    for name in names:
        if isinstance(name, tuple):
            return collapse_rfc2231_value(name) or None
    if not names:
        return None
    return str(names[0]) or None


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


@contextlib.contextmanager
def removed_on_failure(dest: Path) -> Iterator[None]:
    """Remove ``dest`` if the block fails: a download's destination never keeps a partial
    body (any failure, also an interrupt, as the file may be half written)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            dest.unlink(missing_ok=True)
        raise


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
