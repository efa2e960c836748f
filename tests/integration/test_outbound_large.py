"""A 10,000-file outbox: discovered and queued in one listing (no per-file ledger work), with
bounded memory, oldest first.

Sending all 10,000 would only measure the emulator; the test checks discovery and queueing in
full and then that sending starts with the oldest files.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from as2sync.emulator.server import RunningEmulator
from tests.integration.outbound_support import Rig

FILES = 10_000


def test_ten_thousand_waiting_files_are_queued_quickly_and_sent_oldest_first(
    tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, emulator, {"settle_seconds": 0, "max_in_flight": 4})
    try:
        outbox = rig.dirs().outbox
        base_ns = 1_600_000_000 * 10**9
        for i in range(FILES):
            # Names run against age, so "oldest first" cannot pass by sorting names.
            path = outbox / f"f{FILES - i:05}.xml"
            path.write_bytes(b"<n>%d</n>" % i)
            os.utime(path, ns=(base_ns + i * 10**6, base_ns + i * 10**6))

        # What makes discovery quick is its shape, counted here rather than timed (a timing
        # flakes on a busy machine): files are queued from the listing in memory, with no
        # ledger session per file.
        sessions = 0
        ledger = rig.engine.ctx.ledger

        def counted(open_session: Callable[[], Any]) -> Callable[[], Any]:
            def opened() -> Any:
                nonlocal sessions
                sessions += 1
                return open_session()

            return opened

        monkeypatch.setattr(ledger, "read", counted(ledger.read))
        monkeypatch.setattr(ledger, "transaction", counted(ledger.transaction))
        tracemalloc.start()
        rig.engine.start()
        stats = rig.engine.stats()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        monkeypatch.undo()

        assert stats.backlog == FILES
        assert sessions < 20, f"{sessions} ledger sessions to queue {FILES} files"
        # One small record per waiting file; nothing per file beyond that (no threads, no
        # buffers): well under 1 KB per file including the scan's transient listing.
        assert peak < FILES * 1024, f"peak {peak / 1e6:.1f} MB while queueing"
        assert threading.active_count() < 20

        def stop_after_some_sends() -> None:
            deadline = time.monotonic() + 30
            while len(rig.submissions()) < 40 and time.monotonic() < deadline:
                time.sleep(0.02)
            rig.stop_event.set()  # in-flight sends finish; nothing new starts

        watcher = threading.Thread(target=stop_after_some_sends)
        watcher.start()
        while not rig.stop_event.is_set():
            rig.step()
        watcher.join()
        sent_first = {s.attachments[0][0] for s in rig.submissions()}
        oldest = {f"f{FILES - i:05}.xml" for i in range(len(sent_first) + 8)}
        assert sent_first <= oldest  # max_in_flight may reorder neighbours, never skip ahead
        assert rig.engine.stats().backlog == FILES - len(sent_first)
        assert rig.emu.state.duplicate_submissions() == 0
    finally:
        rig.close()
