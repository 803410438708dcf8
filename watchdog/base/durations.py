"""Durations as people write them in configuration: ``15s``, ``2m``, ``1m30s``, ``500ms``."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_HINT", "format_duration", "parse_duration"]

DURATION_HINT = "a duration such as 15s, 2m, 1h, 500ms, 1m30s or plain seconds (15, 2.5)"

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# "ms" is tried before "m", or "500ms" would read as 500 minutes followed by garbage.
_PART = re.compile(rf"({_NUMBER})(ms|h|m|s)")
_COMPOUND = re.compile(rf"(?:{_NUMBER}(?:ms|h|m|s))+")
_PLAIN = re.compile(_NUMBER)


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` with a message meant for people.

    Numbers (from YAML) are seconds. Strings are plain seconds or a sequence of
    number+unit parts (``h``, ``m``, ``s``, ``ms``), as in Go and Prometheus.
    """
    # bool is an int subclass: `true` in YAML must not silently become 1 second.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {DURATION_HINT} (got {_kind(value)})")
    if isinstance(value, str):
        seconds = _parse_text(value)
    else:
        seconds = float(value)
        if seconds < 0:
            raise ValueError(f"must not be negative (got {value})")
    if not math.isfinite(seconds):
        raise ValueError(f"expected {DURATION_HINT} (got {value!r})")
    return seconds


def _parse_text(value: str) -> float:
    text = value.strip()
    if not text:
        raise ValueError(f"is empty; expected {DURATION_HINT}")
    if text.startswith("-") and _is_duration(text[1:].strip()):
        raise ValueError(f"must not be negative (got {value!r})")
    if _PLAIN.fullmatch(text):
        return float(text)
    if _COMPOUND.fullmatch(text):
        return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART.findall(text))
    raise ValueError(f"expected {DURATION_HINT} (got {value!r})")


def _is_duration(text: str) -> bool:
    return bool(_PLAIN.fullmatch(text) or _COMPOUND.fullmatch(text))


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


def format_duration(seconds: float) -> str:
    """Seconds as people write them (``90`` -> ``1m30s``); ``parse_duration`` reads it back."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{_number(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    parts = []
    if hours:
        parts.append(f"{int(hours)}h")
    if minutes:
        parts.append(f"{int(minutes)}m")
    if secs or not parts:
        parts.append(f"{_number(secs)}s")
    return "".join(parts)


def _number(value: float) -> str:
    # Round away float noise (61.1 - 60 = 1.0999999999999943) before printing.
    return f"{round(value, 6):g}"
