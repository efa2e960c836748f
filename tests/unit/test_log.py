"""Logs are structured, and secrets never reach them."""

from __future__ import annotations

import io
import json
import logging

import structlog

from as2sync import log as logsetup


def test_registered_secrets_are_masked_in_json_lines_and_exceptions() -> None:
    stream = io.StringIO()
    logsetup.configure("debug", "json", stream)
    logsetup.register_secret("hunter2-password")
    logsetup.register_secret("eyJtoken.value.sig")
    logger = structlog.get_logger("test")
    logger.info("gateway.login", detail="sent hunter2-password", password="plain", token="t")
    try:
        raise RuntimeError("boom with eyJtoken.value.sig inside")
    except RuntimeError:
        logger.exception("gateway.failed")
    logging.getLogger("httpx").warning("header Authorization: eyJtoken.value.sig")
    text = stream.getvalue()
    assert "hunter2-password" not in text
    assert "eyJtoken.value.sig" not in text
    first = json.loads(text.splitlines()[0])
    assert first["event"] == "gateway.login"
    assert first["password"] == "***"
    assert first["token"] == "***"
    assert "***" in first["detail"]


def test_stdlib_logging_goes_through_the_same_json_pipeline() -> None:
    stream = io.StringIO()
    logsetup.configure("info", "json", stream)
    logging.getLogger("some.library").warning("library says %s", "hi")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "library says hi"
    assert line["level"] == "warning"
    assert "timestamp" in line


def test_console_format_is_not_json() -> None:
    stream = io.StringIO()
    logsetup.configure("info", "console", stream)
    structlog.get_logger("t").info("outbound.sent", file="a.edi")
    out = stream.getvalue()
    assert "outbound.sent" in out
    assert not out.lstrip().startswith("{")
