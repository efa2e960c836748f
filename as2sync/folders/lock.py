"""One as2sync per state_dir and per folder tree: exclusive ``flock`` locks.

* ``state_dir/as2sync.lock``: two processes driving one ledger could both submit a claimed
  file.
* ``<folders.root>/.as2sync.lock`` and ``<route>/.as2sync.lock``: two daemons with
  *different*
  state_dirs on the same folders would each claim and send the same files, each under its own
  ledger, so nothing in either ledger could notice.

:class:`InstanceLock` takes all of them (the state_dir first, so a second start on the same
state_dir keeps its familiar message) and is the one place that decides whether this process may
run; a later active/standby mode (a lease shared over NFS) changes this class and nothing else.

The kernel drops a lock when the process dies, however it dies, so a SIGKILLed daemon never
leaves a stale lock behind; what is written into the file (pid, host, state_dir) is for the
operator's message only, and the file is never removed (unlinking a lock file races with the
next locker). On NFS the Linux client emulates ``flock`` with POSIX byte-range locks, which hold
across hosts only where the mount supports locking (NFSv4, or NFSv3 with lockd; not ``nolock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from as2sync.config.schema import Config
from as2sync.errors import ConfigError, ConfigProblem, LockError

LOCK_FILE = "as2sync.lock"
FOLDER_LOCK_FILE = ".as2sync.lock"
_HOLDER_BYTES = 4096


def _open_lock_file(path: Path, key: str) -> int:
    """Open (or create) a lock file. The folder may be writable by users: a symlink planted
    under the lock's name is not followed and a FIFO does not block (O_NONBLOCK), both are
    refused. A folder that cannot hold the file is a configuration problem (exit 2)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(key, f"cannot open the lock file {path}: {exc.strerror}")]
        ) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError([ConfigProblem(key, f"the lock file {path} is not a regular file")])
    return fd


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, _HOLDER_BYTES, 0).decode(errors="replace").strip()
    return ""


def _take(fd: int, content: str) -> bool:
    """flock ``fd`` exclusively without waiting and write ``content``; False if held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, content.encode(), 0)
    return True


class _Held:
    """``with lock:`` takes it and always gives it back."""

    def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class StateLock(_Held):
    """The state_dir's lock alone (``as2sync send`` uses it to find out whether a daemon runs)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                [ConfigProblem("state_dir", f"cannot create {self.path.parent}: {exc.strerror}")]
            ) from exc
        fd = _open_lock_file(self.path, "state_dir")
        if not _take(fd, f"{os.getpid()}\n"):
            holder = _holder(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise LockError(
                f"another as2sync is already running on state_dir {self.path.parent}{who}; "
                "stop it first, or give this instance its own state_dir"
            )
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class InstanceLock(_Held):
    """Everything one running as2sync owns alone: its state_dir and its folder trees.

    ``folders`` are ``(config key, folder)`` pairs: folders.root and each route's folder. The
    same folder named twice (a route equal to the root) is locked once: two flocks on one file
    from one process would refuse each other.
    """

    def __init__(self, state_dir: Path, folders: Sequence[tuple[str, Path]]) -> None:
        self.state = StateLock(state_dir)
        self.folders: list[tuple[str, Path]] = []
        seen: set[str] = set()
        for key, folder in folders:
            real = os.path.realpath(folder)
            if real not in seen:
                seen.add(real)
                self.folders.append((key, folder))
        self._fds: list[int] = []

    @classmethod
    def for_config(cls, config: Config) -> InstanceLock:
        folders = [("folders.root", config.folders.root)]
        folders += [(f"routes[{i}].path", r.path) for i, r in enumerate(config.routes)]
        return cls(config.state_dir, folders)

    def acquire(self) -> None:
        """Raises LockError (exit 3) when another instance holds any of the locks, ConfigError
        (exit 2) when a lock file cannot be created; holds nothing after raising."""
        self.state.acquire()
        me = f"pid {os.getpid()} on {socket.gethostname()}, state_dir {self.state.path.parent}\n"
        try:
            for key, folder in self.folders:
                fd = _open_lock_file(folder / FOLDER_LOCK_FILE, key)
                if not _take(fd, me):
                    holder = _holder(fd) or "unknown"
                    os.close(fd)
                    raise LockError(
                        f"another as2sync ({holder}) is already using {key} {folder}; two "
                        "instances on one folder tree would send files twice: stop the other "
                        "one, or give each instance its own folders"
                    )
                self._fds.append(fd)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self.state.release()
