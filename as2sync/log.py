"""Logging: structlog for everything, stdlib and httpx routed through the same pipeline.

Lines are JSON when stdout is not a TTY (journald, Docker, files) or with ``log.format: json``,
readable console lines on a TTY. Logs are data: event names are stable (``outbound.sent``) and
the keys ``station``, ``partner``, ``file`` and ``message_id`` are used consistently.

Secrets: every password and token the process handles is registered with
:func:`register_secret`; a processor replaces them wherever they appear in a log line,
including inside exception texts. Keys that name a secret are masked regardless of value.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from as2sync.daemon.metrics import metrics_processor

_SECRET_KEYS = frozenset({"password", "token", "authorization", "secret"})
_MASK = "***"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Make sure ``value`` never appears in a log line from now on."""
    if value and len(value) >= 4:  # shorter values would mask ordinary words
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret masked."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            k: (_MASK if str(k).lower() in _SECRET_KEYS else _redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret keys and registered secret values everywhere."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = _MASK
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger. Safe to call again (SIGHUP reload)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
            metrics_processor,
            redact_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, redact_processor],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx/httpcore log every request at INFO/DEBUG; our gateway client logs what matters.
    for noisy in ("httpx", "httpcore", "watchdog", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
