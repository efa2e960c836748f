"""The configuration model: every key, its type, default and description.

The model is the single source of the configuration reference: ``config.example.yaml`` and
the README's reference table are checked against it by the test suite, so they cannot drift.
Durations are seconds (fractions allowed), sizes are bytes.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from as2sync.backends.as2gateway.model import PartnerType
from as2sync.backends.as2gateway.settings import (
    API,
    As2GatewaySettings,
)
from as2sync.backends.as2gateway.settings import (
    MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES,  # re-exported: the v1 limit, named where it was
)
from as2sync.backends.mftgateway.settings import API as MFT_API
from as2sync.backends.mftgateway.settings import MftGatewaySettings
from as2sync.backends.mftgateway_s3.names import SameName
from as2sync.config.as2id import check_as2_id

Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
As2Id = Annotated[str, AfterValidator(check_as2_id)]  # also a folder name: see as2sync/as2id.py


class _Section(BaseModel):
    # Unknown keys are errors: a typo in a key must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


def api_of(section: object) -> str:
    """The ``api`` a gateway section names (``as2gateway`` when it names none, so that
    configurations written before there was a choice keep working unchanged)."""
    value = section.get("api", API) if isinstance(section, dict) else getattr(section, "api", API)
    return value if isinstance(value, str) else repr(value)


# The ``gateway`` section: one backend's settings, chosen by ``api``. A backend that is not
# listed here is refused by the loader with one problem at ``gateway.api`` (see
# as2sync.backends.registry); adding one is its section model here, tagged with its name.
GatewayConfig = Annotated[
    Union[  # noqa: UP007 - Annotated[X | Y, ...] reads worse once tagged
        Annotated[As2GatewaySettings, Tag(API)],
        Annotated[MftGatewaySettings, Tag(MFT_API)],
    ],
    Discriminator(api_of),
]


class FoldersConfig(_Section):
    root: Path = Field(..., description="<root>/<station>/<partner>/{outbox,inbox,sent,failed}.")


class Route(_Section):
    path: Path = Field(..., description="Folder holding outbox/inbox/sent/failed for this pair.")
    station: As2Id = Field(..., description="AS2 ID of the station.")
    partner: As2Id = Field(..., description="AS2 ID of the partner.")


class Observer(enum.StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    POLLING = "polling"


class InDoubt(enum.StrEnum):
    RECONCILE = "reconcile"
    HOLD = "hold"


class Partnership(_Section):
    station: As2Id = Field(..., description="AS2 ID of the station.")
    partner: As2Id = Field(..., description="AS2 ID of the partner.")
    subject: str | None = Field(None, description="Subject of messages sent to this partner.")
    partner_type: PartnerType = Field(PartnerType.PRODUCTION, description="production or test.")


DEFAULT_EXCLUDE = (".*", "*.tmp", "*.part", "*.partial", "*.filepart", "~*")


class OutboundConfig(_Section):
    enabled: bool = Field(True, description="Send files from outbox folders.")
    settle_seconds: Seconds = Field(
        2, description="A file must be unchanged this long (since first seen) before it is sent."
    )
    scan_seconds: PositiveSeconds = Field(60, description="Full rescan of all outboxes.")
    observer: Observer = Field(
        Observer.AUTO, description="auto, native (inotify) or polling (NFS/SMB shares)."
    )
    exclude: tuple[str, ...] = Field(DEFAULT_EXCLUDE, description="Name patterns never sent.")
    done_file_suffix: str | None = Field(
        None, description="If set (e.g. .done), a file is sent only once <name><suffix> exists."
    )
    max_in_flight: int = Field(2, ge=1, le=32, description="Concurrent submissions.")
    # The upper bounds of these two are the backend's (its Capabilities), checked by the loader.
    bundle_max_files: int = Field(
        1,
        ge=1,
        description="Files that arrive together go as one message (at most the API's limit: "
        "10 on as2gateway).",
    )
    max_file_bytes: int = Field(
        MAX_MESSAGE_BYTES,
        ge=1,
        description="Larger files go to failed/ (at most the API's limit: 10 MB on as2gateway).",
    )
    in_doubt: InDoubt = Field(
        InDoubt.RECONCILE, description="After an unknown outcome: reconcile or hold."
    )
    reconcile_grace_seconds: Seconds = Field(
        120,
        description="Least time after a submit of unknown outcome before a send that is not on "
        "the gateway is submitted again; the partner's sendTimeout x 1.5 if longer.",
    )
    duplicate_window: Seconds = Field(
        6 * 3600, description="Same content to the same partner within this window is refused."
    )
    s3_same_name: SameName = Field(
        SameName.SUFFIX,
        description="mftgateway-s3 (not available yet): a name uploaded to the partner within "
        "six hours is uploaded as <name>_<UTC time>.<ext> (suffix) or waits until it may be "
        "reused (hold).",
    )
    sent_dated_folders: bool = Field(False, description="Archive into sent/YYYY-MM-DD/.")
    track_seconds: PositiveSeconds = Field(30, description="How often delivery status is checked.")
    track_max_age_seconds: PositiveSeconds = Field(
        86400, description="Stop tracking a sent message with no final status after this long."
    )
    partnerships: tuple[Partnership, ...] = Field((), description="Per-partner send options.")


class Layout(enum.StrEnum):
    FLAT = "flat"
    MESSAGE_FOLDER = "message-folder"
    TIMESTAMP_PREFIX = "timestamp-prefix"


class InboundPartnerType(enum.StrEnum):
    PRODUCTION = "production"
    TEST = "test"
    BOTH = "both"


class OnRedelivery(enum.StrEnum):
    SKIP = "skip"
    STORE_AGAIN = "store-again"


class InboundConfig(_Section):
    enabled: bool = Field(True, description="Fetch received messages into inbox folders.")
    poll_seconds: PositiveSeconds = Field(30, description="How often the gateway is polled.")
    partner_type: InboundPartnerType = Field(
        InboundPartnerType.PRODUCTION, description="production, test or both."
    )
    layout: Layout = Field(Layout.FLAT, description="flat, message-folder or timestamp-prefix.")
    write_metadata: bool = Field(False, description="Write <message>.as2.json beside the files.")
    on_redelivery: OnRedelivery = Field(
        OnRedelivery.SKIP, description="A stored message that is unread again: skip or store-again."
    )
    delete_after_store: bool = Field(
        False, description="Delete messages on the gateway once stored."
    )
    batch_max_bytes: int = Field(
        MAX_MESSAGE_BYTES, ge=1, description="Plan batch downloads up to this many bytes."
    )
    max_name_length: int = Field(200, ge=16, le=255, description="Longest file name written.")


class LogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LogConfig(_Section):
    level: str = Field("info", description="debug, info, warning or error.")
    format: LogFormat = Field(LogFormat.AUTO, description="auto (console on a TTY), json, console.")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()


class MetricsConfig(_Section):
    listen: str | None = Field(None, description="host:port for Prometheus metrics, off if unset.")


class LedgerConfig(_Section):
    retention_days: PositiveSeconds = Field(
        90, description="Finished rows older than this are pruned (gateway keeps 70 days)."
    )


class HealthConfig(_Section):
    max_loop_age_seconds: PositiveSeconds = Field(
        300,
        description=(
            "Unhealthy if a loop is this far past its next pass or last activity, or has "
            "failed every pass this long (stuck or failing on a bug: no WATCHDOG=1)."
        ),
    )
    max_unreachable_seconds: PositiveSeconds = Field(
        900, description="Unhealthy if the gateway has not answered for this long."
    )


class CertificatesConfig(_Section):
    warn_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Warn (certificate.expiring) when an account certificate expires within "
        "this many days; an expired one makes health fail. Backends that show certificates "
        "only (mftgateway).",
    )


class Config(_Section):
    gateway: GatewayConfig
    state_dir: Path = Field(Path("/var/lib/as2sync"), description="Ledger and temporary files.")
    folders: FoldersConfig
    routes: tuple[Route, ...] = Field((), description="Extra folders mapped to a station/partner.")
    outbound: OutboundConfig = Field(default_factory=lambda: OutboundConfig())
    inbound: InboundConfig = Field(default_factory=lambda: InboundConfig())
    log: LogConfig = Field(default_factory=lambda: LogConfig())
    metrics: MetricsConfig = Field(default_factory=lambda: MetricsConfig())
    ledger: LedgerConfig = Field(default_factory=lambda: LedgerConfig())
    health: HealthConfig = Field(default_factory=lambda: HealthConfig())
    certificates: CertificatesConfig = Field(default_factory=lambda: CertificatesConfig())
    shutdown_timeout_seconds: PositiveSeconds = Field(
        8,
        description=(
            "On SIGTERM, how long requests already sent may take to finish before the "
            "process exits anyway (8 s: within Docker's default 10 s stop timeout)."
        ),
    )

    def password(self) -> str:
        """The resolved password (the loader guarantees one is set)."""
        assert self.gateway.password is not None
        return self.gateway.password.get_secret_value()

    def partnership(self, station: str, partner: str) -> Partnership:
        for p in self.outbound.partnerships:
            if p.station == station and p.partner == partner:
                return p
        # Not validated: a folder under the root may have any name; its options are the defaults.
        return Partnership.model_construct(station=station, partner=partner)
