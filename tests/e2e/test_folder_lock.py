"""One as2sync per folder tree: a second daemon with its own state_dir on the same folders.root
is refused (it would send every file a second time under its own ledger)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from as2sync.emulator.server import running_emulator
from as2sync.emulator.settings import EmulatorSettings, PartnerSpec
from tests.e2e.harness import PASSWORD, USER, DaemonProcess, as2sync, write_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def emu() -> Iterator[object]:
    settings = EmulatorSettings(
        user=USER, password=PASSWORD, stations=["MYSTATION"], partners=[PartnerSpec("ACME")]
    )
    with running_emulator(settings) as running:
        yield running


def test_a_second_daemon_with_its_own_state_dir_on_the_same_root_exits_3(
    tmp_path: Path, emu: object
) -> None:
    url = emu.base_url  # type: ignore[attr-defined]
    root = tmp_path / "root"
    (root / "MYSTATION" / "ACME" / "outbox").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first_config = write_config(tmp_path / "a", url, root=root, state_dir=tmp_path / "state-a")
    second_config = write_config(tmp_path / "b", url, root=root, state_dir=tmp_path / "state-b")
    first = DaemonProcess(first_config)
    try:
        first.start()
        for args in (("run",), ("run", "--once")):
            second = as2sync(*args, "-c", str(second_config))
            assert second.returncode == 3, second.stderr
            assert "already using folders.root" in second.stderr
            assert f"state_dir {tmp_path / 'state-a'}" in second.stderr  # who holds it
        assert first.alive()
        assert first.terminate() == 0
        # Once the first has stopped, the folders are free for another instance.
        assert as2sync("run", "--once", "-c", str(second_config)).returncode == 0
    finally:
        first.close()
