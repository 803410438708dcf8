"""Reading one field of a Graph API answer: text, enum, id, code, number, flag.

Graph answers (WhatsApp Cloud API) are not trusted any more than the On-Premises ones
(`payloads.py`): every reader here takes any JSON value, returns a bounded, encodable value or
`None`, and never raises.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

# Graph's enums are short upper-case words (`CONNECTED`, `TIER_2K`); 64 keeps an unknown one
# readable and well inside a metric label value (payloads.MAX_LABEL_VALUE).
MAX_ENUM: Final = 64
# Graph IDs are decimal strings of up to ~20 digits; phone numbers and names are short too.
MAX_ID: Final = 64
MAX_NAME: Final = 256
# Sentences meant for people (messages, details, possible solutions): one line, like
# `payloads.MAX_DETAILS`, a little longer because Meta's sentences are.
MAX_SENTENCE: Final = 300
# Error codes and subcodes have at most 7 digits; a longer "code" is not one.
_CODE_DIGITS: Final = re.compile(r"[0-9]{1,10}")
_DECIMAL: Final = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")


def clean(text: str, limit: int) -> str:
    """`text` cut to `limit` characters and made encodable: JSON may carry lone surrogates
    (`"\\ud800"`), which would break a UTF-8 page or exposition later."""
    text = text[:limit]
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def text(value: Any, limit: int = MAX_NAME) -> str | None:
    """A string field, clipped; anything else (or an empty string) is None."""
    if not isinstance(value, str) or not value:
        return None
    return clean(value, limit)


def sentence(value: Any, limit: int = MAX_SENTENCE) -> str | None:
    """A sentence for people on one line, whatever the API put in it, ending in `...` if cut."""
    raw = text(value, limit * 4)
    if raw is None:
        return None
    line = " ".join(raw.split())
    if not line:
        return None
    return line if len(line) <= limit else f"{line[: limit - 3]}..."


def enum(value: Any) -> str | None:
    """An upper-case enum value. An unknown one is kept as text (upper-cased, clipped) so a new
    value Meta adds shows up as itself instead of failing the parse."""
    raw = text(value, MAX_ENUM * 2)
    if raw is None:
        return None
    # One line; upper-casing can lengthen a string ("ß" → "SS"): clip after it.
    word = " ".join(raw.split()).upper()[:MAX_ENUM]
    return word or None


def node_id(value: Any) -> str | None:
    """A Graph ID: a string, or an integer from a sloppy encoder."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)[:MAX_ID] if 0 <= value < 10**MAX_ID else None
    raw = text(value, MAX_ID * 2)
    if raw is None:
        return None
    return " ".join(raw.split())[:MAX_ID] or None


def code(value: Any) -> int | None:
    """An error code or subcode: an integer, or a string of digits (some proxies and SDKs
    re-encode them as strings). Negative, fractional or absurdly long values are not codes."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**10 else None
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and 0 <= value < 1e10:
            return int(value)
        return None
    if isinstance(value, str) and _CODE_DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def number(value: Any, limit: float) -> float | None:
    """A non-negative finite number, capped at `limit`. Strings of digits are accepted; NaN,
    infinities, negatives and other strings (`"1e400"`, `"nan"`) are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # float() of an integer beyond float range raises; such a value is over any cap anyway.
        return None if value < 0 else float(min(value, int(limit)))
    if isinstance(value, float):
        return min(value, limit) if math.isfinite(value) and value >= 0 else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return min(float(value.strip()), limit)
    return None


def flag(value: Any) -> bool | None:
    """A JSON boolean, or its text ("true", "False": Graph's numbers come as strings at times,
    and so may its booleans); anything else is unknown, not false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def timestamp(value: Any) -> float | None:
    """Unix seconds. Graph uses 0 for "never" (a token that does not expire): None, as for a
    missing or unusable value; callers read None as "no known end"."""
    seconds = number(value, 1e11)  # year 5138: anything later is junk, capped
    return seconds if seconds else None
