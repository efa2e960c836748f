"""``certificates.warn_days``: its default and its bounds (a problem at its key path). That the
MFT factory hands it to the backend: tests/mft/test_certificate_expiry_daemon.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from as2sync.config import parse_config
from as2sync.errors import ConfigError
from tests.unit.test_config import minimal


def test_warn_days_defaults_to_30(tmp_path: Path) -> None:
    assert parse_config(minimal(tmp_path), {}).certificates.warn_days == 30


@pytest.mark.parametrize("value", [-1, 3651, "soon"])
def test_a_bad_warn_days_is_a_problem_at_its_key(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(tmp_path, certificates__warn_days=value), {})
    assert [p.path for p in info.value.problems] == ["certificates.warn_days"]


def test_warn_days_is_read(tmp_path: Path) -> None:
    config = parse_config(minimal(tmp_path, certificates__warn_days=60), {})
    assert config.certificates.warn_days == 60
