"""The emulator's ``--data DIR``: one state document and the attachment blobs, written crash-safe.

Layout::

    DIR/state.json          the account's and the store's records (no attachment bytes)
    DIR/blobs/<sha256>      attachment contents, content-addressed

``state.json`` is one document shared by two owners: the account owns ``secret``,
``revoked_before_ms``, ``stations`` and ``partners``; the message store owns ``seq``,
``received``, ``submissions`` and ``failed``; ``version`` is this module's. Each owner hands
:meth:`DataDir.write` its own keys and the file is rewritten whole with the latest keys of both,
so neither has to know the other's records.

Every write is temp file + fsync + rename + fsync of the directory, so a SIGKILL at any line
leaves either the old or the new ``state.json``, never a torn one. Blobs are written (and made
durable) before the ``state.json`` that references them, so a reloaded state never points at a
missing blob; a blob written just before a crash is merely unreferenced, which is harmless.

Locking: :meth:`DataDir.write` holds this directory's own lock while it merges and writes, so two
owners writing at once cannot interleave. An owner calls it while holding its *own* lock, so its
writes reach the disk in the order its changes were made (an older copy of its keys can never
overwrite a newer one). This module never calls back into an owner, so the order
"owner's lock, then this lock" cannot deadlock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
BLOB_DIR = "blobs"
STATE_VERSION = 1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class DataDir:
    """Reads and writes one data directory; thread-safe (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / BLOB_DIR
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._doc: dict[str, Any] = {"version": STATE_VERSION}
        # Leftover temp files are from writes a crash interrupted; the renamed files are whole.
        for stale in [*root.glob(".*.tmp"), *self.blobs.glob(".*.tmp")]:
            with contextlib.suppress(OSError):
                stale.unlink()

    def load(self) -> dict[str, Any] | None:
        """The last saved document, or None for a fresh directory.

        Raises ValueError for a file that is not a state document of :data:`STATE_VERSION`.
        """
        try:
            raw = (self.root / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError(f"{self.root / STATE_FILE}: not a JSON object")
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"emulator data dir has state version {doc.get('version')}")
        with self._lock:
            self._doc = doc
        return doc

    def write(self, keys: dict[str, Any]) -> None:
        """Replace the caller's ``keys`` in the document and write it through, durably."""
        with self._lock:
            self._doc.update(keys)
            atomic_write(
                self.root / STATE_FILE, json.dumps(self._doc, separators=(",", ":")).encode()
            )

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` durably; return its SHA-256 (the blob's name)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / digest
        if not path.exists():
            atomic_write(path, data)
        return digest

    def get_blob(self, digest: str) -> bytes:
        return (self.blobs / digest).read_bytes()
