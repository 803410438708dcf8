"""Structured logging for the watchdog, with secrets scrubbed from every line.

Two paths write log lines: structlog loggers (``get_logger``) and the stdlib ``logging``
tree (uvicorn, httpx, apscheduler). Both run the same tail of processors — exception
rendering, then the `Redactor` (`watchdog.base.redact`), then one renderer — and write to the same
stream, so a secret is removed whichever library produced the line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from watchdog.base.redact import Redactor

__all__ = ["configure_logging", "get_logger", "reset_logging"]

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FORMATS: Final = ("auto", "json", "console")
# httpx logs one INFO line per request: at a 15 s poll interval that is most of the log.
_QUIET_LOGGERS: Final = ("httpx", "httpcore")
_DEBUG_ONLY_LOGGERS: Final = ("apscheduler",)

# --- configuration ---------------------------------------------------------------------------


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    """`structlog.WriteLoggerFactory` that keeps ``get_logger(name)``'s name on the logger.

    The name then travels like a stdlib logger's name instead of being bound into the
    context, which would turn a lazy module-level logger into an eager one.
    """

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args and args[0] else None)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    name = record.name if isinstance(record, logging.LogRecord) else getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


class _StreamHandler(logging.Handler):
    """Root handler writing stdlib records through the structlog tail onto the same stream.

    It writes through a `structlog.WriteLogger` so it shares structlog's per-stream lock: lines
    from both paths never interleave. It also remembers the logger levels it overrode, so
    `reset_logging` can put them back without a module-level registry.
    """

    def __init__(self, stream: TextIO, saved_levels: dict[str, int]) -> None:
        super().__init__()
        self._out = structlog.WriteLogger(stream)
        self.saved_levels = saved_levels

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception as exc:
            # logging's default handleError prints the record's raw args to stderr — exactly
            # the unredacted text this handler exists to keep out of sight.
            line = self._format_stub(record, exc)
        try:
            self._out.msg(line)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if logging.raiseExceptions:
            sys.stderr.write(f"watchdog.base.log: could not write a record from {record.name!r}\n")

    def _format_stub(self, record: logging.LogRecord, exc: Exception) -> str:
        stub = logging.makeLogRecord(
            {
                "name": record.name,
                "levelno": record.levelno,
                "levelname": record.levelname,
                "created": record.created,
                "msg": f"log_record_unformattable ({type(exc).__name__})",
            }
        )
        try:
            return self.format(stub)
        except Exception:
            return str(stub.msg)


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # closed or file-like without isatty
        return False


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    redactor: Redactor | None = None,
    stream: TextIO | None = None,
) -> Redactor:
    """Configure structlog and the stdlib root logger; return the redactor in use.

    *fmt* is ``json``, ``console`` or ``auto`` (JSON unless *stream* is a TTY). Safe to call
    again: the previous configuration is replaced, not stacked.
    """
    levelno = _LEVELS.get(level.lower())
    if levelno is None:
        msg = f"unknown log level {level!r}; expected one of debug, info, warning, error, critical"
        raise ValueError(msg)
    if fmt not in _FORMATS:
        msg = f"unknown log format {fmt!r}; expected one of auto, json, console"
        raise ValueError(msg)
    redactor = Redactor() if redactor is None else redactor
    stream = sys.stdout if stream is None else stream
    tty = _is_tty(stream)

    renderer: Processor
    if fmt == "json" or (fmt == "auto" and not tty):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=tty)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # Exceptions become text before the redactor sees them, so their messages are scrubbed;
    # a renderer formatting exc_info itself would print them (and, with rich, locals) raw.
    tail: list[Processor] = [structlog.processors.format_exc_info, redactor, renderer]

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            structlog.processors.StackInfoRenderer(),
            timestamper,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=_LoggerFactory(stream),
        # Loggers created before a reconfiguration (module-level get_logger) must follow it.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            _add_logger_name,
            timestamper,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    root = logging.getLogger()
    previous = [h for h in root.handlers if isinstance(h, _StreamHandler)]
    noisy = (*_QUIET_LOGGERS, *_DEBUG_ONLY_LOGGERS)
    saved = (
        previous[0].saved_levels
        if previous
        else {name: logging.getLogger(name or None).level for name in ("", *noisy)}
    )
    for old in previous:
        root.removeHandler(old)
    handler = _StreamHandler(stream, saved)
    handler.setFormatter(formatter)
    handler.setLevel(levelno)
    root.addHandler(handler)
    root.setLevel(levelno)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, levelno))
    for name in _DEBUG_ONLY_LOGGERS:
        logging.getLogger(name).setLevel(
            levelno if levelno <= logging.DEBUG else max(logging.WARNING, levelno)
        )
    return redactor


def reset_logging() -> None:
    """Undo `configure_logging`: structlog defaults, stdlib handler removed, levels restored."""
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StreamHandler)]:
        root.removeHandler(handler)
        for name, levelno in handler.saved_levels.items():
            logging.getLogger(name or None).setLevel(levelno)


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """Return a structlog logger; *name* appears as the ``logger`` key, like stdlib records.

    The logger is lazy: one created at import time follows later `configure_logging` calls.
    """
    logger = structlog.get_logger(name) if name else structlog.get_logger()
    return cast(FilteringBoundLogger, logger)
