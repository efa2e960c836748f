"""The one place a backend is registered: ``gateway.api`` name -> settings, capabilities, factory.

Adding a backend is one new package under :mod:`as2sync.backends` and one entry in
:data:`BACKENDS` (plus its settings model in the ``gateway`` union of
:mod:`as2sync.config.schema`, which must stay a leaf of the import graph and so cannot read
this table). The daemon, the operator commands and the configuration check know backends
only through this module and :mod:`.base`; they never branch on which backend it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from as2sync.backends.as2gateway import factory as as2gateway
from as2sync.backends.as2gateway.capabilities import CAPABILITIES as AS2GATEWAY
from as2sync.backends.as2gateway.settings import As2GatewaySettings
from as2sync.backends.base import Backend, Capabilities
from as2sync.backends.mftgateway import factory as mftgateway
from as2sync.backends.mftgateway.capabilities import CAPABILITIES as MFTGATEWAY
from as2sync.backends.mftgateway.settings import MftGatewaySettings

if TYPE_CHECKING:
    from as2sync.config.schema import Config
    from as2sync.folders.layout import PartnerDirs

RequestObserver = Callable[[str, int | None, float], None]
"""Told of every HTTP request a backend made: (endpoint, status or None, seconds)."""


class DaemonBackend(Backend, Protocol):
    """A :class:`~.base.Backend` plus what the daemon and the operator commands ask of it."""

    def sendable_problems(self, station: str, partner: str) -> list[tuple[str, str]]:
        """Why files cannot be sent from ``station`` to ``partner`` now, as (``"station"`` or
        ``"partner"``, reason) pairs (``as2sync send`` refuses before creating anything);
        empty when they can. Raises AuthError/GatewayError if the server cannot be asked."""
        ...

    def online_problems(self, pairs: Sequence[PartnerDirs]) -> list[str]:
        """``as2sync check --online``: logs in and returns one line per problem of the folder
        pairs as the server sees them. Raises AuthError/GatewayError if it cannot ask."""
        ...

    def wake(self) -> None:
        """Once the stop event is set: end waits that do not watch it themselves."""
        ...

    def requests_in_use(self) -> int:
        """Requests counted against the client-side rate limit now (a metric; 0 if none)."""
        ...


class Factory(Protocol):
    def __call__(
        self,
        config: Config,
        *,
        observer: RequestObserver | None = None,
        stop: threading.Event | None = None,
    ) -> DaemonBackend: ...


@dataclass(frozen=True)
class Registration:
    settings: type[BaseModel]
    """The ``gateway`` section's model when ``gateway.api`` names this backend."""
    capabilities: Capabilities
    """What it offers; ``capabilities.name`` is its ``gateway.api`` value."""
    build: Factory
    """Builds it; ``stop`` is the daemon's stop event (no new request once it is set)."""
    address: Callable[[Config], str]
    """Where the server is, for ``as2sync status`` (never a secret)."""
    describe: Callable[[Config], str]
    """Where and as whom, for ``as2sync check`` (never a secret)."""
    secrets: Callable[[Config], list[str]]
    """What logs must never show (registered with the log scrubber)."""


BACKENDS: dict[str, Registration] = {
    "as2gateway": Registration(
        settings=As2GatewaySettings,
        capabilities=AS2GATEWAY,
        build=as2gateway.make_backend,
        address=as2gateway.address,
        describe=as2gateway.describe,
        secrets=as2gateway.secrets,
    ),
    "mftgateway": Registration(
        settings=MftGatewaySettings,
        capabilities=MFTGATEWAY,
        build=mftgateway.make_backend,
        address=mftgateway.address,
        describe=mftgateway.describe,
        secrets=mftgateway.secrets,
    ),
}
"""Every backend this version can drive, by ``gateway.api`` name (= its capabilities' name)."""

PLANNED = {"mftgateway-s3": "issue 14"}
"""APIs named by the design that this version cannot drive yet: refused by name."""


def unavailable(api: str) -> str:
    """The problem to report at ``gateway.api`` for a value no registered backend has."""
    if api in PLANNED:
        return f"{api!r} is not available in this version (coming: {PLANNED[api]})"
    return f"must be one of {', '.join(BACKENDS)} (got {api!r})"


def registration(config: Config) -> Registration:
    """The registration of the backend ``config`` selects (the loader guarantees one)."""
    return BACKENDS[config.gateway.api]


def make_backend(
    config: Config,
    *,
    observer: RequestObserver | None = None,
    stop: threading.Event | None = None,
) -> DaemonBackend:
    """The backend ``gateway.api`` selects, built from ``config``; the caller closes it."""
    return registration(config).build(config, observer=observer, stop=stop)
