"""Optional Prometheus metrics (``metrics.listen: 127.0.0.1:9108``).

Logs are data: most counters are derived from the structured log events the engines already
emit (``outbound.sent`` counts a sent file), through a structlog processor, so no engine needs
to know about metrics. Gateway requests are counted from the client's request observer.
prometheus_client is an optional extra: without it, or without ``metrics.listen``, every call
here is a no-op.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from as2sync.backends.base import Certificate

from as2sync.errors import ConfigError, ConfigProblem

log = structlog.get_logger(__name__)

# event name -> (counter name, help)
_EVENT_COUNTERS = {
    "outbound.sent": ("as2sync_files_sent_total", "Outbound files submitted and archived"),
    "outbound.failed": ("as2sync_files_failed_total", "Outbound files moved to failed/"),
    "outbound.in_doubt": ("as2sync_submissions_in_doubt_total", "Submissions with unknown outcome"),
    "inbound.stored": ("as2sync_messages_received_total", "Received messages stored in inboxes"),
    "gateway.retry": ("as2sync_gateway_retries_total", "Gateway requests retried"),
}


class Metrics:
    def __init__(self, listen: str | None) -> None:
        self.listen = listen
        self.enabled = False
        self._server: Any = None
        self._counters: dict[str, Any] = {}

    def start(self) -> None:
        if not self.listen:
            return
        try:
            import prometheus_client as prom
        except ImportError:
            log.warning("metrics.unavailable", hint="pip install 'as2sync[metrics]'")
            return
        registry = prom.CollectorRegistry()
        self._requests = prom.Counter(
            "as2sync_gateway_requests_total",
            "Gateway requests by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=registry,
        )
        self._rate_limited = prom.Counter(
            "as2sync_gateway_rate_limited_total", "Responses with HTTP 429", registry=registry
        )
        self._latency = prom.Histogram(
            "as2sync_gateway_request_seconds",
            "Gateway request duration",
            ["endpoint"],
            registry=registry,
        )
        self._backlog = prom.Gauge(
            "as2sync_outbound_backlog", "Files waiting to be sent", registry=registry
        )
        self._last_success = prom.Gauge(
            "as2sync_last_success_timestamp_seconds",
            "Last successful action",
            ["action"],
            registry=registry,
        )
        self._budget = prom.Gauge(
            "as2sync_rate_limit_in_use",
            "Requests counted in the client's current rate-limit window",
            registry=registry,
        )
        self._cert_days = prom.Gauge(
            "as2sync_certificate_days_left",
            "Whole days until the account certificate expires (negative once expired)",
            ["alias", "type"],
            registry=registry,
        )
        self._bytes = prom.Counter(
            "as2sync_bytes_total", "Bytes sent and received", ["direction"], registry=registry
        )
        for event, (name, help_text) in _EVENT_COUNTERS.items():
            self._counters[event] = prom.Counter(
                name, help_text, ["station", "partner"], registry=registry
            )
        host, _, port = self.listen.rpartition(":")
        try:
            self._server, _thread = prom.start_http_server(int(port), addr=host, registry=registry)
        except OSError as exc:
            # A port in use or a host that is not ours: a configuration problem (exit 2, which
            # systemd does not restart in a loop), not a crash.
            raise ConfigError(
                [ConfigProblem("metrics.listen", f"cannot listen on {self.listen}: {exc.strerror}")]
            ) from None
        self.enabled = True
        _active.append(self)
        log.info("metrics.listening", listen=self.listen)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self in _active:
            _active.remove(self)
        self.enabled = False

    def request(self, endpoint: str, status: int | None, seconds: float) -> None:
        if not self.enabled:
            return
        self._requests.labels(endpoint, str(status) if status else "none").inc()
        self._latency.labels(endpoint).observe(seconds)
        if status == 429:
            self._rate_limited.inc()

    def backlog(self, value: int) -> None:
        if self.enabled:
            self._backlog.set(value)

    def rate_limit_in_use(self, value: int) -> None:
        if self.enabled:
            self._budget.set(value)

    def certificates(self, certificates: list[Certificate], now: float) -> None:
        """The gauge shows exactly the certificates of the last reading (a removed one goes)."""
        if not self.enabled:
            return
        self._cert_days.clear()
        for cert in certificates:
            days = cert.days_left(now)
            if days is not None:
                self._cert_days.labels(cert.alias, cert.type).set(days)

    def event(self, event: str, fields: MutableMapping[str, Any]) -> None:
        counter = self._counters.get(event)
        if counter is not None:
            counter.labels(str(fields.get("station", "")), str(fields.get("partner", ""))).inc()
        if event in ("outbound.sent", "inbound.stored"):
            self._last_success.labels(event).set(time.time())
            size = fields.get("size")
            if isinstance(size, int):
                self._bytes.labels("out" if event.startswith("outbound") else "in").inc(size)


_active: list[Metrics] = []


def metrics_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor feeding log events into the active metrics, if any."""
    for metrics in _active:
        metrics.event(str(event_dict.get("event", "")), event_dict)
    return event_dict
