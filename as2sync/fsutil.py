"""Crash-safe file primitives shared by outbound archiving and inbound writing.

The rules every caller relies on:

* ``fsync_file`` + ``fsync_dir`` make a write and a rename durable; a rename is not durable
  until the directory holding it is fsynced.
* ``place`` never overwrites: it hard-links the source to the target name (which fails if the
  name exists) and then unlinks the source. A crash between the two leaves both names pointing
  at one inode, which :func:`finish_place` recognises and completes. Where hard links are not
  supported (some network filesystems) it falls back to an existence check plus ``rename``.
* ``unique_name`` keeps names readable: ``invoice.edi`` -> ``invoice (2).edi``.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from as2sync.errors import StorageError

_CHUNK = 1024 * 1024


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def unique_name(directory: Path, name: str, attempt: int) -> Path:
    """The ``attempt``-th candidate for ``name`` in ``directory``: name, name (2), name (3)..."""
    if attempt <= 1:
        return directory / name
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dot-file such as ".profile"
        return directory / f"{name} ({attempt})"
    return directory / f"{stem} ({attempt}){dot}{ext}"


def free_path(directory: Path, name: str) -> Path:
    """The first candidate name not taken in ``directory`` (taken names may race; see place)."""
    attempt = 1
    while True:
        candidate = unique_name(directory, name, attempt)
        if not os.path.lexists(candidate):
            return candidate
        attempt += 1


def place(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` without ever overwriting. Returns False if target exists.

    Durable on return: the target directory is fsynced.
    """
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here: check-then-rename leaves a tiny race window, the best possible.
        if os.path.lexists(target):
            return False
        os.rename(source, target)
        fsync_dir(target.parent)
        return True
    # Crash here: both names exist and are the same inode; finish_place completes it.
    os.unlink(source)
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)
    return True


def finish_place(source: Path, target: Path) -> bool:
    """Complete an interrupted :func:`place`. True if ``target`` now holds the file.

    * source gone, target present: it was done.
    * both present and the same inode: the link was made, the unlink was not; unlink now.
    * source present, target absent or another file: not done; the caller places it again.
    """
    if not os.path.lexists(source):
        return os.path.lexists(target)
    if os.path.lexists(target) and os.path.samefile(source, target):
        os.unlink(source)
        fsync_dir(source.parent)
        return True
    return False


def place_unique(source: Path, directory: Path, name: str) -> Path:
    """Move ``source`` into ``directory`` under ``name`` or a unique variant of it."""
    attempt = 1
    while True:
        target = unique_name(directory, name, attempt)
        if place(source, target):
            return target
        attempt += 1


def storage_error(action: str, path: Path, exc: OSError) -> StorageError:
    """Translate an OSError at a filesystem boundary into a message a user can act on."""
    hint = {
        errno.ENOSPC: "the disk is full; free space and as2sync resumes by itself",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied; check the folder's owner and mode",
        errno.EPERM: "operation not permitted; check the folder's owner and mode",
        errno.EROFS: "the filesystem is read-only",
        errno.ENOENT: "the folder does not exist",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return StorageError(f"cannot {action} {path}: {hint}")
