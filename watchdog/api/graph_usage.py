"""The business use case (BUC) usage Graph reports on every answer, in the
`X-Business-Use-Case-Usage` header (reference §4, [G-RL]).

`{"<business-id>": [{"type", "call_count", "total_cputime", "total_time",
"estimated_time_to_regain_access"}]}`: the three usages are percentages of the hourly
allowance (throttling may start at 100), the regain time is in minutes, up to 32 objects. The
header is read on every answer, good or bad, so its parser never raises: an unusable header is
no usage at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from watchdog.api import graph_fields as field

__all__ = [
    "HEADER",
    "MAX_USAGES",
    "MAX_USAGE_WAIT",
    "SLOW_AT",
    "Usage",
    "parse_usage_header",
    "usage_wait",
    "worst_percent",
]

HEADER: Final = "X-Business-Use-Case-Usage"
# From this share of the hourly allowance on, polls slow down (reference §9: warn at 80 %, back
# off at 100 % or when access must be regained).
SLOW_AT: Final = 80.0
MAX_USAGES: Final = 32  # Graph's own bound [G-RL]
# 32 objects of ~200 characters; a header far longer is not Graph's.
MAX_HEADER: Final = 32_768
# A percentage past 100 only says "throttled"; past this it is junk, capped so that it stays a
# finite number a gauge and a comparison can use.
MAX_PERCENT: Final = 10_000.0
# The longest a usage header holds polls back beyond their interval: the hour of the allowance's
# rolling window.
MAX_USAGE_WAIT: Final = 3_600.0
# A week: longer than any block reference §4 mentions (72 h for registrations).
MAX_REGAIN_MINUTES: Final = 10_080.0


@dataclass(frozen=True)
class Usage:
    """One usage object: percentages of the hourly allowance (None when missing or unusable)
    and the minutes until calls are allowed again (0 when not throttled)."""

    business_id: str | None
    # `whatsapp_business_management`, `whatsapp`, ... (UNCONFIRMED: seen only in an SDK sample).
    type: str | None
    call_count: float | None
    total_cputime: float | None
    total_time: float | None
    regain_minutes: float | None

    @property
    def percent(self) -> float | None:
        """The highest of the three usages: the one that throttles first."""
        values = [
            v for v in (self.call_count, self.total_cputime, self.total_time) if v is not None
        ]
        return max(values, default=None)


def parse_usage_header(value: str | None) -> tuple[Usage, ...]:
    """The usage objects of the header's value; () when it is missing or unusable."""
    if not isinstance(value, str) or not value or len(value) > MAX_HEADER:
        return ()
    try:
        body = json.loads(value)
    # ValueError covers bad JSON and integers past Python's 4,300-digit conversion limit;
    # RecursionError deeply nested arrays.
    except (ValueError, RecursionError):
        return ()
    if not isinstance(body, Mapping):
        return ()
    usages: list[Usage] = []
    for business_id, rows in body.items():
        for row in rows if isinstance(rows, list) else [rows]:
            usage = _usage(business_id, row)
            if usage is not None:
                usages.append(usage)
                if len(usages) == MAX_USAGES:
                    return tuple(usages)
    return tuple(usages)


def _usage(business_id: Any, row: Any) -> Usage | None:
    if not isinstance(row, Mapping):
        return None
    usage = Usage(
        business_id=field.node_id(business_id),
        type=field.sentence(row.get("type"), field.MAX_ENUM),
        call_count=field.number(row.get("call_count"), MAX_PERCENT),
        total_cputime=field.number(row.get("total_cputime"), MAX_PERCENT),
        total_time=field.number(row.get("total_time"), MAX_PERCENT),
        regain_minutes=field.number(row.get("estimated_time_to_regain_access"), MAX_REGAIN_MINUTES),
    )
    if usage.percent is None and usage.regain_minutes is None:
        return None
    return usage


def worst_percent(usages: Iterable[Usage]) -> float | None:
    """The highest usage over every object and dimension; None when none is known."""
    values = [u.percent for u in usages]
    return max((v for v in values if v is not None), default=None)


def usage_wait(usages: Iterable[Usage], interval: float, *, throttled: bool = False) -> float:
    """How long to wait beyond `interval` before the next poll, given the usage the last answer
    reported: one interval from `SLOW_AT` (halving the pace), three at or past 100 %, and, when
    Graph throttled this very call, until it says access comes back; never more than
    `MAX_USAGE_WAIT`.

    A regain time on an answer that went through is about another use case or business of the
    header's (it lists up to 32), not about these calls. The cap keeps a days-long interval
    (the token's) or a days-long block from hiding the number for days: the allowance is an
    hourly rolling window, and one call an hour while blocked costs nothing worth saving.
    """
    usages = tuple(usages)
    regain = max((u.regain_minutes or 0.0 for u in usages), default=0.0) if throttled else 0.0
    worst = worst_percent(usages)
    wait = 0.0
    if regain > 0:
        wait = regain * 60.0 - interval
    if worst is not None and worst >= SLOW_AT:
        wait = max(wait, 3 * interval if worst >= 100 else interval)
    return min(max(wait, 0.0), MAX_USAGE_WAIT)
