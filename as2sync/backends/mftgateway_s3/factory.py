"""Build the S3 backend the configuration describes: the registry's entry points
(:class:`as2sync.backends.registry.Registration`) for ``gateway.api: mftgateway-s3``.

Not registered yet: ``backends.registry`` and the ``gateway`` union of ``config.schema`` take
:class:`MftGatewayS3Settings` in (until then no configuration selects it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from as2sync.backends.mftgateway_s3.backend import S3Backend
from as2sync.backends.mftgateway_s3.client import make_clients
from as2sync.backends.mftgateway_s3.names import SameName
from as2sync.backends.mftgateway_s3.settings import MftGatewayS3Settings

if TYPE_CHECKING:
    from as2sync.config.schema import Config

SETTLE_SECONDS = 5.0
"""A received message is fetched once its newest object is this old (attachments of one
message may appear object by object)."""


def settings_of(config: Config) -> MftGatewayS3Settings:
    gateway: object = config.gateway
    if not isinstance(gateway, MftGatewayS3Settings):  # the registry chose by gateway.api
        raise TypeError(f"gateway.api is {config.gateway.api!r}, not mftgateway-s3")
    return gateway


def configured_pairs(config: Config) -> Callable[[], Iterable[tuple[str, str]]]:
    """The pairs the configuration names (routes and per-partner options); the backend adds
    every pair the bucket has folders for."""
    named = {(r.station, r.partner) for r in config.routes} | {
        (p.station, p.partner) for p in config.outbound.partnerships
    }
    return lambda: named


def build(
    settings: MftGatewayS3Settings,
    *,
    same_name: SameName = SameName.SUFFIX,
    pairs: Callable[[], Iterable[tuple[str, str]]] = lambda: (),
) -> S3Backend:
    """The backend over one bucket's clients (no request is made here)."""
    return S3Backend(
        make_clients(settings.s3),
        same_name=same_name,
        pairs=pairs,
        settle_seconds=SETTLE_SECONDS,
        pickup_warn_seconds=settings.s3.pickup_warn_seconds,
    )


def make_backend(
    config: Config, *, observer: object = None, stop: threading.Event | None = None
) -> S3Backend:
    """The registry's factory (boto3 keeps its own connections: no observer, no stop)."""
    return build(
        settings_of(config),
        same_name=config.outbound.s3_same_name,
        pairs=configured_pairs(config),
    )


def address(config: Config) -> str:
    """The bucket, for ``as2sync status``."""
    s3 = settings_of(config).s3
    return f"s3://{s3.bucket}" + (f" at {s3.endpoint_url}" if s3.endpoint_url else "")


def describe(config: Config) -> str:
    """Where and as whom, for ``as2sync check`` (the key ID, never its secret)."""
    s3 = settings_of(config).s3
    who = f"access key {s3.access_key_id}" if s3.access_key_id else "the AWS credential chain"
    return f"{address(config)} ({s3.region}) with {who}"


def secrets(config: Config) -> list[str]:
    """What the log scrubber must never let through."""
    secret = settings_of(config).s3.secret_access_key
    return [secret.get_secret_value()] if secret is not None else []
