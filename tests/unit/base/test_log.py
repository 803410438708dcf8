"""Tests for watchdog.base.log: rendered lines never carry secrets; the logging configuration."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from watchdog.base.log import configure_logging, get_logger, reset_logging
from watchdog.base.redact import MASK, Redactor

API_KEY = "k3y-Qw9zX7vB2nM4pL8r"
PASSWORD = "hunter2-Pa55word"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()
    structlog.contextvars.clear_contextvars()


def _json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- rendered output -------------------------------------------------------------------------


def _log_secrets(redactor: Redactor) -> None:
    log = get_logger("watchdog.test")
    log.info("poll_started", target="prod", api_key=API_KEY, url=f"https://u:{PASSWORD}@h/")
    log.warning(f"rejected Apikey {API_KEY}", headers={"Authorization": f"Apikey {API_KEY}"})
    try:
        raise ConnectionError(f"refused with key {API_KEY}")
    except ConnectionError:
        log.exception("poll_failed", target="prod")
    logging.getLogger("httpx").warning("request headers: Authorization: Bearer %s", JWT)
    try:
        raise ValueError(PASSWORD)
    except ValueError:
        logging.getLogger("uvicorn.error").exception("app crashed with %s", API_KEY)


def test_json_output_never_contains_secrets() -> None:
    """JSON lines from structlog and stdlib loggers parse, carry stable keys and hold no secret."""
    buf = io.StringIO()
    redactor = configure_logging(fmt="json", stream=buf)
    redactor.add(API_KEY)
    redactor.add(PASSWORD)
    _log_secrets(redactor)
    raw = buf.getvalue()
    for secret in (API_KEY, PASSWORD, JWT):
        assert secret not in raw
    lines = _json_lines(buf)
    assert len(lines) == 5
    for line in lines:
        assert {"event", "level", "timestamp", "logger"} <= line.keys()
        assert line["timestamp"].endswith("Z")
    assert lines[2]["level"] == "error"
    assert f"ConnectionError: refused with key {MASK}" in lines[2]["exception"]
    assert lines[3] == lines[3] | {"logger": "httpx", "level": "warning"}
    assert lines[4]["exception"].endswith(f"ValueError: {MASK}")


def test_console_output_never_contains_secrets() -> None:
    """Console lines from structlog and stdlib loggers hold no secret and no ANSI colours."""
    buf = io.StringIO()
    redactor = configure_logging(fmt="console", stream=buf)
    redactor.add(API_KEY)
    redactor.add(PASSWORD)
    _log_secrets(redactor)
    raw = buf.getvalue()
    for secret in (API_KEY, PASSWORD, JWT):
        assert secret not in raw
    assert "poll_failed" in raw
    assert f"ConnectionError: refused with key {MASK}" in raw
    assert "\x1b[" not in raw
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.splitlines()[0])


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_stdlib_record_with_authorization_header_is_redacted(fmt: str) -> None:
    """An httpx-style stdlib record carrying an unregistered Authorization header is redacted."""
    buf = io.StringIO()
    configure_logging(fmt=fmt, stream=buf)
    logging.getLogger("httpx").warning(
        "HTTP Request: GET https://wa/v1/health headers=%r", {"Authorization": "Apikey zz9-Yy8"}
    )
    assert "zz9-Yy8" not in buf.getvalue()
    assert "Authorization" in buf.getvalue()


def test_unformattable_stdlib_record_does_not_leak_its_args(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A record whose args do not fit its format is logged as a stub; raw args go nowhere."""
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    (handler,) = [
        h for h in logging.getLogger().handlers if type(h).__module__ == "watchdog.base.log"
    ]
    # Sent straight to our handler: pytest's own root handler rightly fails on such records.
    handler.handle(logging.makeLogRecord({"name": "app", "msg": "%d", "args": (API_KEY,)}))
    assert _json_lines(buf)[0]["event"] == "log_record_unformattable (TypeError)"
    assert API_KEY not in buf.getvalue() + capsys.readouterr().err


def test_context_vars_are_merged_and_redacted() -> None:
    """Context bound with structlog.contextvars reaches both paths, secrets masked."""
    buf = io.StringIO()
    configure_logging(fmt="json", stream=buf)
    structlog.contextvars.bind_contextvars(target="prod", api_key=API_KEY)
    get_logger().info("poll_started")
    logging.getLogger("apscheduler.executors").warning("job missed")
    for line in _json_lines(buf):
        assert line["target"] == "prod"
        assert line["api_key"] == MASK


# --- configuration ---------------------------------------------------------------------------


def test_auto_format_is_json_for_a_non_tty_stream() -> None:
    """fmt="auto" renders JSON when the stream is not a terminal."""
    buf = io.StringIO()
    configure_logging(stream=buf)
    get_logger().info("hello")
    assert _json_lines(buf)[0]["event"] == "hello"


def test_auto_format_is_coloured_console_for_a_tty() -> None:
    """fmt="auto" renders colored console lines when the stream is a terminal."""
    buf = _Tty()
    configure_logging(stream=buf)
    get_logger().info("hello")
    assert "hello" in buf.getvalue()
    assert "\x1b[" in buf.getvalue()


def test_debug_events_are_dropped_at_info() -> None:
    """At level info, debug events are dropped on both the structlog and the stdlib path."""
    buf = io.StringIO()
    configure_logging(level="info", fmt="json", stream=buf)
    get_logger().debug("structlog_debug")
    logging.getLogger("app").debug("stdlib_debug")
    get_logger().info("structlog_info")
    logging.getLogger("app").info("stdlib_info")
    assert [line["event"] for line in _json_lines(buf)] == ["structlog_info", "stdlib_info"]


def test_noisy_libraries_are_quieted() -> None:
    """httpx/httpcore log only warnings even at debug; apscheduler's info shows only at debug."""
    buf = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=buf)
    logging.getLogger("httpx").info("HTTP Request: GET /v1/health 200")
    logging.getLogger("httpcore.connection").debug("connect_tcp.started")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    configure_logging(level="info", fmt="json", stream=buf)
    logging.getLogger("apscheduler.scheduler").info("Added job again")
    assert [line["event"] for line in _json_lines(buf)] == ["Added job"]


def test_configure_logging_can_be_called_again() -> None:
    """Reconfiguring replaces the previous setup: one line per event, on the new stream only."""
    first, second = io.StringIO(), io.StringIO()
    early = get_logger("early")
    configure_logging(fmt="json", stream=first)
    configure_logging(fmt="json", stream=second)
    early.info("structlog_event")
    logging.getLogger("app").warning("stdlib_event")
    assert first.getvalue() == ""
    assert [(line["event"], line["logger"]) for line in _json_lines(second)] == [
        ("structlog_event", "early"),
        ("stdlib_event", "app"),
    ]


def test_reset_logging_restores_defaults() -> None:
    """reset_logging removes the handler and restores structlog and logger levels."""
    root, httpx = logging.getLogger(), logging.getLogger("httpx")
    before = (root.level, httpx.level, list(root.handlers))
    configure_logging(level="debug", stream=io.StringIO())
    reset_logging()
    assert (root.level, httpx.level, list(root.handlers)) == before
    assert not structlog.is_configured()


@pytest.mark.parametrize(
    ("level", "fmt", "message"),
    [("loud", "json", "unknown log level 'loud'"), ("info", "xml", "unknown log format 'xml'")],
)
def test_bad_level_or_format_is_rejected(level: str, fmt: str, message: str) -> None:
    """An unknown level or format raises ValueError naming the bad value."""
    with pytest.raises(ValueError, match=message):
        configure_logging(level=level, fmt=fmt, stream=io.StringIO())
