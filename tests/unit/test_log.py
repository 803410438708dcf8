"""Tests for watchdog.log: secret redaction and the logging configuration."""

from __future__ import annotations

import io
import json
import logging
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

from watchdog.log import MASK, Redactor, configure_logging, get_logger, reset_logging

API_KEY = "k3y-Qw9zX7vB2nM4pL8r"
PASSWORD = "hunter2-Pa55word"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def redactor() -> Redactor:
    return Redactor([API_KEY, SecretStr(PASSWORD)])


def _redact(redactor: Redactor, **event: Any) -> EventDict:
    return redactor(None, "info", event)


def _json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


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
     "the Apikey header", "poll_finished", "use bearer"],
)  # fmt: skip
def test_scheme_words_in_prose_are_left_alone(text: str) -> None:
    """A scheme word followed by an ordinary word (or nothing) is not taken for a credential."""
    assert _redact(Redactor(), event=text)["event"] == text


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


@given(
    secret=st.text(st.characters(exclude_characters="*", codec="utf-8"), min_size=4),
    before=st.text(),
    after=st.text(),
)
def test_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    """Whatever surrounds it, a registered secret never appears in the redacted text."""
    redactor = Redactor()
    if redactor.add(secret):
        assert secret not in redactor.redact_text(before + secret + after)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(event=st.dictionaries(st.text(), _json_values))
def test_redactor_never_raises(event: dict[str, Any]) -> None:
    """Any JSON-like event dict is processed without raising."""
    Redactor([API_KEY])(None, "info", event)


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
    (handler,) = [h for h in logging.getLogger().handlers if type(h).__module__ == "watchdog.log"]
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
