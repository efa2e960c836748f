"""Read a batch zip safely: match folders to requested IDs, verify, stream entries out.

Nothing is ever extracted by the path stored in the zip. Entries are looked up by folder (the
message ID, with or without its angle brackets -- the spec's example shows neither, gateways
differ) and matched to the attachments of the list metadata; the caller decides where the bytes
go. A message's folder is refused as a whole when it holds anything but regular files:
symlinks, device files, FIFOs, sockets, nested directories, encrypted entries, or more or fewer
entries than the metadata lists. An entry is streamed reading at most its declared size plus one
byte, so a zip bomb (an entry that inflates beyond the size the gateway listed) is refused after
reading one byte too many, never expanded into memory or onto disk. The CRC is checked by
:mod:`zipfile` on reaching the end of each entry. :func:`open_entry` hands an entry to the
engine's staging slot (:meth:`~as2sync.backends.base.Staged.add_stream`) as a plain readable
that says in v1's words what is wrong with it.

A folder name that could belong to two requested IDs (``<a@x>`` and ``a@x`` are two messages,
and a gateway may drop the brackets from folder names) is given to neither. The caller never
requests such IDs in one batch (:func:`folder_names` tells it which), so this only guards
against one that did.

A folder holding a ``.error`` file means the gateway could not serve that message; its text is
returned so it can be logged, and nothing named ``.error`` ever reaches an inbox.
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from as2sync.backends.base import Attachment, ContentRefused, bare_message_id

ERROR_ENTRY = ".error"
_CHUNK = 256 * 1024
_MAX_ERROR_TEXT = 4096
_UNSAFE_TYPES = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


class EntryRefused(ContentRefused):
    """A zip entry did not hold what the list metadata promised (or could not be read)."""


@dataclass(frozen=True)
class Served:
    """The folder matched the metadata: ``entries[k]`` holds attachment ``k``."""

    entries: tuple[zipfile.ZipInfo, ...]


@dataclass(frozen=True)
class NotServed:
    """The folder held a ``.error`` file: the gateway could not serve this message."""

    error: str


@dataclass(frozen=True)
class Refused:
    """The folder is missing, unsafe, or does not match the metadata."""

    reason: str


FolderResult = Served | NotServed | Refused


def folder_names(message_id: str) -> frozenset[str]:
    """Every name a gateway may give the batch-zip folder of ``message_id``."""
    bare = bare_message_id(message_id)
    return frozenset({message_id, bare, f"<{bare}>"})


def group_entries(
    infos: Sequence[zipfile.ZipInfo], requested: Sequence[str]
) -> tuple[dict[str, list[tuple[str, zipfile.ZipInfo]]], list[str]]:
    """Entries per requested ID as ``(name inside the folder, info)``, and the names of entries
    that belong to no requested folder (ignored; a zip-slip path such as ``../x`` lands there).

    An ID may itself contain ``/``; the longest requested folder name that prefixes an entry
    wins. A name that two requested IDs could own is ambiguous: its entries are stray.
    """
    folders: dict[str, str | None] = {}  # None: ambiguous
    for message_id in requested:
        for name in folder_names(message_id):
            folders[name] = message_id if folders.get(name, message_id) == message_id else None
    grouped: dict[str, list[tuple[str, zipfile.ZipInfo]]] = {m: [] for m in requested}
    stray: list[str] = []
    for info in infos:
        filename = info.filename
        owner: str | None = None
        rest = ""
        cut = filename.rfind("/")
        while cut > 0:
            if filename[:cut] in folders:  # an ambiguous name ends the search unowned
                owner, rest = folders[filename[:cut]], filename[cut + 1 :]
                break
            cut = filename.rfind("/", 0, cut)
        if owner is None:
            stray.append(filename)
            continue
        grouped[owner].append((rest, info))
    return grouped, stray


def _entry_type_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "is encrypted"
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # 3 = Unix: the high word holds st_mode
        kind = _UNSAFE_TYPES.get(stat.S_IFMT(mode))
        if kind is not None:
            return f"is {kind}"
    return None


def read_error_text(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """The (bounded) text of a ``.error`` entry, for the log."""
    try:
        with zf.open(info) as fh:
            data = fh.read(_MAX_ERROR_TEXT)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
        return f"(unreadable .error entry: {exc})"
    return data.decode("utf-8", errors="replace").strip() or "(empty .error entry)"


def examine_folder(
    zf: zipfile.ZipFile,
    entries: Sequence[tuple[str, zipfile.ZipInfo]],
    attachments: Sequence[Attachment],
) -> FolderResult:
    """Decide whether one message's folder can be stored, and which entry is which attachment.

    Entries are matched to attachments by name and declared size first, then by position,
    because a gateway may rename duplicate names inside one message.
    """
    files: list[tuple[str, zipfile.ZipInfo]] = []
    for rest, info in entries:
        if rest.rsplit("/", 1)[-1] == ERROR_ENTRY:
            return NotServed(read_error_text(zf, info))
        if rest == "" and info.is_dir():
            continue  # the folder's own entry
        if info.is_dir():
            return Refused(f"entry {info.filename!r} is a directory")
        problem = _entry_type_problem(info)
        if problem is not None:
            return Refused(f"entry {info.filename!r} {problem}")
        files.append((rest, info))
    if not files and attachments:
        return Refused("no entries for this message in the zip")
    if len(files) != len(attachments):
        return Refused(f"{len(files)} entries in the zip, {len(attachments)} attachments listed")
    used: set[int] = set()
    chosen: list[zipfile.ZipInfo] = []
    for position, attachment in enumerate(attachments):
        pick: int | None = None
        for n, (rest, info) in enumerate(files):
            if n not in used and rest == attachment.name and info.file_size == attachment.size:
                pick = n
                break
        if (
            pick is None
            and position not in used
            and files[position][1].file_size == attachment.size
        ):
            pick = position
        if pick is None:
            return Refused(
                f"no entry of {attachment.size} bytes for attachment {position} "
                f"({attachment.name!r}): zip and list metadata disagree"
            )
        used.add(pick)
        chosen.append(files[pick][1])
    return Served(tuple(chosen))


def examine(
    zf: zipfile.ZipFile, attachments: Mapping[str, Sequence[Attachment]]
) -> tuple[dict[str, FolderResult], list[str]]:
    """:func:`examine_folder` for every requested ID (the keys of ``attachments``), plus the
    names of stray entries."""
    grouped, stray = group_entries(zf.infolist(), list(attachments))
    results = {
        message_id: examine_folder(zf, grouped[message_id], atts)
        for message_id, atts in attachments.items()
    }
    return results, stray


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError)


class EntryStream:
    """Entry ``info`` of ``zf`` as a readable that raises :class:`EntryRefused` as soon as it
    inflates beyond ``expected`` bytes, at its end when it holds fewer, and when the zip
    cannot be read (bad CRC, bad header). A reader of at most ``expected + 1`` bytes never
    inflates more than that, whatever the entry claims."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, expected: int) -> None:
        self._name = info.filename
        self._expected = expected
        self._total = 0
        try:
            self._src = zf.open(info)
        except _ZIP_ERRORS as exc:
            raise EntryRefused(f"entry {self._name!r} is unreadable: {exc}") from exc

    def read(self, size: int = -1, /) -> bytes:
        try:
            chunk = self._src.read(size)
        except _ZIP_ERRORS as exc:
            raise EntryRefused(f"entry {self._name!r} is unreadable: {exc}") from exc
        self._total += len(chunk)
        if self._total > self._expected:
            raise EntryRefused(
                f"entry {self._name!r} inflates beyond the {self._expected} bytes listed "
                "(zip bomb?)"
            )
        if not chunk and size != 0 and self._total != self._expected:
            raise EntryRefused(
                f"entry {self._name!r} holds {self._total} bytes, {self._expected} listed"
            )
        return chunk

    def close(self) -> None:
        self._src.close()

    def __enter__(self) -> EntryStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: BinaryIO, expected: int) -> str:
    """Stream entry ``info`` into ``dest`` through :class:`EntryStream`; return its SHA-256.
    Raises :class:`EntryRefused` unless it inflates to exactly ``expected`` bytes with a
    correct CRC. Reads at most ``expected + 1`` bytes of output, whatever the entry claims."""
    digest = hashlib.sha256()
    total = 0
    with EntryStream(zf, info, expected) as src:
        while chunk := src.read(min(_CHUNK, expected + 1 - total)):
            total += len(chunk)
            digest.update(chunk)
            dest.write(chunk)
    return digest.hexdigest()
