"""Single values: durations, intervals, the API key and its file, listen address, shard,
choices, flags, URLs; each with the exact message for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.config.support import (
    BASE,
    DURATION_HINT,
    HEALTH_WHY,
    KEY,
    assert_messages,
    case,
    load,
    write_yaml,
)
from watchdog.base.durations import format_duration, parse_duration
from watchdog.base.errors import ConfigError
from watchdog.base.secrets import read_api_key_file, read_password_file
from watchdog.config.settings import load_settings

INVALID = [
    case(
        "key-too-short",
        {"WA_API_KEY": "short"},
        "WA_API_KEY: must be 12 to 128 characters long (got 5; the key itself is not shown)",
    ),
    case(
        "key-too-long",
        {"WA_API_KEY": "k" * 129},
        "WA_API_KEY: must be 12 to 128 characters long (got 129; the key itself is not shown)",
    ),
    case(
        "key-with-control-character",
        {"WA_API_KEY": "abcdefgh\x07ijklmnop"},
        "WA_API_KEY: must be printable ASCII; it contains a control or non-ASCII character",
    ),
    case(
        "key-non-ascii",
        {"WA_API_KEY": "abcdefghijklmnopé"},
        "WA_API_KEY: must be printable ASCII; it contains a control or non-ASCII character",
    ),
    case(
        "key-file-unreadable",
        {"WA_API_KEY": None, "WA_API_KEY_FILE": "{tmp}/missing.key"},
        "WA_API_KEY_FILE: cannot read {tmp}/missing.key: No such file or directory",
    ),
    case(
        "key-file-is-directory",
        {"WA_API_KEY": None, "WA_API_KEY_FILE": "{tmp}"},
        "WA_API_KEY_FILE: cannot read {tmp}: Is a directory",
    ),
    case(
        "key-file-short-content",
        {"WA_API_KEY": None, "WA_API_KEY_FILE": "{tmp}/short.key"},
        "WA_API_KEY_FILE: {tmp}/short.key holds 5 characters; an API key is 12 to 128 "
        "characters long (the content is not shown)",
    ),
    case(
        "key-file-empty",
        {"WA_API_KEY": None, "WA_API_KEY_FILE": "{tmp}/empty.key"},
        "WA_API_KEY_FILE: {tmp}/empty.key is empty; it should hold the API key "
        "(12 to 128 characters)",
    ),
    case(
        "duration-word",
        {"WATCHDOG_METRICS_INTERVAL": "abc"},
        f"WATCHDOG_METRICS_INTERVAL: expected {DURATION_HINT} (got 'abc')",
    ),
    case(
        "duration-negative",
        {"WATCHDOG_STATS_APP_INTERVAL": "-5s"},
        "WATCHDOG_STATS_APP_INTERVAL: must not be negative (got '-5s')",
    ),
    case(
        "duration-unknown-unit",
        {"WATCHDOG_HEALTH_INTERVAL": "5x"},
        f"WATCHDOG_HEALTH_INTERVAL: expected {DURATION_HINT} (got '5x')",
    ),
    case(
        "duration-empty",
        {"WATCHDOG_TIMEOUT": ""},
        f"WATCHDOG_TIMEOUT: is empty; expected {DURATION_HINT}",
    ),
    case(
        "health-interval-under-6s",
        {"WATCHDOG_HEALTH_INTERVAL": "5s"},
        f"WATCHDOG_HEALTH_INTERVAL: must be at least 6s, {HEALTH_WHY} (got 5s)",
    ),
    case(
        "health-interval-zero",
        {"WATCHDOG_HEALTH_INTERVAL": "0"},
        f"WATCHDOG_HEALTH_INTERVAL: must be at least 6s, {HEALTH_WHY} "
        "(got 0s; health polling cannot be turned off)",
    ),
    case(
        "interval-under-1s",
        {"WATCHDOG_STATS_DB_INTERVAL": "500ms"},
        "WATCHDOG_STATS_DB_INTERVAL: must be 0 (off) or at least 1s (got 500ms)",
    ),
    case(
        "timeout-zero",
        {"WATCHDOG_TIMEOUT": "0s"},
        "WATCHDOG_TIMEOUT: must be more than 0s and at most 60s (got 0s)",
    ),
    case(
        "timeout-over-60s",
        {"WATCHDOG_TIMEOUT": "61"},
        "WATCHDOG_TIMEOUT: must be more than 0s and at most 60s (got 1m1s)",
    ),
    case(
        "listen-no-port",
        {"WATCHDOG_LISTEN": "0.0.0.0"},
        "WATCHDOG_LISTEN: expected host:port or [ipv6]:port, such as 0.0.0.0:9877 or "
        "[::]:9877 (got '0.0.0.0')",
    ),
    case(
        "listen-port-0",
        {"WATCHDOG_LISTEN": "0.0.0.0:0"},
        "WATCHDOG_LISTEN: port must be a number from 1 to 65535 (got '0')",
    ),
    case(
        "listen-port-70000",
        {"WATCHDOG_LISTEN": "[::]:70000"},
        "WATCHDOG_LISTEN: port must be a number from 1 to 65535 (got '70000')",
    ),
    case(
        "listen-unbracketed-ipv6",
        {"WATCHDOG_LISTEN": "::1:9877"},
        "WATCHDOG_LISTEN: expected host:port or [ipv6]:port, such as 0.0.0.0:9877 or "
        "[::]:9877 (got '::1:9877')",
    ),
    case(
        "listen-bad-ipv6",
        {"WATCHDOG_LISTEN": "[wa]:9877"},
        "WATCHDOG_LISTEN: 'wa' in brackets is not an IPv6 address (got '[wa]:9877')",
    ),
    case(
        "log-level",
        {"WATCHDOG_LOG_LEVEL": "verbose"},
        "WATCHDOG_LOG_LEVEL: must be one of debug, info, warning, error, critical (got 'verbose')",
    ),
    case(
        "log-format",
        {"WATCHDOG_LOG_FORMAT": "xml"},
        "WATCHDOG_LOG_FORMAT: must be one of auto, json, console (got 'xml')",
    ),
    case(
        "auth-mode",
        {"WATCHDOG_AUTH_MODE": "token"},
        "WATCHDOG_AUTH_MODE: must be one of apikey, bearer, auto (got 'token')",
    ),
    case(
        "tls-ca-file-missing",
        {"WATCHDOG_TLS_CA_FILE": "{tmp}/missing.pem"},
        "WATCHDOG_TLS_CA_FILE: cannot read {tmp}/missing.pem: No such file or directory",
    ),
    case(
        "tls-ca-file-directory",
        {"WATCHDOG_TLS_CA_FILE": "{tmp}"},
        "WATCHDOG_TLS_CA_FILE: {tmp} is a directory; expected a PEM file",
    ),
    case(
        "bool",
        {"WATCHDOG_TLS_INSECURE": "maybe"},
        "WATCHDOG_TLS_INSECURE: must be true or false (yes/no and 1/0 also work) (got 'maybe')",
    ),
    case(
        "alertmanager-url",
        {"WATCHDOG_ALERTMANAGER_URLS": "http://am:9093,ftp://am2:9093"},
        "WATCHDOG_ALERTMANAGER_URLS: URL 'ftp://am2:9093' must start with http:// or https://",
    ),
    case(
        "webhook-url-path-masked",
        {"WATCHDOG_WEBHOOK_URLS": "ftp://hooks.example/services/T0/B0/token"},
        "WATCHDOG_WEBHOOK_URLS: URL 'ftp://hooks.example/********' must start with http:// "
        "or https://",
    ),
    case(
        "shard-index-equals-count",
        {"WATCHDOG_SHARD": "3/3"},
        "WATCHDOG_SHARD: the shard index must be less than the count: 0/3 to 2/3 (got '3/3')",
    ),
    case(
        "shard-not-numbers",
        {"WATCHDOG_SHARD": "a/b"},
        "WATCHDOG_SHARD: expected i/n, the shard index and count, such as 0/3 (got 'a/b')",
    ),
    case(
        "shard-count-zero",
        {"WATCHDOG_SHARD": "1/0"},
        "WATCHDOG_SHARD: the shard count (after the /) must be at least 1 (got '1/0')",
    ),
    case(
        "password-file-missing",
        {"WA_WEB_PASSWORD_FILE": "{tmp}/missing"},
        "WA_WEB_PASSWORD_FILE: cannot read {tmp}/missing: No such file or directory",
    ),
    case(
        "empty-password",
        {"WA_WEB_PASSWORD": ""},
        "WA_WEB_PASSWORD: is empty; unset it or give the password",
    ),
    case(
        "external-url-scheme",
        {"WATCHDOG_EXTERNAL_URL": "watchdog.example:9877"},
        "WATCHDOG_EXTERNAL_URL: URL 'watchdog.example:9877' must start with http:// or https://",
    ),
    case(
        "external-url-userinfo",
        {"WATCHDOG_EXTERNAL_URL": "https://admin:pw@watchdog.example"},
        "WATCHDOG_EXTERNAL_URL: URL 'https://admin:********@watchdog.example' must not contain "
        "user:password@; it is put into every alert (generatorURL, externalURL), where "
        "everyone who gets the alert can read it",
    ),
    case(
        "external-url-query",
        {"WATCHDOG_EXTERNAL_URL": "https://watchdog.example/?token=x"},
        "WATCHDOG_EXTERNAL_URL: URL 'https://watchdog.example/?token=********' must not have a "
        "query string (?...)",
    ),
    case(
        "external-url-fragment",
        {"WATCHDOG_EXTERNAL_URL": "https://watchdog.example/#alerts"},
        "WATCHDOG_EXTERNAL_URL: URL 'https://watchdog.example/#alerts' must not have a "
        "fragment (#...)",
    ),
    case(
        "external-url-yaml-number",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/external-url.yaml"},
        "external_url in {tmp}/external-url.yaml: expected an http:// or https:// URL (got int)",
    ),
]


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert_messages(env, expected, tmp)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("15", 15.0),
        ("2.5", 2.5),
        (" 10s ", 10.0),
        ("0", 0.0),
        (15, 15.0),
        (2.5, 2.5),
    ],
)
def test_duration_forms(text: str | float, seconds: float) -> None:
    """Durations accept unit suffixes, compound forms and plain seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [0.0, 0.5, 1.0, 2.5, 15.0, 61.1, 90.0, 3600.0, 5400.0])
