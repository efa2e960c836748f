"""The S3 backend as the registry's factory builds it from the configuration: the bucket and
keys of gateway.s3, outbound.s3_same_name as its same-name policy, and the secret key never in
what status and check show (only in what the log scrubber is told)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from as2sync.backends.base import UPLOAD_NAME, Hold, OutboundFile, OutboundMessage
from as2sync.backends.mftgateway_s3 import factory
from as2sync.backends.mftgateway_s3.settings import MftGatewayS3Settings, S3Settings
from as2sync.config.schema import OutboundConfig
from tests.s3.conftest import SECRET_KEY


def _config(s3_settings: S3Settings, **outbound: Any) -> Any:
    return SimpleNamespace(
        gateway=MftGatewayS3Settings(s3=s3_settings),
        routes=(),
        outbound=OutboundConfig.model_validate(outbound),
    )


def _message(tmp_path: Path) -> OutboundMessage:
    path = tmp_path / "orders.edi"
    path.write_bytes(b"x")
    return OutboundMessage("MYSTATION", "ACME", [OutboundFile(path, "orders.edi", "a/b", 1)])


def test_the_configured_same_name_policy_is_the_backends(
    s3_settings: S3Settings, tmp_path: Path
) -> None:
    used = {"orders.edi": 1000.0}
    held = factory.make_backend(_config(s3_settings, s3_same_name="hold"))
    suffixed = factory.make_backend(_config(s3_settings))
    try:
        assert isinstance(held.name_message(_message(tmp_path), used, 2000.0), Hold)
        named = suffixed.name_message(_message(tmp_path), used, 2000.0)
        assert not isinstance(named, Hold)
        assert named[UPLOAD_NAME] == "orders_19700101T003320Z.edi"
        assert named["key"] == "AS2/send/MYSTATION/ACME/orders_19700101T003320Z.edi"
        assert suffixed.online_problems([]) == []  # the bucket is readable with these keys
    finally:
        held.close()
        suffixed.close()


def test_the_secret_key_is_shown_nowhere_but_to_the_scrubber(s3_settings: S3Settings) -> None:
    config = _config(s3_settings)
    assert SECRET_KEY not in factory.address(config)
    assert SECRET_KEY not in factory.describe(config)
    assert s3_settings.bucket in factory.describe(config)
    assert factory.secrets(config) == [SECRET_KEY]
