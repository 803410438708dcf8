"""Tests for watchdog.base.redact: secrets masked in event dicts and free text, at any depth."""

from __future__ import annotations

import json
import string
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from structlog.testing import capture_logs
from structlog.typing import EventDict

from watchdog.base.redact import MASK, Redactor

API_KEY = "k3y-Qw9zX7vB2nM4pL8r"
PASSWORD = "hunter2-Pa55word"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([API_KEY, SecretStr(PASSWORD)])


def _redact(redactor: Redactor, **event: Any) -> EventDict:
    return redactor(None, "info", event)


# --- the processor, through capture_logs ----------------------------------------------------


def test_registered_secret_in_event_message_is_masked(redactor: Redactor) -> None:
    """A registered secret inside the event message is replaced by MASK."""
    with capture_logs(processors=[redactor]) as logs:
        structlog.get_logger().info(f"login with {API_KEY} failed")
    assert logs[0]["event"] == f"login with {MASK} failed"


def test_registered_secret_in_nested_values_is_masked_without_mutating_input(
    redactor: Redactor,
) -> None:
    """Secrets in nested dicts, lists and tuples are masked; the caller's objects stay intact."""
    payload = {"outer": [{"inner": (1, f"pw is {PASSWORD}")}], "note": API_KEY}
    with capture_logs(processors=[redactor]) as logs:
        structlog.get_logger().info("sent", payload=payload)
    assert logs[0]["payload"] == {"outer": [{"inner": (1, f"pw is {MASK}")}], "note": MASK}
    assert payload["note"] == API_KEY


@pytest.mark.parametrize(
    "key",
    ["api_key", "apikey", "apiKey", "X-API-Key", "x_api_key", "password", "WA_WEB_PASSWORD",
     "passwd", "token", "access_token", "client_secret", "Authorization", "cookie", "Set-Cookie"],
)  # fmt: skip
def test_secret_named_keys_are_masked_at_any_depth(key: str) -> None:
    """A value under a secret-named key is replaced wholesale, at top level and nested."""
    with capture_logs(processors=[Redactor()]) as logs:
        structlog.get_logger().info("e", **{key: "anything"}, nested={"h": [{key: 12345}]})
    assert logs[0][key] == MASK
    assert logs[0]["nested"] == {"h": [{key: MASK}]}


@pytest.mark.parametrize(
    ("key", "value"),
    [("api_key_file", "/run/secrets/wa_api_key"), ("token_type", "bearer"),
     ("api_key", None), ("web_password", True), ("auth_mode", "apikey"), ("keys", 3)],
)  # fmt: skip
def test_keys_describing_a_secret_keep_their_values(key: str, value: object) -> None:
    """Locator/metadata keys and None/bool values under secret keys are left readable."""
    assert _redact(Redactor(), event="e", **{key: value})[key] == value


def test_exception_text_is_scrubbed(redactor: Redactor) -> None:
    """exc_info is rendered to text and the secret in the exception message is masked."""
    with capture_logs(processors=[redactor]) as logs:
        try:
            raise RuntimeError(f"401 for key {API_KEY}")
        except RuntimeError:
            structlog.get_logger().exception("poll_failed")
    text = logs[0]["exception"]
    assert "exc_info" not in logs[0]
    assert API_KEY not in text
    assert f"RuntimeError: 401 for key {MASK}" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Apikey abcDEF123456", f"Authorization: Apikey {MASK}"),
        ("sent BEARER abc.def-ghi_123 upstream", f"sent BEARER {MASK} upstream"),
        ("basic dXNlcjpwYXNz==", f"basic {MASK}"),
        ("authorization='Bearer plainword'", f"authorization='{MASK}'"),
    ],
)
def test_auth_scheme_credentials_are_masked_keeping_the_scheme(text: str, expected: str) -> None:
    """Apikey/Bearer/Basic credentials are masked case-insensitively; the scheme word stays."""
    with capture_logs(processors=[Redactor()]) as logs:
        structlog.get_logger().info(text)
    assert logs[0]["event"] == expected


