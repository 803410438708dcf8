"""Structured logging for the watchdog, with secrets scrubbed from every line.

Two paths write log lines: structlog loggers (``get_logger``) and the stdlib ``logging``
tree (uvicorn, httpx, apscheduler). Both run the same tail of processors — exception
rendering, then the `Redactor`, then one renderer — and write to the same stream, so a
secret is removed whichever library produced the line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, Final, TextIO, cast
from urllib.parse import quote

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

__all__ = [
    "MASK",
    "Redactor",
    "configure_logging",
    "get_logger",
    "reset_logging",
]

MASK: Final = "********"

# Shorter "secrets" (a test value like "abc", a PIN typo) would mask ordinary words everywhere.
_MIN_SECRET_LEN: Final = 4
# Deeper structures are flattened to text instead of recursed into, so a cyclic or absurdly
# nested value cannot blow the stack inside a logging call.
_MAX_DEPTH: Final = 16

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

# --- key names -------------------------------------------------------------------------------

_SECRET_WORDS: Final = frozenset(
    {
        "apikey", "password", "passwd", "pwd", "passphrase", "token", "tokens", "secret",
        "secrets", "authorization", "cookie", "cookies", "credential", "credentials",
    }
)  # fmt: skip
_SECRET_PAIRS: Final = frozenset({("api", "key"), ("private", "key")})
# A key that *locates or describes* a secret (WA_API_KEY_FILE, token_type, api_key_set) holds
# no secret itself; hiding it would only make misconfiguration harder to diagnose. Its string
# value is still scrubbed like any other.
_METADATA_WORDS: Final = frozenset(
    {"file", "path", "dir", "url", "name", "type", "mode", "source", "set", "configured",
     "present", "expires", "expiry", "ttl"}
)  # fmt: skip
_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY_SEPARATORS: Final = re.compile(r"[^a-z0-9]+")


def _is_secret_key(name: str) -> bool:
    words = _KEY_SEPARATORS.split(_CAMEL_BOUNDARY.sub("_", name).lower())
    for i, word in enumerate(words):
        if word in _SECRET_WORDS or (i > 0 and (words[i - 1], word) in _SECRET_PAIRS):
            return _METADATA_WORDS.isdisjoint(words[i + 1 :])
    return False


# --- patterns in free text -------------------------------------------------------------------

# Every pattern starts at a lookbehind boundary so a long run of base64 in a response body is
# scanned once, not once per character (which would be quadratic).
_URL_USERINFO: Final = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^/?#\s]+)@"
)
# The lookahead only pre-selects keys worth a look (`_is_secret_key` decides); the key itself
# is matched possessively, since backtracking into "apikeyapikey..." would be quadratic.
_PAIR: Final = re.compile(
    r"""(?<![A-Za-z0-9_.\-])(?P<kq>["']?)"""
    r"(?=[A-Za-z0-9_.\-]*?(?:key|pass|pwd|token|secret|auth|cookie|credential))"
    r"(?P<key>[A-Za-z0-9_.\-]++)(?P=kq)"
    r"(?P<sep>\s*[:=]\s*)"
    r"(?P<scheme>(?:apikey|bearer|basic|token)\s+)?"
    r"""(?P<val>"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+'|[^\s"',;&)\]}]+)""",
    re.IGNORECASE,
)
# The credential may not end in "." so a sentence's full stop is not taken for part of it.
_SCHEME: Final = re.compile(
    r"\b(?P<scheme>apikey|bearer|basic|token)(?P<sep>[ \t]+)"
    r"(?P<cred>[A-Za-z0-9\-._~+/]*[A-Za-z0-9\-_~+/]=*)",
    re.IGNORECASE,
)
# Outside an Authorization header, "Bearer tokens" or "Basic auth" is prose, not a credential.
_PLAIN_WORD: Final = re.compile(r"[A-Z]?[a-z]+|[A-Z]+")
_JWT: Final = re.compile(
    r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
)


def _mask_url_userinfo(m: re.Match[str]) -> str:
    return f"{m['head']}{MASK}@"


def _mask_pair(m: re.Match[str]) -> str:
    if not _is_secret_key(m["key"]):
        return m[0]
    val = m["val"]
    masked = f"{val[0]}{MASK}{val[0]}" if val[0] in "\"'" else MASK
    return f"{m['kq']}{m['key']}{m['kq']}{m['sep']}{m['scheme'] or ''}{masked}"


def _mask_scheme(m: re.Match[str]) -> str:
    if _PLAIN_WORD.fullmatch(m["cred"]):
        return m[0]
    return f"{m['scheme']}{m['sep']}{MASK}"


def _to_text(value: object) -> str:
    try:
        if isinstance(value, BaseException):
            return "".join(traceback.format_exception_only(value)).strip()
        return str(value)
    except Exception:  # a broken __str__ must not break the logging call
        return f"<unprintable {type(value).__name__}>"


class Redactor:
    """A structlog processor that removes secrets from an event dict, at any depth.

    Known secrets (registered with `add`) are masked wherever they occur; credentials that
    were never registered are caught by shape (``Authorization`` schemes, JWTs, URL userinfo,
    ``password=...`` pairs) and by key name (``api_key``, ``x-api-key``, ``web_password``...).
    It never raises: an input it cannot handle yields a stub event rather than a raw one.
    """

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        self._lock = threading.Lock()
        # Replaced, never mutated, so readers need no lock: they see the old or the new tuple.
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | SecretStr | None) -> bool:
        """Register *secret*; it is masked from the next log call on. False if ignored."""
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not isinstance(value, str) or len(value.strip()) < _MIN_SECRET_LEN:
            return False
        # A secret also reaches logs escaped: inside a repr(), a JSON body or a URL.
        variants = {
            value,
            repr(value)[1:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
        }
        with self._lock:
            known = set(self._secrets)
            known.update(v for v in variants if len(v) >= _MIN_SECRET_LEN)
            self._secrets = tuple(sorted(known, key=len, reverse=True))
        return True

    def redact_text(self, text: str) -> str:
        """Return *text* with every known secret and secret-shaped substring masked."""
        text = self._mask_known(text)
        text = _URL_USERINFO.sub(_mask_url_userinfo, text)
        text = _PAIR.sub(_mask_pair, text)
        text = _SCHEME.sub(_mask_scheme, text)
        return _JWT.sub(MASK, text)

    def redact(self, value: object) -> object:
        """Return a scrubbed copy of *value*; containers are rebuilt, never mutated."""
        return self._redact(value, 0)

    def _redact(self, value: object, depth: int) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.redact_text(value)
        if depth >= _MAX_DEPTH:
            return self.redact_text(_to_text(value))
        if isinstance(value, Mapping):
            return self._redact_mapping(value, depth + 1)
        if isinstance(value, list | tuple | set | frozenset):
            items = [self._redact(item, depth + 1) for item in value]
            return items if isinstance(value, list | set | frozenset) else tuple(items)
        return self.redact_text(_to_text(value))

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        try:
            if "exc_info" in event_dict:
                # The exception object's text is only visible once rendered; render it here
                # too, so a chain that forgot format_exc_info still cannot leak a traceback.
                event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
            return self._redact_mapping(event_dict, 0)
        except Exception as exc:  # fail closed: drop the content, keep the fact of the event
            stub: EventDict = {"event": "log_event_redaction_failed", "error": type(exc).__name__}
            for key in ("level", "timestamp", "logger"):
                if isinstance(event_dict.get(key), str):
                    stub[key] = self.redact_text(event_dict[key])
            return stub

    def _redact_mapping(self, mapping: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in mapping.items():
            if isinstance(key, str):
                if _is_secret_key(key) and value is not None and not isinstance(value, bool):
                    out[self.redact_text(key)] = MASK
                    continue
                key = self.redact_text(key)  # noqa: PLW2901 -- keys can carry secrets too
            elif not (key is None or isinstance(key, bool | int | float)):
                key = self.redact_text(_to_text(key))  # noqa: PLW2901
            out[key] = self._redact(value, depth)
        return out

    def _mask_known(self, text: str) -> str:
        # Spans of every occurrence of every secret are merged before masking: replacing one
        # secret at a time could cut through an overlapping one and leave a fragment of it.
        spans: list[tuple[int, int]] = []
        for secret in self._secrets:
            start = text.find(secret)
            while start != -1:
                spans.append((start, start + len(secret)))
                start = text.find(secret, start + 1)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        pos = 0
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start <= cur_end:
                cur_end = max(cur_end, end)
                continue
            parts += (text[pos:cur_start], MASK)
            pos, (cur_start, cur_end) = cur_end, (start, end)
        parts += (text[pos:cur_start], MASK, text[cur_end:])
        return "".join(parts)


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
            sys.stderr.write(f"watchdog.log: could not write a record from {record.name!r}\n")

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
