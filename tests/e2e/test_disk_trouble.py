"""The local disk misbehaves under the real daemon: clear errors, nothing lost, full recovery.

* The inbox is made unwritable mid-run: received messages wait (nothing half-written visible;
  the batch download may have marked them read on the gateway, and the ledger remembers them),
  the log says "permission denied; check the folder's owner and mode", outbound carries on,
  and once the mode is fixed every attachment lands exactly once.
* sent/ is made unwritable mid-run: submitted files wait in processing (never resubmitted),
  the log says so, and once fixed they are archived; each was submitted exactly once.
* The state dir's disk is full (a 2 MiB tmpfs mounted on it, filled up): the log says the disk
  is full, nothing is lost or duplicated, and everything completes once space is freed.

Tests run as root, which ignores file permissions, so the daemon runs as ``nobody`` through
``setpriv`` (its folders are chowned to it); the disk-full case needs ``mount -t tmpfs``.
Where either is impossible (a container without CAP_SYS_ADMIN, no setpriv, the checkout not
readable by nobody) the test is skipped with the precise reason.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.folders.layout import WORK_DIR
from tests.e2e.harness import DaemonProcess, EmulatorProcess, wait_until, write_config
from tests.e2e.mixed import PAIRS, MixedLoad, emulator_args, wait_done

pytestmark = pytest.mark.e2e

SEED = 424242
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
PERMISSION_HINT = "permission denied; check the folder's owner and mode"
DISK_FULL_HINT = "the disk is full"


def _unprivileged_prefix() -> list[str]:
    """``setpriv`` as nobody when that can run this checkout's Python, else skip (why)."""
    if os.geteuid() != 0:
        return []  # permissions are enforced for us already
    if shutil.which("setpriv") is None:
        pytest.skip("running as root (permissions not enforced) and setpriv is not installed")
    probe = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import as2sync.daemon.service"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's Python: {probe.stderr.strip()[-300:]}")
    return NOBODY


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A work directory the unprivileged daemon can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="as2sync-disk-"))
    path.chmod(0o755)
    yield path
    if not os.environ.get("KEEP_DISK_TEST_DIR"):
        shutil.rmtree(path, ignore_errors=True)


def _give_to_nobody(*paths: Path) -> None:
    if os.geteuid() != 0:
        return
    for top in paths:
        for path in [top, *top.rglob("*")]:
            os.chown(path, 65534, 65534)


def _setup(
    directory: Path, prefix: list[str], **sections: dict[str, object]
) -> tuple[EmulatorProcess, DaemonProcess, MixedLoad]:
    emulator = EmulatorProcess(
        directory, *emulator_args(), "--no-rate-limit", "--delivery-delay", "0.1"
    )
    emulator.start()
    (directory / "state").mkdir()
    config_sections: dict[str, dict[str, object]] = {
        "gateway": {"rate_limit": {"requests": 100_000, "per_seconds": 1}},
        "outbound": {"settle_seconds": 0.05, "scan_seconds": 1, "track_seconds": 0.5},
        "inbound": {"poll_seconds": 0.2},
    }
    for name, values in sections.items():
        config_sections[name].update(values)
    config = write_config(directory, emulator.base_url, **config_sections)
    load = MixedLoad(directory / "root", emulator, random.Random(SEED))
    _give_to_nobody(directory / "root", directory / "state")
    return emulator, DaemonProcess(config, prefix=prefix), load


def _log_has(daemon: DaemonProcess, *needles: str) -> bool:
    return any(all(n in line for n in needles) for line in daemon.log_lines())


def test_unwritable_inbox_holds_messages_back_and_recovers_without_loss(
    shared_dir: Path,
) -> None:
    prefix = _unprivileged_prefix()
    emulator, daemon, load = _setup(shared_dir, prefix)
    inboxes = [load.root / s / p / "inbox" for s, p in PAIRS]
    try:
        daemon.start()
        load.seed(6)
        load.drop(6)
        wait_done(load, 30, f"seed {SEED}: before the trouble", daemon.output)
        stored_before = sum(len(list(i.iterdir())) for i in inboxes)
        for inbox in inboxes:
            inbox.chmod(0o500)  # r-x for its owner, nobody: no new entries
        load.seed(6)
        load.drop(6)  # outbound is not held up by the inbound trouble
        wait_until(load.all_sent, 30, what="files sent while the inbox is broken")
        wait_until(
            lambda: _log_has(daemon, "inbound.storage_error", PERMISSION_HINT),
            30,
            what="a clear storage error in the log",
        )
        # Nothing new (or half-written) appeared there. The messages may show read on the
        # gateway already (the batch marks them): the ledger keeps them FETCHING, which is
        # what the end state below proves.
        assert sum(len(list(i.iterdir())) for i in inboxes) == stored_before
        assert daemon.alive()

        for inbox in inboxes:
            inbox.chmod(0o755)
        wait_done(load, 40, f"seed {SEED}: after the fix", daemon.output)
        assert daemon.terminate() == 0
        problems = load.problems()
    finally:
        daemon.close()
        emulator.kill()
    assert not problems, f"seed {SEED}: {problems}\n{daemon.output()[-3000:]}"