@pytest.mark.parametrize(
    "text",
    ["Bearer", "Bearer tokens expire after 7 days.", "falling back to Basic auth",
     "the Apikey header", "poll_finished", "use bearer",
     # Graph's own words about a token (error 190), which on-call people need to read.
     "Error validating access token: Session has expired on Tuesday, 01-Dec-26 12:00:00 PST.",
     "Invalid OAuth access token - Cannot parse access token"],
)  # fmt: skip
def test_scheme_words_in_prose_are_left_alone(text: str) -> None:
    """A scheme word followed by an ordinary word (or nothing) is not taken for a credential."""
    assert _redact(Redactor(), event=text)["event"] == text


@pytest.mark.parametrize(
    "text",
    ["access token: EAAGm0PX4ZCpsBAKZAZA12345", "token: abcdefghijklmnopqrstu",
     "password: hunter", "token=Bearer Session"],
)  # fmt: skip
def test_token_values_that_are_no_prose_are_masked(text: str) -> None:
    """Only a short word of letters after "token:" is taken for prose; anything else (and any
    password) is masked."""
    assert MASK in _redact(Redactor(), event=text)["event"]


def test_jwt_is_masked() -> None:
    """A JWT-shaped string is masked even when never registered."""
    assert _redact(Redactor(), event=f"token {JWT}.")["event"] == f"token {MASK}."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://admin:s3cret@wa.example:9090/v1/health",
         f"https://admin:{MASK}@wa.example:9090/v1/health"),
        ("redis://:pw-1234@cache/0", f"redis://:{MASK}@cache/0"),
        ("https://wa.example:9090/v1/health", "https://wa.example:9090/v1/health"),
    ],
)  # fmt: skip
def test_url_userinfo_password_is_masked(url: str, expected: str) -> None:
    """The password in URL userinfo is masked; the user, host and path stay."""
    assert _redact(Redactor(), event="connect", url=url)["url"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login password=abc123 user=x", f"login password={MASK} user=x"),
        ('{"password": "a\\"b c", "n": 1}', f'{{"password": "{MASK}", "n": 1}}'),
        ("{'web_password': 'xyz', 'user': 'x'}", f"{{'web_password': '{MASK}', 'user': 'x'}}"),
        ("GET /v1?access_token=t0k3n&x=1", f"GET /v1?access_token={MASK}&x=1"),
        ("X-Api-Key: abcd", f"X-Api-Key: {MASK}"),
        ("monkey=banana", "monkey=banana"),
    ],
)  # fmt: skip
def test_secret_pairs_in_strings_are_masked(text: str, expected: str) -> None:
    """key=value and "key": "value" pairs with a secret-named key have the value masked."""
    assert _redact(Redactor(), event=text)["event"] == expected


def test_secret_added_later_applies_at_once() -> None:
    """A secret added after configuration (key rotation) is masked from the next event on."""
    redactor = Redactor([API_KEY])
    rotated = "n3w-R0tated-K3y-value"
    with capture_logs(processors=[redactor]) as logs:
        log = structlog.get_logger()
        log.info(f"using {rotated}")
        assert redactor.add(rotated)
        log.info(f"using {rotated}")
    assert [e["event"] for e in logs] == [f"using {rotated}", f"using {MASK}"]


def test_non_secret_values_pass_unchanged() -> None:
    """Ints, floats, bools, None and ordinary strings under ordinary keys pass unchanged."""
    event = {
        "event": "poll_finished", "target": "prod", "endpoint": "health", "status": 200,
        "ok": True, "latency": 0.25, "node": None, "tags": ("a", "b"),
        "note": "send the Bearer header", "when": "10:43:00",
    }  # fmt: skip
    assert _redact(Redactor([API_KEY]), **event) == event


def test_short_secrets_are_ignored() -> None:
    """Secrets shorter than 4 characters are refused so ordinary words are not masked."""
    redactor = Redactor()
    assert not redactor.add("abc")
    assert not redactor.add(None)
    assert redactor.redact_text("abc abcd") == "abc abcd"


