"""Filesystem events as hints: the watcher filters and enqueues, it never decides.

The watchdog handler only records "look at this path" (or "rescan everything", or "a folder
appeared where partnerships live") in :class:`Hints` and wakes the engine; the engine stats the
path and the readiness tracker and ledger decide. Events are lost while the daemon is down,
when the kernel queue overflows and on network filesystems where none arrive at all, so they
can only ever make things faster: the engine also scans every outbox at start-up and every
``scan_seconds``.

Two kinds of folders are watched, both non-recursively: every outbox (for files), and the
*parents* -- ``folders.root``, each station folder and each route folder -- for new
sub-folders, so that a partnership folder created while the daemon runs is adopted (its outbox
watched and scanned) at once rather than at the next full scan.

Observer modes (``outbound.observer``):

* ``native``: inotify (or the platform's equivalent);
* ``polling``: watchdog's snapshot poller, for NFS/SMB shares where no events arrive;
* ``auto``: native, falling back to polling for a folder the native observer cannot watch
  (e.g. the inotify watch limit is reached).

A dead observer thread or emitter (a watched folder deleted, an I/O error) is noticed by
:meth:`Watcher.check`, which rebuilds the observers and asks for a full rescan; an inotify
queue overflow (watchdog only logs it) is caught from that log record and also asks for one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from as2sync.config.schema import Observer as ObserverMode

log = structlog.get_logger(__name__)

MAX_PENDING_PATHS = 20_000
"""Beyond this many distinct pending paths the set is dropped for one full rescan: memory
stays bounded however many files arrive between two engine steps."""
POLL_SECONDS = 1.0
STOP_POLL_SECONDS = 0.1  # how often watchdog's threads look for a stop request
_RELEVANT = frozenset({"created", "modified", "moved", "deleted", "closed"})
# The same, as the observers' event filter: inotify is then not even asked for opens and
# closes without writing, which the daemon's own folder reads cause by the thousand (each one
# woke the observer thread to be dropped by on_any_event).
_EVENT_FILTER = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
_INOTIFY_LOGGER = "watchdog.observers.inotify_c"


class Hints:
    """Thread-safe queue of paths to look at, plus a "rescan everything" flag and a "new
    folders" flag."""

    def __init__(self, max_paths: int = MAX_PENDING_PATHS) -> None:
        self._max_paths = max_paths
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._rescan = False
        self._folders = False
        self.event = threading.Event()

    def path(self, path: str) -> None:
        with self._lock:
            if not self._rescan:
                if len(self._paths) >= self._max_paths:
                    self._paths.clear()
                    self._rescan = True
                else:
                    self._paths.add(path)
        self.event.set()

    def rescan(self) -> None:
        with self._lock:
            self._paths.clear()
            self._rescan = True
        self.event.set()

    def folders(self) -> None:
        """A folder appeared in a watched parent: look for new partnerships."""
        with self._lock:
            self._folders = True
        self.event.set()

    def take_folders(self) -> bool:
        """Whether new folders were reported since the last call (read after :meth:`take`)."""
        with self._lock:
            folders, self._folders = self._folders, False
        return folders

    def take(self) -> tuple[set[str], bool]:
        """Everything pending, emptied; the wake-up event is cleared before reading, so a hint
        added meanwhile sets it again."""
        self.event.clear()
        with self._lock:
            paths, rescan = self._paths, self._rescan
            self._paths, self._rescan = set(), False
        return paths, rescan

    def pending(self) -> bool:
        with self._lock:
            return self._rescan or self._folders or bool(self._paths)


class _Handler(FileSystemEventHandler):
    def __init__(self, hints: Hints, parents: Callable[[], frozenset[str]]) -> None:
        self._hints = hints
        self._parents = parents

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _RELEVANT:
            return
        if event.is_directory:
            # A folder created in (or moved into) a parent may be a new partnership.
            if event.event_type in ("created", "moved"):
                made = os.fsdecode(getattr(event, "dest_path", "") or event.src_path)
                if os.path.dirname(made) in self._parents():
                    self._hints.folders()
            return
        self._hints.path(os.fsdecode(event.src_path))
        dest = getattr(event, "dest_path", "")
        if dest:
            self._hints.path(os.fsdecode(dest))


class _OverflowListener(logging.Handler):
    """watchdog 7 reports an inotify queue overflow only as a log warning; turn it into a
    rescan (the events of that moment are gone)."""

    def __init__(self, hints: Hints) -> None:
        super().__init__(level=logging.WARNING)
        self._hints = hints

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._hints.rescan()


