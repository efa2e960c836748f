"""The watcher only filters and enqueues: hints are bounded, overflow means rescan, and both
observer kinds notice a new file in a watched folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from watchdog.events import DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileSystemEvent

from as2sync.config.schema import Observer
from as2sync.outbound.watcher import Hints, Watcher, _Handler


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_hints_are_taken_once_and_wake_the_engine() -> None:
    hints = Hints()
    hints.path("/o/a")
    hints.path("/o/a")
    assert hints.event.is_set() and hints.pending()
    assert hints.take() == ({"/o/a"}, False)
    assert not hints.event.is_set() and not hints.pending()


def test_too_many_pending_paths_collapse_into_one_rescan() -> None:
    hints = Hints(max_paths=3)
    for i in range(10):
        hints.path(f"/o/{i}")
    assert hints.take() == (set(), True)


@pytest.mark.parametrize("mode", [Observer.NATIVE, Observer.POLLING, Observer.AUTO])
def test_observer_reports_a_new_file_in_a_watched_folder(tmp_path: Path, mode: Observer) -> None:
    hints = Hints()
    w = Watcher(mode, hints)
    w.start([str(tmp_path)])
    try:
        time.sleep(0.1)  # the polling observer's first snapshot
        (tmp_path / "a.edi").write_bytes(b"x")
        assert wait_for(lambda: str(tmp_path / "a.edi") in hints.take()[0])
    finally:
        w.stop()


def test_a_rename_reports_the_new_name(tmp_path: Path) -> None:
    part = tmp_path / "a.edi.part"
    part.write_bytes(b"x")
    hints = Hints()
    w = Watcher(Observer.NATIVE, hints)
    w.start([str(tmp_path)])
    seen: set[str] = set()

    def renamed() -> bool:
        seen.update(hints.take()[0])
        return str(tmp_path / "a.edi") in seen

    try:
        part.rename(tmp_path / "a.edi")
        assert wait_for(renamed)
    finally:
        w.stop()


def test_inotify_overflow_asks_for_a_rescan(tmp_path: Path) -> None:
    hints = Hints()
    w = Watcher(Observer.NATIVE, hints)
    w.start([str(tmp_path)])
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert hints.take()[1] is True
    finally:
        w.stop()


def test_a_dead_observer_is_rebuilt_and_a_rescan_requested(tmp_path: Path) -> None:
    hints = Hints()
    w = Watcher(Observer.NATIVE, hints)
    w.start([str(tmp_path)])
    try:
        assert w.check() is True
        hints.take()
        w._native.stop()  # type: ignore[union-attr]  # what a crashed observer thread looks like
        w._native.join()  # type: ignore[union-attr]
        assert w.check() is False
        assert hints.take()[1] is True
        (tmp_path / "after.edi").write_bytes(b"x")
        assert wait_for(lambda: str(tmp_path / "after.edi") in hints.take()[0])
    finally:
        w.stop()


@pytest.mark.parametrize("mode", [Observer.NATIVE, Observer.POLLING])
def test_a_new_folder_in_a_watched_parent_is_reported(tmp_path: Path, mode: Observer) -> None:
    root, outbox = tmp_path / "root", tmp_path / "outbox"
    root.mkdir()
    outbox.mkdir()
    hints = Hints()
    w = Watcher(mode, hints)
    assert w.watch_parents([str(root)]) == 0  # remembered until started
    w.start([str(outbox)])
    try:
        assert w.watching(str(root)) and w.watching(str(outbox))
        time.sleep(0.1)  # the polling observer's first snapshot
        (outbox / "subfolder").mkdir()
        (root / "NEWSTATION").mkdir()
        assert wait_for(hints.take_folders)
        assert not hints.take_folders()  # taken once
        assert w.watch_parents([str(root), str(root / "NEWSTATION")]) == 1  # only the new one
    finally:
        w.stop()
    assert hints.take() == (set(), False)  # folders are not file hints


def test_only_folders_made_in_a_parent_count_as_new_folders() -> None:
    hints = Hints()
    handler = _Handler(hints, lambda: frozenset({"/r"}))
    handler.on_any_event(DirCreatedEvent("/r/outbox-of-a-partner/sub"))
    handler.on_any_event(DirCreatedEvent("/o/sub"))
    handler.on_any_event(DirDeletedEvent("/r/GONE"))
    assert not hints.take_folders()
    handler.on_any_event(DirMovedEvent("/tmp/staged", "/r/NEWSTATION"))
    assert hints.take_folders()
    handler.on_any_event(DirCreatedEvent("/r/NEWSTATION2"))
    assert hints.take_folders()
    assert hints.take() == (set(), False)


def test_reading_in_a_watched_folder_does_not_wake_the_observer(tmp_path: Path) -> None:
    """The daemon opens and reads its own folders constantly (verified folder descriptors,
    hashing claimed files): inotify is not asked for those events at all, so none reaches
    the handler (each used to wake the observer thread only to be dropped)."""
    (tmp_path / "a.edi").write_bytes(b"x")
    hints = Hints()
    w = Watcher(Observer.NATIVE, hints)
    seen: list[str] = []
    handle = w._handler.on_any_event

    def counting(event: FileSystemEvent) -> None:
        seen.append(event.event_type)
        handle(event)

    w._handler.on_any_event = counting  # type: ignore[method-assign]
    w.start([str(tmp_path)])
    try:
        for _ in range(20):
            (tmp_path / "a.edi").read_bytes()
        (tmp_path / "b.edi").write_bytes(b"y")  # a marker that does arrive
        assert wait_for(lambda: str(tmp_path / "b.edi") in hints.take()[0])
    finally:
        w.stop()
    assert "opened" not in seen and "closed_no_write" not in seen
