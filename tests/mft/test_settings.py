"""The ``gateway`` section for ``api: mftgateway`` and what the backend declares it can do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from as2sync.backends.base import Lookup
from as2sync.backends.mftgateway.capabilities import CAPABILITIES
from as2sync.backends.mftgateway.settings import DEFAULT_URL, MftGatewaySettings


def test_the_issues_configuration_contract() -> None:
    settings = MftGatewaySettings.model_validate(
        {"api": "mftgateway", "username": "you@example.com", "password": "pw"}
    )
    assert settings.url == DEFAULT_URL == "https://api.mftgateway.com"
    assert (settings.rate_limit.requests, settings.rate_limit.per_seconds) == (50, 10)
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    "section",
    [
        {"api": "as2gateway", "username": "u"},
        {"api": "mftgateway"},
        {"api": "mftgateway", "username": "u", "partner_type": "test"},
    ],
)
def test_refused_sections(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MftGatewaySettings.model_validate(section)


def test_capabilities() -> None:
    assert CAPABILITIES.name == "mftgateway"
    assert CAPABILITIES.lookup is Lookup.BY_ID
    assert not CAPABILITIES.partner_types and not CAPABILITIES.idempotent_submit
    assert CAPABILITIES.read_flag and CAPABILITIES.deletes and CAPABILITIES.tracks_delivery
