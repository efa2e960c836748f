"""The registry's entry points for gateway.api mftgateway (backends/mftgateway/factory.py), on a
configuration whose gateway section is the MFT one: the backend it builds logs in to the MFT
emulator with the configured account; status, check and the log scrubber get no secret but
the password to hide."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from as2sync.backends.mftgateway import factory
from as2sync.backends.mftgateway.settings import MftGatewaySettings
from as2sync.backends.registry import registration
from as2sync.cli import main
from as2sync.config import parse_config
from as2sync.config.schema import Config, FoldersConfig
from tests.mft.conftest import PASSWORD, USER, MakeMft


def config_for(url: str, tmp_path: Path) -> Config:
    gateway = MftGatewaySettings(url=url, username=USER, password=SecretStr(PASSWORD))
    return Config.model_construct(gateway=gateway, folders=FoldersConfig(root=tmp_path))  # type: ignore[arg-type]


def test_the_factory_builds_a_working_backend(make_mft: MakeMft, tmp_path: Path) -> None:
    emu = make_mft()
    config = config_for(emu.base_url, tmp_path)
    backend = factory.make_backend(config)
    try:
        assert backend.online_problems([]) == []
        assert backend.capabilities.name == "mftgateway"
    finally:
        backend.close()
    assert factory.address(config) == emu.base_url
    assert factory.describe(config).startswith(f"MFT Gateway REST API at {emu.base_url} as {USER}")
    assert factory.secrets(config) == [PASSWORD]


def test_another_api_is_refused(tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "gateway": {"url": "https://api.example.com/v1", "username": USER, "password": "x"},
            "folders": {"root": str(tmp_path)},
        }
    )
    with pytest.raises(TypeError, match="not mftgateway"):
        factory.address(config)


def mft_config_file(tmp_path: Path, url: str | None) -> Path:
    gateway: dict[str, object] = {"api": "mftgateway", "username": USER, "password": PASSWORD}
    if url is not None:
        gateway["url"] = url
    root = tmp_path / "root"
    (root / "MYSTATION" / "ACME" / "outbox").mkdir(parents=True)
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "gateway": gateway,
                "state_dir": str(tmp_path / "state"),
                "folders": {"root": str(root)},
            }
        )
    )
    return path


def test_gateway_api_mftgateway_is_a_registered_backend(tmp_path: Path) -> None:
    config = parse_config(yaml.safe_load(mft_config_file(tmp_path, None).read_text()), {})
    assert isinstance(config.gateway, MftGatewaySettings)
    assert config.gateway.url == "https://api.mftgateway.com"
    assert registration(config).capabilities.name == "mftgateway"


def test_check_online_against_the_mft_emulator(
    make_mft: MakeMft, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = make_mft()
    path = mft_config_file(tmp_path, emu.base_url)
    assert main(["check", "-c", str(path)]) == 0
    assert main(["check", "--online", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "no list of stations or partners" in out + err
    assert "Traceback" not in out + err
