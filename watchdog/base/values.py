"""Value types shared by the global settings and the per-target options.

Each validator accepts what the environment (strings) and YAML (strings, numbers, booleans)
can give, and raises ``ValueError`` with a message that reads well after a variable name
(``WATCHDOG_TIMEOUT: must be ...``): ``watchdog.config.provenance`` prefixes the name, because
only it knows whether the value came from the environment or from the file. Secrets (the API key,
passwords and their files) are in ``watchdog.base.secrets``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from watchdog.base.durations import format_duration, parse_duration
from watchdog.base.secrets import file_path
from watchdog.base.urls import check_http_url, reject_userinfo, split_list

__all__ = [
    "MAX_ALERT_DURATION",
    "MIN_ALERT_WINDOW",
    "MIN_HEALTH_INTERVAL",
    "AlertDuration",
    "AlertWindow",
    "AuthMode",
    "AuthModeSetting",
    "CaFile",
    "CloudHealthInterval",
    "Count",
    "ExpectedShards",
    "ExternalUrl",
    "Flag",
    "GraphId",
    "GraphVersion",
    "HealthInterval",
    "HistoryWindow",
    "Interval",
    "ListenAddress",
    "LogFormat",
    "LogFormatSetting",
    "LogLevel",
    "LogLevelSetting",
    "Ratio",
    "Shard",
    "TargetKind",
    "Timeout",
    "UrlList",
    "Username",
    "WebhookUrlList",
    "choice",
    "config_problems",
    "parse_bool",
    "split_listen",
    "split_shard",
]

# The health node allows 10 calls per 60 s for all callers together; one call per 6 s would
# use the whole budget, so nothing faster can ever be right.
MIN_HEALTH_INTERVAL = 6.0
# A Cloud API number's health is Meta's view, updated on Meta's schedule; polling it more often
# than this only spends the business use case's hourly allowance (reference §9).
MIN_CLOUD_HEALTH_INTERVAL = 10.0
_GRAPH_VERSION = re.compile(r"v[1-9][0-9]{0,2}\.[0-9]{1,2}")
_GRAPH_ID = re.compile(r"[0-9]{1,32}")
MAX_TIMEOUT = 60.0
# Alert timing: `for` and `keep_firing_for` up to an hour; a rate window long enough to hold a
# few polls (metrics are polled every 30s by default) and no longer than the history kept.
MAX_ALERT_DURATION = 3600.0
MIN_ALERT_WINDOW = 10.0
# The status page draws the last hour, so history must reach that far; a week at 8 bytes a
# poll is the most anyone has asked a status page for.
MIN_HISTORY = 3600.0
MAX_HISTORY = 7 * 86400.0

AuthMode = Literal["apikey", "bearer", "auto"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def config_problems(problems: list[tuple[tuple[str | int, ...], str]]) -> PydanticCustomError:
    """One validation error carrying several problems, each at its own location below the field.

    Pydantic reports one error per validator call; this lets one check (labels, duplicate
    names) report every offender, and ``watchdog.config.provenance`` spells out each location.
    """
    return PydanticCustomError(
        "config_problems", "{summary}", {"summary": problems[0][1], "problems": problems}
    )


def parse_bool(value: object) -> bool:
    """``true/false/yes/no/1/0`` in any case, or a YAML boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise ValueError(f"must be true or false (yes/no and 1/0 also work) (got {shown})")


