"""Crash-safe persistence of the emulator's state under ``--data DIR``.

Layout::

    DIR/state.json          every message, read flag, queue entry, failed record (no bytes)
    DIR/blobs/<sha256>      attachment contents, content-addressed

Every write is temp file + fsync + rename + fsync of the directory, so a SIGKILL at any line
leaves either the old or the new ``state.json``, never a torn one. Blobs are written (and made
durable) before the ``state.json`` that references them, so a reloaded state never points at a
missing blob; a blob written just before a crash is merely unreferenced, which is harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
BLOB_DIR = "blobs"


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


class Store:
    """Reads and writes one data directory. The caller serialises access (the state's lock)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / BLOB_DIR
        self.blobs.mkdir(parents=True, exist_ok=True)
        # Leftover temp files are from writes a crash interrupted; the renamed files are whole.
        for stale in [*root.glob(".*.tmp"), *self.blobs.glob(".*.tmp")]:
            with contextlib.suppress(OSError):
                stale.unlink()

    def load(self) -> dict[str, Any] | None:
        """The last saved document, or None for a fresh directory."""
        try:
            raw = (self.root / STATE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError(f"{self.root / STATE_FILE}: not a JSON object")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        atomic_write(self.root / STATE_FILE, json.dumps(doc, separators=(",", ":")).encode())

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` durably; return its SHA-256 (the blob's name)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / digest
        if not path.exists():
            atomic_write(path, data)
        return digest

    def get_blob(self, digest: str) -> bytes:
        return (self.blobs / digest).read_bytes()
