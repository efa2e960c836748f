"""The ``gateway`` section of the configuration when ``gateway.api`` is ``mftgateway-s3``
(issue 14's configuration contract)::

    gateway:
      api: mftgateway-s3
      s3:
        bucket: mftg-yourtenant
        region: us-east-1
        endpoint_url: null                   # an S3-compatible endpoint; AWS when null
        access_key_id: ${AWS_ACCESS_KEY_ID}  # optional: else the standard AWS credential chain
        secret_access_key: ${AWS_SECRET_ACCESS_KEY}

A leaf module (pydantic only), like every backend's settings: the configuration model
imports it. Not registered yet (``as2sync.backends.registry`` / ``config.schema`` do that).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from as2sync.backends.sections import PositiveSeconds, Section

API = "mftgateway-s3"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class S3Settings(Section):
    bucket: str = Field(
        ..., min_length=3, max_length=63, description="The tenant's bucket (mftg-<tenant>)."
    )
    region: str = Field("us-east-1", min_length=1, description="The bucket's AWS region.")
    endpoint_url: str | None = Field(
        None,
        description="An S3-compatible endpoint (the emulator, tests); AWS when null. "
        "http:// only for loopback hosts.",
    )
    access_key_id: str | None = Field(
        None,
        min_length=1,
        description="Access key from the S3 Integration page; null: the standard AWS "
        "credential chain (environment, shared files, instance role).",
    )
    secret_access_key: SecretStr | None = Field(
        None, description="Its secret; ${VAR} takes it from the environment. Never shown."
    )
    connect_timeout_seconds: PositiveSeconds = Field(
        10, description="Timeout of opening a connection to S3."
    )
    read_timeout_seconds: PositiveSeconds = Field(
        60, description="Timeout of waiting for S3's answer (per socket read)."
    )
    read_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="Attempts of a request that changes nothing (list, head, get) when S3 "
        "fails transiently. Uploads are never repeated by the SDK: an upload whose answer is "
        "lost is looked up by its key before anything is uploaded again.",
    )
    pickup_warn_seconds: PositiveSeconds = Field(
        900,
        description="An upload still in AS2/send/ this long after it was made is reported "
        "(the gateway did not pick it up: e.g. an unknown station/partner pair).",
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s):// URL")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("http:// only for loopback hosts (the keys would travel in clear)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _key_pair(self) -> S3Settings:
        # Half a key pair would silently fall back to whatever the credential chain finds.
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither")
        return self


class MftGatewayS3Settings(Section):
    api: Literal["mftgateway-s3"] = Field(
        "mftgateway-s3",
        description="The gateway's API: mftgateway-s3 (MFT Gateway through its S3 bucket).",
    )
    s3: S3Settings = Field(..., description="The tenant's bucket and how to reach it.")