def test_formatted_durations_read_back(seconds: float) -> None:
    """format_duration's output parses back to the same number of seconds."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_duration_rejects_yaml_boolean() -> None:
    """A YAML boolean is not a duration, although bool is an int in Python."""
    with pytest.raises(ValueError, match="got a boolean"):
        parse_duration(True)


def test_defaults() -> None:
    """Unset settings take the documented defaults."""
    settings = load_settings(BASE)
    assert (settings.health_interval, settings.metrics_interval) == (15.0, 30.0)
    assert (settings.stats_app_interval, settings.stats_db_interval, settings.timeout) == (
        60.0,
        0.0,
        5.0,
    )
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9877)
    assert (settings.log_format, settings.log_level, settings.auth_mode) == (
        "auto",
        "info",
        "apikey",
    )
    assert (settings.shard_index, settings.shard_count) == (0, 1)
    assert settings.tls_insecure is False
    assert settings.tls_ca_file is None
    assert settings.alertmanager_urls == settings.webhook_urls == []


def test_env_durations_are_seconds(tmp: str) -> None:
    """Duration variables are stored as float seconds."""
    settings = load(tmp, WATCHDOG_METRICS_INTERVAL="1m30s", WATCHDOG_TIMEOUT="500ms")
    assert settings.metrics_interval == 90.0
    assert settings.timeout == 0.5


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/1", 0, 1), ("2/3", 2, 3), (" 1 / 4 ", 1, 4)]
)
def test_shard_parsing(tmp: str, text: str, index: int, count: int) -> None:
    """WATCHDOG_SHARD i/n gives shard_index and shard_count."""
    settings = load(tmp, WATCHDOG_SHARD=text)
    assert (settings.shard_index, settings.shard_count, settings.shard) == (
        index,
        count,
        f"{index}/{count}",
    )


@pytest.mark.parametrize(
    ("text", "host", "port", "listen"),
    [
        ("127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"),
        ("localhost:1", "localhost", 1, "localhost:1"),
        ("[::]:9877", "::", 9877, "[::]:9877"),
        ("[::1]:65535", "::1", 65535, "[::1]:65535"),
    ],
)
def test_listen_parsing(tmp: str, text: str, host: str, port: int, listen: str) -> None:
    """WATCHDOG_LISTEN host:port and [v6]:port give listen_host and listen_port."""
    settings = load(tmp, WATCHDOG_LISTEN=text)
    assert (settings.listen_host, settings.listen_port, settings.listen) == (host, port, listen)


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("YES", True), ("1", True), ("false", False), ("No", False), ("0", False)],
)
def test_booleans(tmp: str, text: str, value: bool) -> None:
    """Booleans accept true/false, yes/no and 1/0 in any case."""
    assert load(tmp, WATCHDOG_TLS_INSECURE=text).tls_insecure is value


def test_log_level_is_case_insensitive(tmp: str) -> None:
    """Log level and format are matched case-insensitively and stored lower-case."""
    settings = load(tmp, WATCHDOG_LOG_LEVEL="WARNING", WATCHDOG_LOG_FORMAT="Console")
    assert (settings.log_level, settings.log_format) == ("warning", "console")


def test_key_file_keeps_only_the_path(tmp: str) -> None:
    """WA_API_KEY_FILE is checked at load, but only its path is kept for re-reading."""
    settings = load(tmp, WA_API_KEY=None, WA_API_KEY_FILE="{tmp}/good.key")
    assert settings.api_key is None
    assert settings.api_key_file == Path(tmp) / "good.key"
    assert settings.targets[0].api_key_file == Path(tmp) / "good.key"
    assert read_api_key_file(f"{tmp}/good.key").get_secret_value() == KEY


def test_read_api_key_file_names_the_variable(tmp: str) -> None:
    """read_api_key_file raises ConfigError naming the variable it was asked about."""
    with pytest.raises(ConfigError) as info:
        read_api_key_file(f"{tmp}/short.key", variable="targets[0].api_key_file")
    assert info.value.messages == [
        f"targets[0].api_key_file: {tmp}/short.key holds 5 characters; an API key is 12 to 128 "
        "characters long (the content is not shown)"
    ]


def test_read_password_file_keeps_inner_spaces(tmp: str) -> None:
    """A password file loses only its line ending."""
    assert read_password_file(f"{tmp}/password").get_secret_value() == "pass word"


def test_external_url(tmp: str) -> None:
    """WATCHDOG_EXTERNAL_URL loses its trailing slash; empty means unset, as when not set."""
    settings = load(tmp, WATCHDOG_EXTERNAL_URL=" https://watchdog.example/wa/ ")
    assert settings.external_url == settings.status_url == "https://watchdog.example/wa"
    assert load(tmp, WATCHDOG_EXTERNAL_URL="").external_url is None
    assert load(tmp).external_url is None
    config = write_yaml(tmp, {"external_url": "http://wd.internal:9877"})
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config)
    assert settings.external_url == "http://wd.internal:9877"
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WATCHDOG_EXTERNAL_URL="https://wd.example")
    assert settings.external_url == "https://wd.example"


def test_status_url_defaults_to_host_name_and_listen_port(
    tmp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without external_url, the status page is http://<host name>:<listen port>."""
    monkeypatch.setattr("socket.gethostname", lambda: "watchdog-0")
    assert load(tmp, WATCHDOG_LISTEN="[::]:9100").status_url == "http://watchdog-0:9100"
    assert load(tmp).status_url == "http://watchdog-0:9877"
