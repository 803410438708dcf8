"""Where values come from: the environment over the YAML file, the config file itself, and
problems between settings (credentials, auth mode), all reported together."""

from __future__ import annotations

import pytest

from tests.unit.config.support import (
    BASE,
    assert_messages,
    case,
    load,
    write_yaml,
)
from watchdog.base.errors import ConfigError
from watchdog.config.settings import load_settings

INVALID = [
    case(
        "key-and-key-file",
        {"WA_API_KEY_FILE": "{tmp}/good.key"},
        "WA_API_KEY_FILE: set together with WA_API_KEY; set only one of them",
    ),
    case(
        "apikey-without-key",
        {"WA_API_KEY": None},
        "WA_API_KEY: not set; auth mode 'apikey' needs an API key: set WA_API_KEY or "
        "WA_API_KEY_FILE",
    ),
    case(
        "auto-without-key",
        {"WA_API_KEY": None, "WATCHDOG_AUTH_MODE": "auto"},
        "WA_API_KEY: not set; auth mode 'auto' needs an API key: set WA_API_KEY or WA_API_KEY_FILE",
    ),
    case(
        "bearer-without-username-and-password",
        {"WATCHDOG_AUTH_MODE": "bearer"},
        "WA_WEB_USERNAME: not set; auth mode 'bearer' needs a user name and a password: "
        "set WA_WEB_USERNAME",
        "WA_WEB_PASSWORD: not set; auth mode 'bearer' needs a user name and a password: "
        "set WA_WEB_PASSWORD or WA_WEB_PASSWORD_FILE",
    ),
    case(
        "bearer-without-password",
        {"WATCHDOG_AUTH_MODE": "bearer", "WA_WEB_USERNAME": "admin"},
        "WA_WEB_PASSWORD: not set; auth mode 'bearer' needs a user name and a password: "
        "set WA_WEB_PASSWORD or WA_WEB_PASSWORD_FILE",
    ),
    case(
        "password-and-password-file",
        {"WA_WEB_PASSWORD": "pw", "WA_WEB_PASSWORD_FILE": "{tmp}/password"},
        "WA_WEB_PASSWORD_FILE: set together with WA_WEB_PASSWORD; set only one of them",
    ),
    case(
        "config-file-missing",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/nope.yaml"},
        "WATCHDOG_CONFIG_FILE: {tmp}/nope.yaml does not exist",
    ),
    case(
        "config-file-not-mapping",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/list.yaml"},
        "WATCHDOG_CONFIG_FILE: {tmp}/list.yaml must be a mapping of settings "
        "(key: value lines), not a list",
    ),
    case(
        "config-file-syntax",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/broken.yaml"},
        "WATCHDOG_CONFIG_FILE: invalid YAML in {tmp}/broken.yaml at line 2, column 10: "
        "mapping values are not allowed here",
    ),
    case(
        "config-file-unknown-keys",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/unknown.yaml"},
        "healthinterval in {tmp}/unknown.yaml: unknown key; did you mean 'health_interval'?",
        "WATCHDOG_TIMEOUT in {tmp}/unknown.yaml: unknown key; in the file, WATCHDOG_TIMEOUT "
        "is called 'timeout'",
        "foo in {tmp}/unknown.yaml: unknown key; known keys: api_key, api_key_file, "
        "web_username, web_password, web_password_file, auth_mode, health_interval, "
        "metrics_interval, stats_app_interval, stats_db_interval, cloud_access_token, "
        "cloud_access_token_file, cloud_app_token, cloud_app_token_file, cloud_health_interval, "
        "cloud_waba_interval, cloud_token_interval, graph_version, timeout, tls_ca_file, "
        "tls_insecure, listen, tls_cert_file, tls_key_file, basic_auth_users, bearer_token_file, "
        "external_url, history, log_format, log_level, alertmanager_urls, webhook_urls, shard, "
        "targets, web_endpoint, cloud_targets, alerts",
    ),
    case(
        "yaml-scalars",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/scalars.yaml"},
        "timeout in {tmp}/scalars.yaml: must be more than 0s and at most 60s (got 0s)",
        "tls_insecure in {tmp}/scalars.yaml: must be true or false (yes/no and 1/0 also work) "
        "(got 'maybe')",
        "alertmanager_urls[1] in {tmp}/scalars.yaml: URL 'am2' must start with http:// or https://",
    ),
    case(
        "history-shorter-than-the-page",
        {"WATCHDOG_HISTORY": "30m"},
        "WATCHDOG_HISTORY: must be from 1h (the hour the status page draws) to 168h (got 30m)",
    ),
    case(
        "history-over-a-week",
        {"WATCHDOG_HISTORY": "200h"},
        "WATCHDOG_HISTORY: must be from 1h (the hour the status page draws) to 168h (got 200h)",
    ),
]


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert_messages(env, expected, tmp)