class _ShutdownNoise(logging.Filter):
    """watchdog 7 logs an *error* when an inotify emitter is stopped while it waits for events
    ("queue_events() called when the thread is inactive"): a harmless shutdown race that would
    otherwise alarm whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


_EMITTER_LOGGER = "watchdog.observers.inotify"
_shutdown_noise = _ShutdownNoise()


class Watcher:
    """Watches outbox folders and the parents of partnership folders and feeds :class:`Hints`.
    :meth:`watch` adds outboxes and :meth:`watch_parents` parents; both are cheap for folders
    already watched."""

    def __init__(self, mode: ObserverMode, hints: Hints) -> None:
        self.mode = mode
        self._hints = hints
        self._parents: frozenset[str] = frozenset()  # replaced whole: the handler reads it
        self._handler = _Handler(hints, lambda: self._parents)
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self._watched: set[str] = set()
        self._listener = _OverflowListener(hints)
        self._running = False

    def start(self, folders: Iterable[str]) -> None:
        """Start watching ``folders`` (outboxes) and the parents named so far."""
        logging.getLogger(_INOTIFY_LOGGER).addHandler(self._listener)
        logging.getLogger(_EMITTER_LOGGER).addFilter(_shutdown_noise)
        self._running = True
        self.watch(folders)
        self.watch(self._parents)

    def _observer(self, polling: bool) -> BaseObserver:
        if polling:
            if self._polling is None:
                self._polling = PollingObserver(timeout=POLL_SECONDS)
                self._polling.start()
            return self._polling
        if self._native is None:
            self._native = Observer(timeout=STOP_POLL_SECONDS)
            self._native.start()
        return self._native

    def watch(self, folders: Iterable[str]) -> None:
        """Watch these outboxes for files (those that exist and are not watched yet)."""
        if not self._running:
            return
        for folder in folders:
            self._schedule(folder)

    def watch_parents(self, folders: Iterable[str]) -> int:
        """Watch these folders (root, stations, routes) for new sub-folders; returns how many
        were not watched before. A caller that listed them before this call looks again when
        it is not 0: a folder made in between raised no event."""
        folders = [str(f) for f in folders]
        self._parents = self._parents | frozenset(folders)
        if not self._running:
            return 0
        return sum(1 for folder in folders if self._schedule(folder))

    def watching(self, folder: str) -> bool:
        return folder in self._watched

    def _schedule(self, folder: str) -> bool:
        """Add a watch on ``folder``; True if it was not watched before and now is."""
        if folder in self._watched or not os.path.isdir(folder):
            return False
        polling = self.mode == ObserverMode.POLLING
        try:
            self._observer(polling).schedule(
                self._handler, folder, recursive=False, event_filter=_EVENT_FILTER
            )
        except OSError as exc:
            if self.mode != ObserverMode.AUTO:
                # Scans still find every file; only the latency suffers.
                log.error("outbound.watch_failed", folder=folder, error=str(exc))
                return False
            log.warning("outbound.watch_fallback_polling", folder=folder, error=str(exc))
            try:
                self._observer(True).schedule(
                    self._handler, folder, recursive=False, event_filter=_EVENT_FILTER
                )
            except OSError as exc2:
                log.error("outbound.watch_failed", folder=folder, error=str(exc2))
                return False
        self._watched.add(folder)
        return True

    def check(self) -> bool:
        """True if every observer and emitter is alive; otherwise rebuild and ask for a rescan."""
        if not self._running:
            return True
        for observer in (self._native, self._polling):
            if observer is None:
                continue
            alive = observer.is_alive() and all(e.is_alive() for e in observer.emitters)
            if not alive:
                log.warning("outbound.observer_restart", mode=self.mode.value)
                folders = set(self._watched)
                self._stop_observers()
                self._watched.clear()
                self.watch(folders)
                self._hints.rescan()
                return False
        return True

    def _stop_observers(self) -> None:
        for observer in (self._native, self._polling):
            if observer is None:
                continue
            try:
                observer.stop()
                observer.join(5)
            except RuntimeError:  # never started
                pass
        self._native = self._polling = None

    def stop(self) -> None:
        self._running = False
        logging.getLogger(_INOTIFY_LOGGER).removeHandler(self._listener)
        self._stop_observers()
        self._watched.clear()