def _health_interval(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < MIN_HEALTH_INTERVAL:
        off = "; health polling cannot be turned off" if seconds == 0 else ""
        raise ValueError(
            f"must be at least {format_duration(MIN_HEALTH_INTERVAL)}, because the health "
            f"endpoint allows only 10 calls per 60 s shared by all callers "
            f"(got {format_duration(seconds)}{off})"
        )
    return seconds


def _cloud_health_interval(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < MIN_CLOUD_HEALTH_INTERVAL:
        raise ValueError(
            f"must be at least {format_duration(MIN_CLOUD_HEALTH_INTERVAL)} for a Cloud API "
            "target: each poll counts against the business's hourly Graph allowance "
            f"(got {format_duration(seconds)})"
        )
    return seconds


def _graph_version(value: object) -> str:
    if not isinstance(value, str) or not _GRAPH_VERSION.fullmatch(value.strip()):
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"must be a Graph API version such as v25.0 (got {shown})")
    return value.strip()


def _graph_id(value: object) -> str:
    # YAML reads an unquoted id as an integer; both mean the same node.
    usable = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if usable else None
    if text is None or not _GRAPH_ID.fullmatch(text):
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"must be a Graph node id: digits only, as Meta shows it (got {shown})")
    return text


def _history(value: object) -> float:
    seconds = parse_duration(value)
    if not MIN_HISTORY <= seconds <= MAX_HISTORY:
        raise ValueError(
            f"must be from {format_duration(MIN_HISTORY)} (the hour the status page draws) to "
            f"{format_duration(MAX_HISTORY)} (got {format_duration(seconds)})"
        )
    return seconds


def _interval(value: object) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < 1:
        raise ValueError(f"must be 0 (off) or at least 1s (got {format_duration(seconds)})")
    return seconds


def _timeout(value: object) -> float:
    seconds = parse_duration(value)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(
            f"must be more than 0s and at most {MAX_TIMEOUT:g}s (got {format_duration(seconds)})"
        )
    return seconds


def _username(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text (got {type(value).__name__})")
    name = str(value).strip()
    if not name:
        raise ValueError("is empty; unset it or give the user name")
    return name


def _readable_file(value: object) -> Path:
    path = file_path(value)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; expected a PEM file")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def choice(options: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text in options:
            return text
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"must be one of {', '.join(options)} (got {shown})")

    return check


_LISTEN_V6 = re.compile(r"\[([^\]]*)\]:(.*)")


def split_listen(value: object) -> tuple[str, int]:
    text = value.strip() if isinstance(value, str) else ""
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    bracketed = _LISTEN_V6.fullmatch(text)
    if bracketed:
        host, port = bracketed.groups()
        try:
            IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address (got {shown})") from None
    else:
        host, colon, port = text.rpartition(":")
        if not colon or not host or any(char in host for char in ":[]/ \t"):
            raise ValueError(
                "expected host:port or [ipv6]:port, such as 0.0.0.0:9877 or [::]:9877 "
                f"(got {shown})"
            )
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be a number from 1 to 65535 (got {port!r})")
    return host, int(port)


def _listen(value: object) -> str:
    host, port = split_listen(value)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_SHARD = re.compile(r"([0-9]+)/([0-9]+)")


def split_shard(value: object) -> tuple[int, int]:
    text = value.replace(" ", "") if isinstance(value, str) else ""
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    match = _SHARD.fullmatch(text)
    if not match:
        raise ValueError(f"expected i/n, the shard index and count, such as 0/3 (got {shown})")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"the shard count (after the /) must be at least 1 (got {shown})")
    if index >= count:
        raise ValueError(
            f"the shard index must be less than the count: 0/{count} to "
            f"{count - 1}/{count} (got {shown})"
        )
    return index, count


def _shard(value: object) -> str:
    index, count = split_shard(value)
    return f"{index}/{count}"


def _external_url(value: object) -> str | None:
    # Empty counts as unset, like an empty URL list, so a chart can always template it.
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return reject_userinfo(
        check_http_url(value, allow_query=False),
        "it is put into every alert (generatorURL, externalURL), where everyone who gets the "
        "alert can read it",
    )


