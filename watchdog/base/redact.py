"""Secrets scrubbed from text and structures: the `Redactor` and the shapes it knows.

The `Redactor` masks secrets it was told about (`add`) wherever they occur, and credentials
it was never told about by their shape (Authorization schemes, JWTs, URL userinfo,
``password=...`` pairs) and by key name. `watchdog.base.log` runs it on every log line; the poll
client and the alert sinks run it on the details and payloads they pass on.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, WrappedLogger

__all__ = ["MASK", "Redactor"]

MASK: Final = "********"

# Shorter "secrets" (a test value like "abc", a PIN typo) would mask ordinary words everywhere.
_MIN_SECRET_LEN: Final = 4
# Deeper structures are flattened to text instead of recursed into, so a cyclic or absurdly
# nested value cannot blow the stack inside a logging call.
_MAX_DEPTH: Final = 16

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
_LONGEST_WORD: Final = 16
_JWT: Final = re.compile(
    r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
)


def _mask_url_userinfo(m: re.Match[str]) -> str:
    return f"{m['head']}{MASK}@"


def _mask_pair(m: re.Match[str]) -> str:
    if not _is_secret_key(m["key"]):
        return m[0]
    val = m["val"]
    if (
        m["key"].lower().endswith("token")
        and not m["scheme"]
        and len(val) <= _LONGEST_WORD
        and _PLAIN_WORD.fullmatch(val)
    ):
        # Prose such as Graph's "Error validating access token: Session has expired": no
        # token is a short word of letters (a password may be, so this is for tokens only).
        return m[0]
    masked = f"{val[0]}{MASK}{val[0]}" if val[0] in "\"'" else MASK
    return f"{m['kq']}{m['key']}{m['kq']}{m['sep']}{m['scheme'] or ''}{masked}"


def _mask_scheme(m: re.Match[str]) -> str:
    cred = m["cred"]
    if _PLAIN_WORD.fullmatch(cred) or not any(c.isalnum() for c in cred):
        # Prose ("Bearer tokens", "access token - Cannot parse"), not a credential.
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
