"""``gateway.api`` selects the backend; options are checked against its capabilities."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pytest
import yaml
from pydantic import BaseModel, Discriminator, Field, Tag

from as2sync.backends.as2gateway.capabilities import CAPABILITIES as V1
from as2sync.backends.as2gateway.settings import As2GatewaySettings
from as2sync.cli import main
from as2sync.config import parse_config
from as2sync.config.capabilities import capability_problems
from as2sync.config.reference import _rows
from as2sync.config.schema import api_of
from as2sync.errors import ConfigError
from tests.unit.test_config import minimal, problems

SECRET = "s3cret-pw"  # the password minimal() writes


def test_a_config_without_api_is_an_as2gateway_one(tmp_path: Path) -> None:
    config = parse_config(minimal(tmp_path), {})
    assert isinstance(config.gateway, As2GatewaySettings)
    assert config.gateway.api == "as2gateway"


def test_api_as2gateway_may_be_written(tmp_path: Path) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["api"] = "as2gateway"
    assert parse_config(raw, {}).gateway.api == "as2gateway"


@pytest.mark.parametrize(("api", "issue"), [("mftgateway-s3", "14")])
def test_a_future_api_is_one_clear_problem_at_its_key(tmp_path: Path, api: str, issue: str) -> None:
    raw = minimal(tmp_path)
    # Keys such an API might have are not reported one by one: the api says it all.
    raw["gateway"].update(api=api, bucket="invoices", region="eu-west-1")
    with pytest.raises(ConfigError) as info:
        parse_config(raw, {})
    found = {p.path: p.message for p in info.value.problems}
    assert found == {
        "gateway.api": f"{api!r} is not available in this version (coming: issue {issue})"
    }
    assert SECRET not in str(info.value)


def test_an_unknown_api_names_the_choices(tmp_path: Path) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["api"] = "ftp"
    assert problems(raw) == {"gateway.api": "must be one of as2gateway, mftgateway (got 'ftp')"}


def test_other_sections_are_still_checked_beside_an_unavailable_api(tmp_path: Path) -> None:
    raw = minimal(tmp_path, inbound={"layout": "zigzag"})
    raw["gateway"]["api"] = "mftgateway-s3"
    assert set(problems(raw)) == {"gateway.api", "inbound.layout"}


def test_check_refuses_a_future_api_with_exit_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = minimal(tmp_path)
    raw["gateway"]["api"] = "mftgateway-s3"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["check", "-c", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "gateway.api: 'mftgateway-s3' is not available in this version (coming: issue 14)" in err
    assert "Traceback" not in out + err
    assert SECRET not in out + err


def test_bundle_and_file_size_are_bounded_by_the_api(tmp_path: Path) -> None:
    raw = minimal(tmp_path, outbound={"bundle_max_files": 11, "max_file_bytes": 10485761})
    found = problems(raw)
    assert found["outbound.bundle_max_files"] == (
        "at most 10 files per message with gateway.api 'as2gateway' (got 11)"
    )
    assert found["outbound.max_file_bytes"] == (
        "at most 10485760 bytes per message with gateway.api 'as2gateway' (got 10485761)"
    )
    ok = minimal(tmp_path, outbound={"bundle_max_files": 10, "max_file_bytes": 10485760})
    assert parse_config(ok, {}).outbound.bundle_max_files == 10


def _config(tmp_path: Path, **overrides: Any) -> Any:
    return parse_config(minimal(tmp_path, **overrides), {})


LIMITED = dataclasses.replace(V1, name="limited", deletes=False, partner_types=False)


def test_every_v1_option_fits_the_v1_capabilities(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        inbound={"delete_after_store": True, "partner_type": "both"},
        outbound={"partnerships": [{"station": "S", "partner": "P", "partner_type": "test"}]},
    )
    assert capability_problems(config, V1) == []


def test_delete_after_store_needs_an_api_that_deletes(tmp_path: Path) -> None:
    config = _config(tmp_path, inbound={"delete_after_store": True})
    assert {p.path: p.message for p in capability_problems(config, LIMITED)} == {
        "inbound.delete_after_store": "gateway.api 'limited' cannot delete received messages"
    }
    assert capability_problems(_config(tmp_path), LIMITED) == []


def test_partner_types_are_refused_only_where_written(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        inbound={"partner_type": "production"},
        outbound={
            "partnerships": [
                {"station": "S", "partner": "P", "subject": "x"},
                {"station": "S", "partner": "Q", "partner_type": "production"},
            ]
        },
    )
    found = {p.path for p in capability_problems(config, LIMITED)}
    assert found == {"inbound.partner_type", "outbound.partnerships[1].partner_type"}


def test_the_reference_lists_each_apis_keys_once_the_section_is_a_union() -> None:
    class Other(BaseModel):
        api: Literal["other"] = "other"
        bucket: str = Field(..., description="Where uploads go.")

    gateway = Annotated[
        Union[  # noqa: UP007 - as the schema writes it
            Annotated[As2GatewaySettings, Tag("as2gateway")], Annotated[Other, Tag("other")]
        ],
        Discriminator(api_of),
    ]

    class Model(BaseModel):
        gateway: gateway  # type: ignore[valid-type]

    rows = _rows(Model)
    assert [r for r in rows if r.startswith("| `gateway.api` |")] == [rows[0]]
    assert "| `gateway.bucket` | required | (api: other) Where uploads go. |" in rows
    assert any(r.startswith("| `gateway.url` |") and "(api: as2gateway)" in r for r in rows)