def _shown(value: object) -> str:
    """``value`` for a message: text quoted, numbers as written, anything else by its kind."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "nothing"
    return type(value).__name__


_WHOLE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")


def _whole_number(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"expected a whole number (got {_shown(value)})")


def _count(minimum: int, note: str = "") -> Callable[[object], int]:
    def check(value: object) -> int:
        number = _whole_number(value)
        if number < minimum:
            raise ValueError(f"must be at least {minimum} (got {number}){note}")
        return number

    return check


_RATIO_HINT = "a share such as 0.05 for 5%"


def _ratio(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {_RATIO_HINT} (got {_shown(value)})")
    try:
        ratio = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(f"expected {_RATIO_HINT} (got {_shown(value)})") from None
    # Written so that nan fails too.
    if not 0 < ratio <= 1:
        raise ValueError(f"must be more than 0 and at most 1, {_RATIO_HINT} (got {ratio:g})")
    return ratio


def _alert_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds > MAX_ALERT_DURATION:
        raise ValueError(
            f"must be at most {format_duration(MAX_ALERT_DURATION)} "
            f"(got {format_duration(seconds)})"
        )
    return seconds


def _alert_window(value: object) -> float:
    seconds = parse_duration(value)
    if not MIN_ALERT_WINDOW <= seconds <= MAX_ALERT_DURATION:
        raise ValueError(
            f"must be at least {format_duration(MIN_ALERT_WINDOW)} and at most "
            f"{format_duration(MAX_ALERT_DURATION)} (got {format_duration(seconds)})"
        )
    return seconds


def _url_list(*, secret_path: bool) -> Callable[[object], list[str]]:
    def check(value: object) -> list[str]:
        if value is None:
            return []
        items = split_list(value) if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError("expected a list of URLs (or one comma-separated string)")
        urls: list[str] = []
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, item in enumerate(items):
            try:
                urls.append(check_http_url(item, allow_query=True, secret_path=secret_path))
            except ValueError as exc:
                problems.append(((index,), str(exc)))
        if problems:
            raise config_problems(problems)
        return urls

    return check


HealthInterval = Annotated[float, BeforeValidator(_health_interval)]
CloudHealthInterval = Annotated[float, BeforeValidator(_cloud_health_interval)]
GraphVersion = Annotated[str, BeforeValidator(_graph_version)]
GraphId = Annotated[str, BeforeValidator(_graph_id)]
# "onprem": the On-Premises API's monitoring nodes; "cloud": a number on the Cloud API (Graph).
TargetKind = Annotated[Literal["onprem", "cloud"], BeforeValidator(choice(("onprem", "cloud")))]
Interval = Annotated[float, BeforeValidator(_interval)]
HistoryWindow = Annotated[float, BeforeValidator(_history)]
Timeout = Annotated[float, BeforeValidator(_timeout)]
Flag = Annotated[bool, BeforeValidator(parse_bool)]
Username = Annotated[str, BeforeValidator(_username)]
CaFile = Annotated[Path, BeforeValidator(_readable_file)]
ListenAddress = Annotated[str, BeforeValidator(_listen)]
Shard = Annotated[str, BeforeValidator(_shard)]
UrlList = Annotated[list[str], BeforeValidator(_url_list(secret_path=False))]
# Webhook URLs carry their secret in the path (Slack, Teams): messages mask it.
WebhookUrlList = Annotated[list[str], BeforeValidator(_url_list(secret_path=True))]
ExternalUrl = Annotated[str | None, BeforeValidator(_external_url)]
AlertDuration = Annotated[float, BeforeValidator(_alert_duration)]
AlertWindow = Annotated[float, BeforeValidator(_alert_window)]
Count = Annotated[int, BeforeValidator(_count(1))]
ExpectedShards = Annotated[
    int,
    BeforeValidator(
        _count(0, "; 0 means the number of coreapps seen connected at the first health answer")
    ),
]
Ratio = Annotated[float, BeforeValidator(_ratio)]
AuthModeSetting = Annotated[AuthMode, BeforeValidator(choice(("apikey", "bearer", "auto")))]
LogFormatSetting = Annotated[LogFormat, BeforeValidator(choice(("auto", "json", "console")))]
LogLevelSetting = Annotated[
    LogLevel, BeforeValidator(choice(("debug", "info", "warning", "error", "critical")))
]
