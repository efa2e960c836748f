"""The ``gateway`` section for ``api: mftgateway-s3`` and what the backend declares it can do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from as2sync.backends.base import Lookup
from as2sync.backends.mftgateway_s3.capabilities import CAPABILITIES
from as2sync.backends.mftgateway_s3.settings import MftGatewayS3Settings

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def test_the_issues_configuration_contract() -> None:
    settings = MftGatewayS3Settings.model_validate(
        {
            "api": "mftgateway-s3",
            "s3": {
                "bucket": "mftg-yourtenant",
                "region": "us-east-1",
                "endpoint_url": None,
                "access_key_id": "AKIAEXAMPLE",
                "secret_access_key": SECRET,
            },
        }
    )
    assert settings.s3.bucket == "mftg-yourtenant"
    assert settings.s3.endpoint_url is None
    assert settings.s3.secret_access_key is not None
    assert settings.s3.secret_access_key.get_secret_value() == SECRET
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in shown


def test_the_credential_chain_when_no_keys_are_given() -> None:
    settings = MftGatewayS3Settings.model_validate({"s3": {"bucket": "mftg-t"}})
    assert settings.s3.access_key_id is None and settings.s3.secret_access_key is None
    assert settings.s3.region == "us-east-1"


@pytest.mark.parametrize(
    "s3",
    [
        {"bucket": "mftg-t", "access_key_id": "AKIA"},  # half a pair
        {"bucket": "mftg-t", "secret_access_key": SECRET},
        {"bucket": "mftg-t", "endpoint_url": "http://s3.example.com"},  # keys in clear
        {"bucket": "mftg-t", "endpoint_url": "ftp://127.0.0.1"},
        {"bucket": "mftg-t", "username": "u"},  # no username/password for this backend
        {},
    ],
)
def test_refused_sections(s3: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as refused:
        MftGatewayS3Settings.model_validate({"api": "mftgateway-s3", "s3": s3})
    assert SECRET not in str(refused.value)


def test_loopback_http_is_allowed_for_the_emulator() -> None:
    settings = MftGatewayS3Settings.model_validate(
        {"s3": {"bucket": "mftg-t", "endpoint_url": "http://127.0.0.1:9000/"}}
    )
    assert settings.s3.endpoint_url == "http://127.0.0.1:9000"


def test_capabilities() -> None:
    assert CAPABILITIES.name == "mftgateway-s3"
    assert CAPABILITIES.lookup is Lookup.BY_KEY
    assert not CAPABILITIES.read_flag and not CAPABILITIES.idempotent_submit
    assert CAPABILITIES.tracks_delivery and CAPABILITIES.deletes
