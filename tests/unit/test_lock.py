"""One daemon per state_dir and per folder tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from as2sync.config.schema import Config
from as2sync.errors import ConfigError, LockError
from as2sync.folders.lock import FOLDER_LOCK_FILE, InstanceLock, StateLock


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
        "import os, signal, sys; from pathlib import Path; "
        "from as2sync.folders.lock import StateLock; "
        f"StateLock(Path({str(tmp_path)!r})).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    with StateLock(tmp_path):
        pass


# -- the folder tree: one instance per folders.root and per route folder -----------------------


def folders_config(tmp_path: Path, state: str, routes: list[Path] | None = None) -> Config:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return Config.model_validate(
        {
            "gateway": {"url": "http://127.0.0.1:9/v1", "username": "u", "password": "p"},
            "state_dir": str(tmp_path / state),
            "folders": {"root": str(root)},
            "routes": [
                {"path": str(r), "station": "ST", "partner": f"P{i}"}
                for i, r in enumerate(routes or [])
            ],
        }
    )


def test_second_instance_on_the_same_folders_root_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    first = folders_config(tmp_path, "state-a")
    second = folders_config(tmp_path, "state-b")
    with InstanceLock.for_config(first), pytest.raises(LockError) as info:
        InstanceLock.for_config(second).acquire()
    message = str(info.value)
    assert "folders.root" in message and str(first.folders.root) in message
    assert f"pid {os.getpid()}" in message and str(first.state_dir) in message
    # Refused means holding nothing: its own state_dir is free for the next try.
    with StateLock(second.state_dir):
        pass


def test_a_route_folder_is_locked_too(tmp_path: Path) -> None:
    route = tmp_path / "elsewhere"
    route.mkdir()
    first = folders_config(tmp_path, "state-a", routes=[route])
    other_root = tmp_path / "other"
    other_root.mkdir()
    second = folders_config(tmp_path, "state-b", routes=[route]).model_copy(
        update={"folders": first.folders.model_copy(update={"root": other_root})}
    )
    with InstanceLock.for_config(first), pytest.raises(LockError) as info:
        InstanceLock.for_config(second).acquire()
    assert "routes[0].path" in str(info.value)


def test_the_same_folder_named_twice_is_locked_once(tmp_path: Path) -> None:
    config = folders_config(tmp_path, "state", routes=[tmp_path / "root"])
    with InstanceLock.for_config(config):
        pass


def test_folder_locks_are_free_again_after_release(tmp_path: Path) -> None:
    with InstanceLock.for_config(folders_config(tmp_path, "state-a")):
        pass
    with InstanceLock.for_config(folders_config(tmp_path, "state-b")):
        pass


def test_a_symlink_planted_as_the_folder_lock_is_not_followed(tmp_path: Path) -> None:
    config = folders_config(tmp_path, "state")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (config.folders.root / FOLDER_LOCK_FILE).symlink_to(victim)
    with pytest.raises(ConfigError) as info:
        InstanceLock.for_config(config).acquire()
    assert "folders.root" in str(info.value)
    assert victim.read_text() == "precious\n"
    with StateLock(config.state_dir):  # nothing is held after the refusal
        pass


def test_status_reads_while_a_daemon_holds_every_lock(tmp_path: Path) -> None:
    from as2sync.ledger.db import open_ledger
    from as2sync.ops.status import collect_status

    config = folders_config(tmp_path, "state")
    with InstanceLock.for_config(config):
        open_ledger(config.state_dir).close()  # as the daemon does once it holds the locks
        report = collect_status(config)
    assert report["daemon"]["running"] is False
