"""One daemon per state_dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from as2sync.errors import LockError
from as2sync.lock import StateLock


def test_second_lock_on_same_state_dir_is_refused_with_the_holder_pid(tmp_path: Path) -> None:
    with StateLock(tmp_path), pytest.raises(LockError) as info:
        StateLock(tmp_path).acquire()
    assert "already running" in str(info.value)
    assert "pid" in str(info.value)


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    with StateLock(tmp_path):
        pass
    with StateLock(tmp_path):
        pass


def test_lock_of_a_killed_process_is_released_by_the_kernel(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys; from pathlib import Path; from as2sync.lock import StateLock; "
        f"StateLock(Path({str(tmp_path)!r})).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    with StateLock(tmp_path):
        pass
