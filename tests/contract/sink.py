"""A small real download sink for the contract tests: staging slots and a store in tmp_path.

It is not the engine's (that one is tested with the engine); it keeps exactly what a
contract test needs to see: which outcome each wanted message got, which attachment indices
the backend asked to write, and the stored bytes. ``break_storage(key)`` makes the slot of
``key`` refuse like a full disk.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from as2sync.backends.base import ContentRefused, Readable, Staged
from as2sync.errors import StorageError

CHUNK = 64 * 1024


class Slot:
    """One message's staging folder: ``staging/<key>/<index>``."""

    def __init__(self, sink: DirSink, key: int) -> None:
        self.key = key
        self._sink = sink
        self._dir = sink.staging / str(key)
        self.files: dict[int, Path] = {}

    def temp_for(self, index: int) -> Path:
        if self.key in self._sink.broken:
            raise OSError(errno.ENOSPC, "No space left on device", str(self._dir))
        self._sink.written.append((self.key, index))
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / str(index)
        path.unlink(missing_ok=True)
        path.touch()
        return path

    def add_download(self, index: int) -> int:
        path = self._dir / str(index)
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
        self.files[index] = path
        return path.stat().st_size

    def add_stream(self, index: int, readable: Readable, expected_size: int) -> None:
        path = self.temp_for(index)
        got = 0
        with path.open("wb") as out:
            while got <= expected_size:
                chunk = readable.read(min(CHUNK, expected_size + 1 - got))
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
        if got != expected_size:
            raise ContentRefused(f"attachment {index}: {got} bytes, {expected_size} listed")
        self.files[index] = path


class DirSink:
    """The sink handed to ``Receiver.download`` in the contract tests."""

    def __init__(self, base: Path) -> None:
        self.tmp = base / "tmp"
        self.staging = base / "staging"
        self.inbox = base / "inbox"
        for folder in (self.tmp, self.staging, self.inbox):
            folder.mkdir(parents=True, exist_ok=True)
        self.outcomes: dict[int, list[str]] = defaultdict(list)
        self.acknowledged: dict[int, bool] = {}
        self.written: list[tuple[int, int]] = []  # (key, index) of every temp_for asked
        self.broken: set[int] = set()

    def break_storage(self, key: int) -> None:
        self.broken.add(key)

    def stage(self, key: int) -> Staged:
        return Slot(self, key)

    def store(self, staged: Sequence[Staged], *, acknowledged: Sequence[bool]) -> None:
        assert len(staged) == len(acknowledged)
        for slot, ack in zip(staged, acknowledged, strict=True):
            assert isinstance(slot, Slot), slot
            for index, path in slot.files.items():
                shutil.move(path, self.inbox / f"{slot.key}-{index}")
            self.outcomes[slot.key].append("store")
            self.acknowledged[slot.key] = ack

    def not_served(self, keys: Sequence[int], reason: str) -> None:
        for key in keys:
            self.outcomes[key].append("not_served")

    def refused(self, keys: Sequence[int], reason: str) -> None:
        for key in keys:
            self.outcomes[key].append("refused")

    def storage_failed(self, keys: Sequence[int], exc: OSError | StorageError) -> None:
        for key in keys:
            self.outcomes[key].append("storage_failed")

    def stored(self, key: int) -> dict[int, bytes]:
        """The attachments stored for ``key``, by index."""
        found = {}
        for path in self.inbox.glob(f"{key}-*"):
            found[int(path.name.split("-", 1)[1])] = path.read_bytes()
        return found