def test_unwritable_sent_folder_keeps_files_in_processing_and_never_resubmits(
    shared_dir: Path,
) -> None:
    prefix = _unprivileged_prefix()
    emulator, daemon, load = _setup(shared_dir, prefix, inbound={"enabled": False})
    sent = load.root / "MYSTATION" / "ACME" / "sent"
    sent.mkdir()
    _give_to_nobody(sent)
    try:
        daemon.start()
        sent.chmod(0o500)
        load.drop(9)  # three of them for MYSTATION/ACME
        wait_until(
            lambda: _log_has(daemon, "outbound.storage_error", PERMISSION_HINT),
            30,
            what="a clear storage error in the log",
        )
        wait_until(
            lambda: len(emulator.submissions()) == 9, 30, what="all nine submitted meanwhile"
        )
        waiting = list((load.root / "MYSTATION" / "ACME" / WORK_DIR / "processing").iterdir())
        assert waiting and not list(sent.iterdir())
        assert daemon.alive()

        sent.chmod(0o755)
        wait_until(load.all_sent, 40, what="archived after the fix")
        assert daemon.terminate() == 0
        problems = load.problems()
    finally:
        daemon.close()
        emulator.kill()  # includes: each file submitted exactly once
    assert not problems, f"seed {SEED}: {problems}\n{daemon.output()[-3000:]}"


@pytest.fixture
def small_state_fs(shared_dir: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted on ``shared_dir/state``; skipped where mounting is not allowed."""
    state = shared_dir / "state"
    state.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {result.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(directory: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``directory`` up to ``leave`` free bytes."""
    filler = directory / "filler"
    with filler.open("ab") as fh:
        while True:
            st = os.statvfs(directory)
            free = st.f_bavail * st.f_frsize - leave
            if free <= 0:
                break
            try:
                fh.write(b"\0" * min(free, 1 << 16))
                fh.flush()
            except OSError:
                break
    return filler


def _disk_full_run(shared_dir: Path, state: Path) -> tuple[list[str], list[str]]:
    """Mixed work; the state dir's disk fills up, then is freed. Returns (the daemon's log
    lines while the disk was full, :meth:`MixedLoad.problems` at the end)."""
    emulator = EmulatorProcess(
        shared_dir, *emulator_args(), "--no-rate-limit", "--delivery-delay", "0.1"
    )
    emulator.start()
    config = write_config(
        shared_dir,
        emulator.base_url,
        state_dir=state,
        gateway={"rate_limit": {"requests": 100_000, "per_seconds": 1}},
        outbound={"settle_seconds": 0.05, "scan_seconds": 1, "track_seconds": 0.5},
        inbound={"poll_seconds": 0.2},
    )
    load = MixedLoad(shared_dir / "root", emulator, random.Random(SEED))
    daemon = DaemonProcess(config)  # as root: tmpfs enforces its size for root too
    try:
        daemon.start()
        load.seed(4)
        load.drop(4)
        wait_done(load, 30, f"seed {SEED}: before the trouble", daemon.output)
        before = len(daemon.log_lines())
        filler = _fill(state)
        load.seed(6, sizes=(5_000, 20_000))
        load.drop(6)
        wait_until(
            lambda: any("disk is full" in line for line in daemon.log_lines()),
            30,
            what="the full disk named in the log",
        )
        assert daemon.alive(), daemon.output()[-3000:]
        during = daemon.log_lines()[before:]
        filler.unlink()
        wait_done(load, 40, f"seed {SEED}: after freeing space", daemon.output)
        assert daemon.terminate() == 0
        return during, load.problems()
    finally:
        daemon.close()
        emulator.kill()


def test_full_state_disk_loses_nothing_and_everything_completes_once_space_is_freed(
    shared_dir: Path, small_state_fs: Path
) -> None:
    _during, problems = _disk_full_run(shared_dir, small_state_fs)
    assert not problems, f"seed {SEED}: {problems}"


def test_full_state_disk_is_reported_as_a_storage_problem_not_a_bug(
    shared_dir: Path, small_state_fs: Path
) -> None:
    during, _problems = _disk_full_run(shared_dir, small_state_fs)
    unexpected = [line for line in during if "unexpected_error" in line]
    assert not unexpected, unexpected[0][:600]
    assert any(DISK_FULL_HINT + "; free space" in line for line in during), during[-5:]
