"""Who this as2sync is: a random id, made once and kept in ``state_dir/instance-id``.

Claims name their processing files after it (``<instance>-<file id>-<name>``), so two
instances whose ledgers both number files from 1 can never plan the same path, even if the
folder lock (:mod:`as2sync.folders.lock`) were broken, e.g. by NFS without locking. Only its
uniqueness matters: the ledger records every planned path in full, so a lost or rewritten id
changes the names of later claims and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from as2sync.folders.fsutil import fsync_dir

INSTANCE_FILE = "instance-id"
_VALID = re.compile(r"^[0-9a-f]{8}$")


def instance_id(state_dir: Path) -> str:
    """The id stored in ``state_dir``, created durably on first use (the caller holds the
    state_dir lock). Raises OSError when state_dir cannot be read or written."""
    path = state_dir / INSTANCE_FILE
    with contextlib.suppress(FileNotFoundError):
        current = path.read_text(encoding="ascii", errors="replace").strip()
        if _VALID.match(current):
            return current
    state_dir.mkdir(parents=True, exist_ok=True)
    new = secrets.token_hex(4)
    tmp = state_dir / f".{INSTANCE_FILE}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(new + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # an unreadable or empty file (a disk fault) is replaced
    fsync_dir(state_dir)
    return new