def test_secret_is_masked_in_its_escaped_forms() -> None:
    """A registered secret is also masked where it appears repr-, JSON- or URL-escaped."""
    secret = "pa\"s's\\wo rd"
    redactor = Redactor([secret])
    for form in (repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")):
        assert form != secret
        assert redactor.redact_text(f"<{form}>") == f"<{MASK}>"


def test_overlapping_secrets_leave_no_fragment() -> None:
    """When two secrets overlap, the union of both is masked, leaving no tail of either."""
    redactor = Redactor(["abcd", "bcdefghij"])
    assert redactor.redact_text("xabcdefghijy") == f"x{MASK}y"


def test_odd_values_are_stringified_and_scrubbed() -> None:
    """Unknown objects become scrubbed text, including ones whose __str__ raises."""

    class Leaky:
        def __str__(self) -> str:
            return f"Leaky(key={API_KEY})"

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError

    out = _redact(Redactor([API_KEY]), event="e", a=Leaky(), b=Broken(), c=ValueError(API_KEY))
    assert out["a"] == f"Leaky(key={MASK})"
    assert out["b"] == "<unprintable Broken>"
    assert out["c"] == f"ValueError: {MASK}"


def test_redactor_fails_closed() -> None:
    """If a value cannot even be iterated, the event is replaced by a stub rather than leaked."""

    class Hostile(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            return API_KEY

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError(API_KEY)

        def __len__(self) -> int:
            return 1

    out = _redact(Redactor([API_KEY]), event=API_KEY, level="info", data=Hostile())
    assert out == {"event": "log_event_redaction_failed", "error": "RuntimeError", "level": "info"}


def test_concurrent_adds_are_all_kept() -> None:
    """Secrets added from many threads while events are redacted are all registered."""
    redactor = Redactor()
    secrets = [f"secret-{t}-{i:04d}" for t in range(8) for i in range(50)]

    def add(chunk: list[str]) -> None:
        for s in chunk:
            redactor.add(s)
            redactor.redact_text(s)

    threads = [threading.Thread(target=add, args=(secrets[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(redactor.redact_text(s) == MASK for s in secrets)


_SECRETS = st.text(st.characters(exclude_characters="*", codec="utf-8"), min_size=4).filter(
    lambda s: len(s.strip()) >= 4  # shorter ones are refused on purpose (see above)
)


@given(secret=_SECRETS, before=st.text(), after=st.text())
def test_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    """Whatever surrounds it, a registered secret never appears in the redacted text: it is
    accepted, and a mask stands where it was."""
    redactor = Redactor()
    assert redactor.add(secret)
    redacted = redactor.redact_text(before + secret + after)
    assert secret not in redacted
    assert MASK in redacted


# Digits and blanks cannot form any secret shape (no scheme word, key name, URL or JWT).
_PLAIN = st.text(alphabet=" 0123456789")


@given(secret=st.text(alphabet=string.ascii_letters, min_size=4), before=_PLAIN, after=_PLAIN)
def test_registered_secret_is_masked_in_place(secret: str, before: str, after: str) -> None:
    """Exactly the secret is masked: the text around it is kept as it was."""
    redactor = Redactor([secret])
    assert redactor.redact_text(before + secret + after) == before + MASK + after


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


# `exc_info` is not content but an instruction: structlog renders it into `exception` (or drops
# it when falsy), so it is left out here and has tests of its own.
@given(event=st.dictionaries(st.text().filter(lambda key: key != "exc_info"), _json_values))
def test_redactor_never_raises(event: dict[str, Any]) -> None:
    """Any JSON-like event dict is redacted, key for key. The redactor swallows its own errors
    into a stub event (fails closed), so not raising alone would prove nothing: the stub's
    keys are not the event's."""
    redactor = Redactor([API_KEY])
    out = redactor(None, "info", dict(event))
    assert set(out) == {redactor.redact_text(key) for key in event}