def test_several_problems_are_reported_together() -> None:
    """Independent problems are all reported in one ConfigError, one message each."""
    env = {
        "WA_API_KEY": "short",
        "WATCHDOG_TARGETS": "a=ftp://x",
        "WATCHDOG_TIMEOUT": "0",
        "WATCHDOG_SHARD": "3/3",
    }
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert len(info.value.messages) == 4
    assert str(info.value) == "\n".join(info.value.messages)
    assert [message.split(":")[0] for message in info.value.messages] == [
        "WA_API_KEY",
        "WATCHDOG_TIMEOUT",
        "WATCHDOG_SHARD",
        "WATCHDOG_TARGETS",
    ]


def test_env_wins_over_yaml_for_scalars(tmp: str) -> None:
    """A variable set in the environment overrides the same key in the file."""
    config = write_yaml(tmp, {"timeout": "3s", "log_level": "debug", "listen": "[::1]:9000"})
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WATCHDOG_TIMEOUT="7s")
    assert settings.timeout == 7.0
    assert settings.log_level == "debug"
    assert (settings.listen_host, settings.listen_port) == ("::1", 9000)


@pytest.mark.parametrize(("value", "seconds"), [("2h", 7200.0), ("1h", 3600.0), ("168h", 604800.0)])
def test_history_is_a_duration_from_an_hour_to_a_week(tmp: str, value: str, seconds: float) -> None:
    """WATCHDOG_HISTORY: how far back every poll's result is kept (24 h unless set)."""
    assert load(tmp, WATCHDOG_HISTORY=value).history == seconds
    assert load(tmp).history == 86400.0


def test_yaml_lists_and_env_comma_lists(tmp: str) -> None:
    """URL lists are comma-separated in env, lists in YAML; an empty variable is no URLs."""
    config = write_yaml(tmp, {"alertmanager_urls": ["http://am-1:9093/", "http://am-2:9093"]})
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WATCHDOG_WEBHOOK_URLS="")
    assert settings.alertmanager_urls == ["http://am-1:9093", "http://am-2:9093"]
    assert settings.webhook_urls == []
    settings = load(tmp, WATCHDOG_WEBHOOK_URLS="https://a.example/x, https://b.example/y?k=v")
    assert settings.webhook_urls == ["https://a.example/x", "https://b.example/y?k=v"]


def test_no_targets_allowed_when_not_required() -> None:
    """require_targets=False accepts no targets, and then needs no credentials either."""
    settings = load_settings({}, require_targets=False)
    assert settings.targets == []


def test_unprefixed_variables_are_ignored() -> None:
    """Only the documented names are read: API_KEY, TARGETS, TIMEOUT... change nothing."""
    env = {
        **BASE,
        "API_KEY": "x",
        "TARGETS": "x",
        "TIMEOUT": "x",
        "HEALTH_INTERVAL": "x",
        "LISTEN": "x",
        "WEB_ENDPOINT": "x",
        "WATCHDOG_SIM_SCENARIO": "overload",
    }
    settings = load_settings(env)
    assert settings == load_settings(BASE)
