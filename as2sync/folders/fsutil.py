"""Crash-safe file primitives shared by outbound archiving and inbound writing.

The rules every caller relies on:

* ``fsync_file`` + ``fsync_dir`` make a write and a rename durable; a rename is not durable
  until the directory holding it is fsynced.
* :func:`place_at` is the one move, and it never overwrites: it hard-links the source to the
  target name (which fails if the name exists) and then unlinks the source. A crash between
  the two leaves both names pointing at one inode, which :func:`finish_place_at` recognises
  and completes. Where hard links are not supported (some network filesystems) it falls back
  to an existence check plus ``rename``. Claim, archive, give-back and the inbound writer all
  move files with it.
* ``unique_name`` keeps names readable: ``invoice.edi`` -> ``invoice (2).edi``.
* Folders that users or partners can write are opened with :func:`open_dir`: from a trusted
  *anchor* (``folders.root`` or a route folder, taken as the operator configured it, symlinks
  in it included) down one component at a time, each opened ``O_NOFOLLOW | O_DIRECTORY``
  relative to the one before. A component that is a symbolic link (or not a folder) raises
  :class:`~as2sync.errors.UnsafeFolder`. Every operation is then made relative to the
  descriptors (``*_at`` functions: ``rename``/``link``/``unlink``/``open`` with ``dir_fd``),
  so swapping a checked folder for a symlink between the check and the use changes nothing:
  the descriptor still names the folder that was checked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from as2sync.errors import StorageError, UnsafeFolder

_CHUNK = 1024 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_HARDLINKS = (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK)


# -- verified folders --------------------------------------------------------------------------


def _unsafe(parent_fd: int, part: str, path: Path) -> UnsafeFolder:
    try:
        link = stat.S_ISLNK(os.stat(part, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        link = False
    if not link:
        return UnsafeFolder(f"{path} is not a folder: as2sync needs a folder there")
    return UnsafeFolder(
        f"{path} is a symbolic link; as2sync refuses to follow it (anyone who can write there "
        "could point it at any directory): replace it by a real folder"
    )


def is_folder_name(part: str) -> bool:
    """Whether ``part`` names a folder in its parent (not itself, the parent, or a path)."""
    return part not in ("", ".", "..") and "/" not in part and "\0" not in part


def open_part(parent_fd: int, part: str, path: Path, create: bool) -> int:
    """A new descriptor of the folder ``part`` in ``parent_fd`` (``path`` names it in errors),
    never following a symbolic link there: UnsafeFolder if it is one or not a folder.
    ``create`` makes it when missing (and fsyncs the parent), else FileNotFoundError."""
    if not is_folder_name(part):
        raise UnsafeFolder(f"{path}: {part!r} is not a folder name as2sync accepts")
    try:
        return os.open(part, DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _unsafe(parent_fd, part, path) from exc
        raise
    # A dangling symlink makes mkdir say "exists"; the open below then refuses it.
    with contextlib.suppress(FileExistsError):
        os.mkdir(part, 0o777, dir_fd=parent_fd)
        os.fsync(parent_fd)  # the new folder's own entry must outlive a power cut, too
    try:
        return os.open(part, DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _unsafe(parent_fd, part, path) from exc
        raise


def open_dir(anchor: Path, parts: Sequence[str], *, create: bool = False) -> int:
    """A descriptor of the folder ``anchor/parts...`` (the caller closes it).

    ``anchor`` is trusted as given; each of ``parts`` must be a real folder, not a symbolic
    link (UnsafeFolder otherwise). ``create`` makes missing parts (and a missing anchor).
    Raises OSError as the filesystem does (FileNotFoundError: a part is missing and not to be
    created).
    """
    if create:
        os.makedirs(anchor, exist_ok=True)
    fd = os.open(anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path = anchor
        for part in parts:
            path = path / part
            child = open_part(fd, part, path, create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def opened_dir(anchor: Path, parts: Sequence[str], *, create: bool = False) -> Iterator[int]:
    """:func:`open_dir` as a context manager that closes the descriptor."""
    fd = open_dir(anchor, parts, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def exists_at(dir_fd: int, name: str) -> bool:
    """Whether ``name`` exists in the folder (a symlink counts as existing; nothing followed)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _same_folder(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def place_at(
    src_fd: int,
    src: str,
    dst_fd: int,
    dst: str,
    *,
    sync: bool = True,
    after_link: Callable[[], None] | None = None,
) -> bool:
    """Move ``src`` (in the folder ``src_fd``) to the new name ``dst`` (in ``dst_fd``), never
    replacing anything there: False, and nothing moved, if ``dst`` exists (a symlink too).

    The one crash-safe move every mover uses (claim, archive, give-back, inbound writer): a hard
    link to the new name, then the old name unlinked. Killed between the two, both names are
    the same inode, which :func:`finish_place_at` recognises and completes; ``after_link`` runs
    exactly there (a crash point for tests). Where the filesystem has no hard links (some
    network filesystems) it falls back to an existence check plus ``rename``.

    ``sync``: the target folder is fsynced once the new name exists (before the old one goes,
    so no power cut can leave neither) and the source folder after the unlink: durable on
    return. ``sync=False`` leaves the folder fsyncs to a caller that moves many files and syncs
    each folder once (the inbound writer). Raises OSError as the filesystem does.
    """
    try:
        os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINKS:
            raise
        # No hard links here: check-then-rename leaves a tiny race window, the best possible.
        if exists_at(dst_fd, dst):
            return False
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        if sync:
            _sync_both(src_fd, dst_fd)
        return True
    if sync:
        os.fsync(dst_fd)
    if after_link is not None:
        after_link()
    # Killed here: both names exist and are the same inode; finish_place_at completes it.
    os.unlink(src, dir_fd=src_fd)
    if sync:
        os.fsync(src_fd)
    return True


def _sync_both(src_fd: int, dst_fd: int) -> None:
    os.fsync(dst_fd)
    if not _same_folder(src_fd, dst_fd):
        os.fsync(src_fd)


def finish_place_at(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
    """Complete an interrupted :func:`place_at`. True if ``dst`` now holds the file.

    * ``src`` gone, ``dst`` present: it was done.
    * both present and the same inode: the link was made, the unlink was not; unlink now.
    * ``src`` present, ``dst`` absent or another file: not done; the caller places it again.
    """
    try:
        s = os.stat(src, dir_fd=src_fd, follow_symlinks=False)
    except FileNotFoundError:
        return exists_at(dst_fd, dst)
    try:
        d = os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if (s.st_dev, s.st_ino) != (d.st_dev, d.st_ino):
        return False
    os.unlink(src, dir_fd=src_fd)
    os.fsync(src_fd)
    return True


def open_file_at(dir_fd: int, name: str, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """``open`` of ``name`` in the folder, never following a symlink there (ELOOP instead)."""
    return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)


def sha256_at(dir_fd: int, name: str) -> tuple[str, int]:
    """SHA-256 hex digest and size of the regular file ``name`` in the folder."""
    fd = open_file_at(dir_fd, name)
    with open(fd, "rb") as fh:
        return _digest(fh)


def copy_in(source: Path, dir_fd: int, name: str) -> None:
    """Copy the file ``source`` (a path the operator gave) to a new file ``name`` in the
    folder, durably (file and folder fsynced). A partial copy is removed."""
    fd = open_file_at(dir_fd, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with open(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.fsync(dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
        raise


# -- paths -------------------------------------------------------------------------------------


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


def _digest(fh: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def unique_basename(name: str, attempt: int) -> str:
    """The ``attempt``-th candidate for ``name``: name, name (2), name (3)..."""
    if attempt <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dot-file such as ".profile"
        return f"{name} ({attempt})"
    return f"{stem} ({attempt}){dot}{ext}"


def unique_name(directory: Path, name: str, attempt: int) -> Path:
    """The ``attempt``-th candidate for ``name`` in ``directory`` (see :func:`unique_basename`)."""
    return directory / unique_basename(name, attempt)


@contextlib.contextmanager
def _parents(source: Path, target: Path) -> Iterator[tuple[int, int]]:
    src_fd = os.open(source.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dst_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield src_fd, dst_fd
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def place(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` without ever overwriting. Returns False if target exists.

    Durable on return: the target directory is fsynced. (Paths are used as given: for folders
    users can write, open them with :func:`open_dir` and use :func:`place_at`.)
    """
    with _parents(source, target) as (src_fd, dst_fd):
        return place_at(src_fd, source.name, dst_fd, target.name)


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
    if isinstance(exc, UnsafeFolder):
        return UnsafeFolder(str(exc))  # it says which folder and why already
    hint = {
        errno.ENOSPC: "the disk is full; free space and as2sync resumes by itself",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EACCES: "permission denied; check the folder's owner and mode",
        errno.EPERM: "operation not permitted; check the folder's owner and mode",
        errno.EROFS: "the filesystem is read-only",
        errno.ENOENT: "the folder does not exist",
        errno.ELOOP: "it is a symbolic link, which as2sync does not follow",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return StorageError(f"cannot {action} {path}: {hint}")
