"""Atomic writes into an inbox: temp file, fsync, then a move that never overwrites.

A consumer watching an inbox must never see a partial file, and nothing already there may be
overwritten. Every file is therefore first written in full to the partnership's work folder
``<partner>/.as2sync/incoming/`` (same filesystem as the inbox by construction), fsynced, and
only then moved into the inbox:

* file layouts (``flat``, ``timestamp-prefix``): each file is a temp file
  ``incoming/<row id>-<index>`` moved by :func:`fsutil.place_at` (hard link + unlink: an
  existing name is never replaced; a crash between the two leaves both names on one inode,
  which :func:`fsutil.finish_place_at` completes). Sidecars ``incoming/<row id>-<index>.as2.json``
  follow their data file, so in these layouts a consumer can see a data file a moment before
  its sidecar; consumers that need both at once should use ``message-folder``.
* ``message-folder``: the whole message -- every attachment and the sidecar -- is written into
  the temp folder ``incoming/<row id>.d/`` and that folder is renamed into the inbox in one
  step, so a consumer never sees a half-filled message folder. ``rename`` of a folder cannot be
  told not to replace an *empty* existing folder; the target is checked first, so at worst a
  concurrently created empty folder is replaced, which loses nothing.

Folder fsyncs are done once per batch by the caller (:func:`sync_dirs`), not once per file,
which is what makes a batch of small files cheap; the order stays: temp files and their folder
durable before PLANNED is committed, moves durable before WRITTEN is committed.

The unit that moves (a temp file, or a temp folder) is derived from the temp path alone (see
:func:`unit_of`), so crash recovery needs nothing but the ledger's file rows.

Every write, link and rename is made relative to folder descriptors opened through the
partnership's :meth:`~as2sync.folders.layout.PartnerDirs.open`, which refuses a station, partner,
inbox or work folder that is a symbolic link (UnsafeFolder, an OSError: the message waits like
after any storage error), so an inbox pointed elsewhere never receives a partner's files.

Who records what when (the engine does the ledger side): the temp files are written and fsynced
here (:class:`Stager`), then the engine commits PLANNED rows naming temp and final paths, then
:func:`place_file` / :func:`place_folder` move them, then the engine commits WRITTEN. A
collision found while moving calls ``replan`` -- which must commit the new final path -- before
trying the new name, so the ledger always names every place a file may be.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from as2sync.backends.base import TMP_PREFIX, ContentRefused, Readable
from as2sync.config.schema import Layout
from as2sync.errors import UnsafeFolder
from as2sync.folders.fsutil import (
    exists_at,
    fsync_dir,
    open_file_at,
    place_at,
    sha256_at,
    unique_basename,
)
from as2sync.folders.layout import PartnerDirs
from as2sync.inbound.layouts import SIDECAR_SUFFIX, WantedNames
from as2sync.ledger.inbound import FileKind, InboundMessage

FOLDER_SUFFIX = ".d"
ZIP_PREFIX = TMP_PREFIX  # what a backend leaves in state_dir/tmp (removed at start)
_CHUNK = 256 * 1024

# The sidecar's keys for the AS2 facts a backend may know (in :attr:`InboundMessage.remote`
# under the second name), in the order the sidecar has always listed them around station and
# partner. A fact the backend does not know is left out.
_FACTS_BEFORE = (("senderId", "sender_id"), ("receiverId", "receiver_id"))
_FACTS_AFTER = (
    ("partnerType", "partner_type"),
    ("signed", "signed"),
    ("encrypted", "encrypted"),
    ("compressed", "compressed"),
    ("mdnStatus", "mdn_status"),
)


@dataclass
class PlannedFile:
    """One file of a staged message: durable at ``temp``, going to ``final``."""

    index: int
    kind: FileKind
    name: str  # the partner's attachment name verbatim (the sidecar's own name for sidecars)
    temp: Path
    final: Path
    sha256: str
    size: int
    file_id: int | None = None  # set once the PLANNED row is committed


@dataclass
class StagedMessage:
    """A message whose files are all durable in the work folder, ready for PLANNED."""

    row: InboundMessage
    dirs: PartnerDirs
    files: list[PlannedFile]
    temp_dir: Path | None = None  # message-folder layout: the folder that moves
    final_dir: Path | None = None
    read_by_gateway: bool = False  # the download request marked it read already


def unit_of(temp: Path, final: Path) -> tuple[Path, Path]:
    """What moves for a file row: the file itself, or (message-folder) its temp folder."""
    if temp.parent.name.endswith(FOLDER_SUFFIX):
        return temp.parent, final.parent
    return temp, final


def message_time(persisted_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(persisted_ms / 1000.0))


def sidecar_document(
    row: InboundMessage, files: Sequence[PlannedFile], folder_names: bool
) -> dict[str, Any]:
    """The AS2 message entity as the sidecar holds it. ``files`` are the data files it
    describes; with ``folder_names`` their names inside the message folder are included
    (they cannot change once the folder is staged)."""
    attachments = []
    for f in files:
        entry: dict[str, Any] = {
            "index": f.index,
            "name": f.name,
            "size": f.size,
            "sha256": f.sha256,
        }
        if folder_names:
            entry["file"] = f.final.name
        attachments.append(entry)
    doc: dict[str, Any] = {
        "as2MessageId": row.message_id,
        "subject": row.subject,
        "persistedTimestamp": row.persisted_ms,
        "time": message_time(row.persisted_ms),
    }
    doc.update((key, row.remote[fact]) for key, fact in _FACTS_BEFORE if fact in row.remote)
    doc["station"] = row.station
    doc["partner"] = row.partner
    doc.update((key, row.remote[fact]) for key, fact in _FACTS_AFTER if fact in row.remote)
    doc["attachments"] = attachments
    return doc


def _create(dir_fd: int, name: str) -> int:
    """A new, empty file ``name`` in the folder, opened for writing. Whatever had that name (a
    leftover of an interrupted try, or something planted in the work folder) is removed first:
    the name is ours, and O_EXCL|O_NOFOLLOW then guarantee we write a file we created."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
    return open_file_at(dir_fd, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def _write_durable(dirs: PartnerDirs, path: Path, data: bytes) -> str:
    with dirs.open(path.parent) as folder:
        with open(_create(folder, path.name), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        digest, _size = sha256_at(folder, path.name)
    return digest


def _free_target(
    dir_fd: int | None,
    directory: Path,
    name: str,
    reserved: Collection[Path],
    companion: str | None = None,
) -> Path:
    """The first variant of ``name`` in ``directory`` (open as ``dir_fd``; None: it cannot be
    read, so only ``reserved`` counts) that is neither on disk nor reserved by another file of
    this run (nor, with ``companion``, is its companion sidecar name)."""

    def on_disk(entry: str) -> bool:
        return dir_fd is not None and exists_at(dir_fd, entry)

    attempt = 1
    while True:
        candidate = directory / unique_basename(name, attempt)
        taken = candidate in reserved or on_disk(candidate.name)
        if not taken and companion is not None:
            side = candidate.with_name(candidate.name + companion)
            taken = side in reserved or on_disk(side.name)
        if not taken:
            return candidate
        attempt += 1


class Stager:
    """One message's staging slot (:class:`~as2sync.backends.base.Staged`): writes its files
    durably into the work folder, then picks free targets.

    The backend fills each attachment with :meth:`add_stream`, or :meth:`temp_for` then
    :meth:`add_download`; the engine then calls :meth:`seal`. On any error call
    :meth:`discard`: nothing is in the ledger yet, so the temp files are simply garbage.

    ``made`` is shared by the slots of one batch: the partnership's work folder and inbox are
    made once for all of them, not once per message.
    """

    def __init__(
        self,
        row: InboundMessage,
        dirs: PartnerDirs,
        names: WantedNames,
        *,
        layout: Layout,
        write_metadata: bool,
        made: set[Path] | None = None,
    ) -> None:
        self.row = row
        self.key = row.id
        self._made = made if made is not None else set()
        self.dirs = dirs
        self.names = names
        self.layout = layout
        self.write_metadata = write_metadata
        self._files: list[PlannedFile] = []
        self._folder = layout is Layout.MESSAGE_FOLDER
        self.temp_dir = dirs.incoming / f"{row.id}{FOLDER_SUFFIX}" if self._folder else None
        self._prepared = False

    def _prepare(self) -> None:
        """Create the folders on first use (raises OSError, like every write here)."""
        if self._prepared:
            return
        for folder in (self.dirs.incoming, self.dirs.inbox):
            if folder not in self._made:
                self.dirs.make(folder)
                self._made.add(folder)
        if self.temp_dir is not None:
            self.dirs.make(self.temp_dir)
        self._prepared = True

    def _temp_path(self, index: int) -> Path:
        if self.temp_dir is not None:
            return self.temp_dir / self.names.data[index]
        return self.dirs.incoming / f"{self.row.id}-{index}"

    def temp_for(self, index: int) -> Path:
        """Where a backend's client streams attachment ``index``: a new empty regular file,
        created here through a verified folder descriptor (never a planted symlink)."""
        self._prepare()
        temp = self._temp_path(index)
        with self.dirs.open(temp.parent) as folder:
            os.close(_create(folder, temp.name))
        return temp

    def _record(self, index: int, temp: Path, digest: str, size: int) -> None:
        name = str(self.row.attachments[index][0])
        self._files.append(PlannedFile(index, FileKind.DATA, name, temp, temp, digest, size))

    def add_stream(self, index: int, readable: Readable, expected_size: int) -> None:
        """Copy attachment ``index`` from ``readable`` into its temp file and fsync it, reading
        at most ``expected_size + 1`` bytes. Raises ContentRefused unless it holds exactly
        ``expected_size`` bytes (whatever ``readable`` raises passes through), or OSError."""
        self._prepare()
        temp = self._temp_path(index)
        digest = hashlib.sha256()
        total = 0
        with self.dirs.open(temp.parent) as folder, open(_create(folder, temp.name), "wb") as fh:
            while chunk := readable.read(min(_CHUNK, expected_size + 1 - total)):
                total += len(chunk)
                if total > expected_size:
                    raise ContentRefused(
                        f"attachment {index} holds more than the {expected_size} bytes listed"
                    )
                digest.update(chunk)
                fh.write(chunk)
            if total != expected_size:
                raise ContentRefused(
                    f"attachment {index} holds {total} bytes, {expected_size} listed"
                )
            fh.flush()
            os.fsync(fh.fileno())
        self._record(index, temp, digest.hexdigest(), expected_size)

    def add_download(self, index: int) -> int:
        """A backend's client has streamed attachment ``index`` into :meth:`temp_for`; make it
        durable and record it. Returns its size (the caller verifies it)."""
        temp = self._temp_path(index)
        with self.dirs.open(temp.parent) as folder:
            fd = open_file_at(folder, temp.name)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            digest, size = sha256_at(folder, temp.name)
        self._record(index, temp, digest, size)
        return size

    def seal(self, reserved: set[Path]) -> StagedMessage:
        """Write sidecars and choose free final paths (adding them to ``reserved``).

        Every temp file is fsynced; their directory entries are not: :func:`staged_dirs` names
        the folders the caller must fsync (once per batch, see :func:`sync_dirs`) before the
        PLANNED rows are committed."""
        self._prepare()
        self._files.sort(key=lambda f: f.index)
        with contextlib.ExitStack() as stack:
            try:
                inbox_fd: int | None = stack.enter_context(self.dirs.open(self.dirs.inbox))
            except OSError:
                # The inbox broke after staging began: plan anyway, so the durable temp files
                # are kept; moving them fails (and is retried) until the inbox is fixed.
                inbox_fd = None
            if self.temp_dir is not None:
                return self._seal_folder(inbox_fd, reserved)
            return self._seal_files(inbox_fd, reserved)

    def _seal_files(self, inbox_fd: int | None, reserved: set[Path]) -> StagedMessage:
        files: list[PlannedFile] = []
        inbox = self.dirs.inbox
        companion = SIDECAR_SUFFIX if self.write_metadata else None
        for f in self._files:
            name = self.names.data[f.index]
            f.final = _free_target(inbox_fd, inbox, name, reserved, companion)
            reserved.add(f.final)
            files.append(f)
            if self.write_metadata:
                side_temp = self.dirs.incoming / f"{self.row.id}-{f.index}{SIDECAR_SUFFIX}"
                doc = sidecar_document(self.row, [f], folder_names=False)
                data = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
                digest = _write_durable(self.dirs, side_temp, data)
                side_final = f.final.with_name(f.final.name + SIDECAR_SUFFIX)
                reserved.add(side_final)
                side_name = side_final.name
                files.append(
                    PlannedFile(
                        f.index,
                        FileKind.METADATA,
                        side_name,
                        side_temp,
                        side_final,
                        digest,
                        len(data),
                    )
                )
        return StagedMessage(self.row, self.dirs, files)

    def _seal_folder(self, inbox_fd: int | None, reserved: set[Path]) -> StagedMessage:
        assert self.temp_dir is not None and self.names.folder is not None
        final_dir = _free_target(inbox_fd, self.dirs.inbox, self.names.folder, reserved)
        reserved.add(final_dir)
        files = list(self._files)
        for f in files:
            f.final = final_dir / f.temp.name
        if self.write_metadata and self.names.sidecar is not None:
            side_temp = self.temp_dir / self.names.sidecar
            doc = sidecar_document(self.row, files, folder_names=True)
            data = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
            digest = _write_durable(self.dirs, side_temp, data)
            files.append(
                PlannedFile(
                    -1,
                    FileKind.METADATA,
                    self.names.sidecar,
                    side_temp,
                    final_dir / self.names.sidecar,
                    digest,
                    len(data),
                )
            )
        return StagedMessage(
            self.row, self.dirs, files, temp_dir=self.temp_dir, final_dir=final_dir
        )

    def discard(self) -> None:
        """Remove whatever was staged (nothing of it is in the ledger)."""
        if self.temp_dir is not None:
            discard_unit(self.temp_dir, dirs=self.dirs)
        for f in self._files:
            discard_unit(f.temp, dirs=self.dirs)
        if self.temp_dir is None:
            for index in range(len(self.row.attachments)):
                for suffix in ("", SIDECAR_SUFFIX):
                    with contextlib.suppress(OSError):
                        discard_unit(
                            self.dirs.incoming / f"{self.row.id}-{index}{suffix}", dirs=self.dirs
                        )


def discard_unit(path: Path, *, dirs: PartnerDirs) -> None:
    """Delete a temp file or temp folder of ``dirs`` that no ledger row refers to. Nothing is
    followed: a symlink is removed itself, and a folder on the way that is a symlink leaves
    the unit alone (the survey reports that folder)."""
    try:
        with dirs.open(path.parent) as folder:
            st = os.stat(path.name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path.name, ignore_errors=True, dir_fd=folder)
            else:
                os.unlink(path.name, dir_fd=folder)
    except (FileNotFoundError, UnsafeFolder):
        return


def discard(sm: StagedMessage) -> None:
    """Remove a staged message's temp files (only while no ledger row names them)."""
    if sm.temp_dir is not None:
        discard_unit(sm.temp_dir, dirs=sm.dirs)
    for f in sm.files:
        discard_unit(f.temp, dirs=sm.dirs)


def staged_dirs(sm: StagedMessage) -> set[Path]:
    """The folders whose entries must be durable before ``sm``'s PLANNED rows are committed."""
    dirs = {sm.dirs.incoming}
    if sm.temp_dir is not None:
        dirs.add(sm.temp_dir)
    return dirs


def sync_dirs(dirs: Iterable[Path]) -> None:
    """fsync each folder once: a create or rename is durable only when its folder is."""
    for directory in sorted(set(dirs)):
        fsync_dir(directory)


def _free_name(dir_fd: int, directory: Path, name: str) -> Path:
    attempt = 1
    while exists_at(dir_fd, unique_basename(name, attempt)):
        attempt += 1
    return directory / unique_basename(name, attempt)


def place_file(
    temp: Path,
    target: Path,
    replan: Callable[[Path], None],
    touched: set[Path],
    *,
    dirs: PartnerDirs,
) -> Path:
    """Move ``temp`` to ``target`` (both in ``dirs``) or, if that name is taken, to a free
    variant; return where it went. ``replan(new)`` is called (and must commit) before a new
    name is tried. The target folder is created if it went missing (an operator removed an
    empty inbox). The folders changed are added to ``touched``; the caller syncs them
    (:func:`sync_dirs`). Raises OSError (UnsafeFolder for a symlinked folder on the way)."""
    with dirs.open(temp.parent) as src, dirs.open(target.parent, create=True) as dst:
        return place_file_at(src, dst, temp, target, replan, touched)


def place_file_at(
    src: int,
    dst: int,
    temp: Path,
    target: Path,
    replan: Callable[[Path], None],
    touched: set[Path],
) -> Path:
    """:func:`place_file` with the folders of ``temp`` and ``target`` already open (verified,
    as :meth:`PartnerDirs.open` opens them) as ``src`` and ``dst``: for the files of one
    message, which share both folders."""
    touched.update((temp.parent, target.parent))
    while True:
        # No fsync per file: the caller syncs every folder touched once per batch, before it
        # commits WRITTEN (killed before that, recovery finishes or redoes the move).
        if place_at(src, temp.name, dst, target.name, sync=False):
            return target
        new = _free_name(dst, target.parent, target.name)
        replan(new)
        target = new


def place_folder(
    temp_dir: Path,
    target: Path,
    replan: Callable[[Path], None],
    touched: set[Path],
    *,
    dirs: PartnerDirs,
) -> Path:
    """Rename the staged message folder into the inbox, never onto an existing name. The
    folders changed are added to ``touched`` (see :func:`place_file`)."""
    with dirs.open(temp_dir.parent) as src, dirs.open(target.parent, create=True) as dst:
        touched.update((temp_dir.parent, target.parent))
        while True:
            if not exists_at(dst, target.name):
                try:
                    os.rename(temp_dir.name, target.name, src_dir_fd=src, dst_dir_fd=dst)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                else:
                    # Power loss before the caller's fsync may undo the rename; the temp
                    # folder is then still there and recovery renames it again.
                    return target
            new = _free_name(dst, target.parent, target.name)
            replan(new)
            target = new
