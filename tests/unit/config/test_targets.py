"""Targets: the environment's and the file's forms, names, URLs, labels, and what a target
inherits from the global settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.config.support import (
    HEALTH_WHY,
    KEY,
    NAME_RULE,
    NO_TARGETS,
    assert_messages,
    case,
    fill,
    load,
    messages_of,
    write_yaml,
)
from watchdog.config.settings import Target

INVALID = [
    case(
        "target-url-with-userinfo",
        {"WATCHDOG_TARGETS": "prod=https://user:pw@wa.example"},
        "WATCHDOG_TARGETS: URL 'https://user:********@wa.example' must not contain "
        "user:password@; set the credentials with WA_API_KEY or WA_WEB_USERNAME/WA_WEB_PASSWORD",
    ),
    case(
        "target-name-space",
        {"WATCHDOG_TARGETS": "bad name=https://wa.example"},
        f"WATCHDOG_TARGETS: target name 'bad name' is invalid: {NAME_RULE}",
    ),
    case(
        "target-name-too-long",
        {"WATCHDOG_TARGETS": f"{'n' * 64}=https://wa.example"},
        f"WATCHDOG_TARGETS: target name '{'n' * 64}' is invalid: {NAME_RULE}",
    ),
    case(
        "target-name-from-ipv6-host",
        {"WATCHDOG_TARGETS": "http://[::1]:8080"},
        f"WATCHDOG_TARGETS: the URL's host '::1' cannot be a target name ({NAME_RULE}); "
        "give the target a name",
    ),
    case(
        "duplicate-names",
        {"WATCHDOG_TARGETS": "a=https://x.example,a=https://y.example"},
        "WATCHDOG_TARGETS: duplicate target name 'a': target names must be unique "
        "(a target without a name is named by its URL's host)",
    ),
    case(
        "duplicate-name-from-web-endpoint",
        {"WATCHDOG_TARGETS": "https://wa.example", "WA_WEB_ENDPOINT": "wa.example:443"},
        "WA_WEB_ENDPOINT: duplicate target name 'wa.example': target names must be unique "
        "(a target without a name is named by its URL's host)",
    ),
    case(
        "url-scheme",
        {"WATCHDOG_TARGETS": "a=ftp://wa.example"},
        "WATCHDOG_TARGETS: URL 'ftp://wa.example' must start with http:// or https://",
    ),
    case(
        "url-without-scheme",
        {"WATCHDOG_TARGETS": "wa.example:443"},
        "WATCHDOG_TARGETS: URL 'wa.example:443' must start with http:// or https://",
    ),
    case(
        "url-query",
        {"WATCHDOG_TARGETS": "a=https://wa.example/?debug=1"},
        "WATCHDOG_TARGETS: URL 'https://wa.example/?debug=********' must not have a query "
        "string (?...)",
    ),
    case(
        "url-fragment",
        {"WATCHDOG_TARGETS": "a=https://wa.example/#top"},
        "WATCHDOG_TARGETS: URL 'https://wa.example/#top' must not have a fragment (#...)",
    ),
    case(
        "url-no-host",
        {"WATCHDOG_TARGETS": "a=https://"},
        "WATCHDOG_TARGETS: URL 'https://' has no host",
    ),
    case(
        "web-endpoint-bad-port",
        {"WATCHDOG_TARGETS": None, "WA_WEB_ENDPOINT": "wa.example:99999"},
        "WA_WEB_ENDPOINT: URL 'https://wa.example:99999' has an invalid port (use 1-65535)",
    ),
    case("no-targets", {"WATCHDOG_TARGETS": None}, NO_TARGETS),
    case("targets-blank", {"WATCHDOG_TARGETS": " , "}, NO_TARGETS),
    case(
        "yaml-label-names",
        {"WATCHDOG_TARGETS": None, "WATCHDOG_CONFIG_FILE": "{tmp}/labels.yaml"},
        "targets[0].labels.__meta in {tmp}/labels.yaml: label name '__meta' must not start "
        "with '__', which Prometheus reserves",
        "targets[0].labels.target in {tmp}/labels.yaml: label name 'target' is reserved for "
        "the watchdog's own labels (target, node, endpoint, role, status, reason, version, "
        "api_status, alertname, severity, diagnosis, problem)",
        "targets[0].labels.9lives in {tmp}/labels.yaml: label name '9lives' is not a valid "
        "Prometheus label name (letters, digits and '_', not starting with a digit)",
    ),
    case(
        "yaml-target-options",
        {"WATCHDOG_TARGETS": None, "WATCHDOG_CONFIG_FILE": "{tmp}/target-options.yaml"},
        "timeout in {tmp}/target-options.yaml: must be more than 0s and at most 60s (got 1m30s)",
        f"targets[1].health_interval in {{tmp}}/target-options.yaml: must be at least 6s, "
        f"{HEALTH_WHY} (got 2s)",
        "targets[1].stats_db_interval in {tmp}/target-options.yaml: must be 0 (off) or at "
        "least 1s (got 300ms)",
    ),
    case(
        "yaml-options-of-env-target",
        {
            "WATCHDOG_TARGETS": "b=https://wa-b2.example",
            "WATCHDOG_TIMEOUT": "10s",
            "WATCHDOG_CONFIG_FILE": "{tmp}/target-options.yaml",
        },
        f"targets[1].health_interval in {{tmp}}/target-options.yaml: must be at least 6s, "
        f"{HEALTH_WHY} (got 2s)",
        "targets[1].stats_db_interval in {tmp}/target-options.yaml: must be 0 (off) or at "
        "least 1s (got 300ms)",
    ),
    case(
        "yaml-target-shape",
        {"WATCHDOG_TARGETS": None, "WATCHDOG_CONFIG_FILE": "{tmp}/target-shape.yaml"},
        "targets[1].api_key in {tmp}/target-shape.yaml: unknown key; a target's own API key "
        "must come from a file: use api_key_file",
        "targets[1].colour in {tmp}/target-shape.yaml: unknown key; known keys: name, url, "
        "kind, phone_number_id, waba_id, health_interval, metrics_interval, stats_app_interval, "
        "stats_db_interval, waba_interval, token_interval, graph_version, timeout, tls_ca_file, "
        "tls_insecure, labels, api_key_file, username, password_file, access_token_file, "
        "app_token_file",
        "targets[2] in {tmp}/target-shape.yaml: expected a mapping with at least a url (got int)",
        "targets[0].url in {tmp}/target-shape.yaml: required, but not set",
    ),
]


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert_messages(env, expected, tmp)


def test_target_env_forms(tmp: str) -> None:
    """Named and bare URLs, trailing slash removed, path prefix kept, bare URL named by host."""
    settings = load(
        tmp,
        WATCHDOG_TARGETS=" prod=https://wa-prod.example:443/ , http://wa-stage.example/api/ ,",
    )
    assert [(t.name, t.url) for t in settings.targets] == [
        ("prod", "https://wa-prod.example:443"),
        ("wa-stage.example", "http://wa-stage.example/api"),
    ]


def test_web_endpoint_becomes_https_target(tmp: str) -> None:
    """WA_WEB_ENDPOINT host:port is an https target named by its host, added to the others."""
    settings = load(tmp, WA_WEB_ENDPOINT="wa-web.example:9090")
    assert [(t.name, t.url) for t in settings.targets] == [
        ("prod", "https://wa-prod.example"),
        ("wa-web.example", "https://wa-web.example:9090"),
    ]


def test_web_endpoint_full_url_is_kept(tmp: str) -> None:
    """A WA_WEB_ENDPOINT with a scheme is used as the URL as given."""
    settings = load(tmp, WATCHDOG_TARGETS=None, WA_WEB_ENDPOINT="http://wa-web.example:8080")
    assert [t.url for t in settings.targets] == ["http://wa-web.example:8080"]


def test_targets_inherit_global_values(tmp: str) -> None:
    """A target without its own options carries the global ones."""
    settings = load(
        tmp,
        WATCHDOG_HEALTH_INTERVAL="20s",
        WATCHDOG_TIMEOUT="3s",
        WATCHDOG_TLS_INSECURE="yes",
        WATCHDOG_TLS_CA_FILE="{tmp}/ca.pem",
    )
    target = settings.targets[0]
    assert (target.health_interval, target.timeout, target.tls_insecure) == (20.0, 3.0, True)
    assert target.tls_ca_file == Path(tmp) / "ca.pem"
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == KEY


def test_yaml_target_overrides_and_inherits(tmp: str) -> None:
    """YAML per-target options override the globals; unset ones inherit them."""
    config = write_yaml(
        tmp,
        {
            "health_interval": "20s",
            "timeout": 4,
            "targets": [
                {
                    "url": "https://wa-a.example",
                    "health_interval": "1m",
                    "labels": {"team": "core", "dc": 1},
                    "api_key_file": f"{tmp}/good.key",
                },
                {"name": "b", "url": "https://wa-b.example", "timeout": None},
            ],
        },
    )
    settings = load(tmp, WATCHDOG_TARGETS=None, WATCHDOG_CONFIG_FILE=config)
    first, second = settings.targets
    assert (first.name, first.health_interval, first.timeout) == ("wa-a.example", 60.0, 4.0)
    assert first.labels == {"team": "core", "dc": "1"}
    # A target's own key file replaces the global key; the other keeps the global one.
    assert (first.api_key, first.api_key_file) == (None, Path(tmp) / "good.key")
    assert (second.health_interval, second.timeout, second.api_key_file) == (20.0, 4.0, None)


def test_env_targets_keep_yaml_options_of_same_name(tmp: str) -> None:
    """Env targets decide what exists and the URLs; same-name YAML options are kept."""
    config = write_yaml(
        tmp,
        {
            "targets": [
                {"name": "prod", "url": "https://old.example", "timeout": "2s"},
                {"name": "yaml-only", "url": "https://yaml-only.example"},
                {"url": "https://wa-web.example", "labels": {"site": "b"}},
            ]
        },
    )
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WA_WEB_ENDPOINT="wa-web.example:9090")
    assert [(t.name, t.url, t.timeout, t.labels) for t in settings.targets] == [
        ("prod", "https://wa-prod.example", 2.0, {}),
        ("wa-web.example", "https://wa-web.example:9090", 5.0, {"site": "b"}),
    ]


def test_yaml_targets_and_web_endpoint_both_contribute(tmp: str) -> None:
    """In the file, targets and web_endpoint add up, like their variables."""
    config = write_yaml(
        tmp,
        {"web_endpoint": "wa-web.example:443", "targets": ["a=https://wa-a.example"]},
    )
    settings = load(tmp, WATCHDOG_TARGETS=None, WATCHDOG_CONFIG_FILE=config)
    assert [t.name for t in settings.targets] == ["a", "wa-web.example"]


def test_every_target_with_own_key_file_satisfies_apikey_mode(tmp: str) -> None:
    """Without a global key, apikey mode is satisfied when each target has api_key_file."""
    config = write_yaml(
        tmp, {"targets": [{"url": "https://wa-a.example", "api_key_file": f"{tmp}/good.key"}]}
    )
    settings = load(tmp, WA_API_KEY=None, WATCHDOG_TARGETS=None, WATCHDOG_CONFIG_FILE=config)
    assert settings.targets[0].api_key_file == Path(tmp) / "good.key"


def test_target_without_own_key_file_is_named_when_key_missing(tmp: str) -> None:
    """When only some targets have a key file, the message names those without one."""
    config = write_yaml(
        tmp,
        {
            "targets": [
                {"url": "https://wa-a.example", "api_key_file": f"{tmp}/good.key"},
                {"url": "https://wa-b.example"},
            ]
        },
    )
    env = fill({"WATCHDOG_CONFIG_FILE": config}, tmp)
    assert messages_of(env) == [
        "WA_API_KEY: not set; auth mode 'apikey' needs an API key: set WA_API_KEY or "
        "WA_API_KEY_FILE (or api_key_file in the config file for targets wa-b.example)"
    ]


def test_bearer_with_username_and_password_file(tmp: str) -> None:
    """Bearer mode needs no API key; targets inherit the user name and password file."""
    settings = load(
        tmp,
        WA_API_KEY=None,
        WATCHDOG_AUTH_MODE="BEARER",
        WA_WEB_USERNAME="admin",
        WA_WEB_PASSWORD_FILE="{tmp}/password",
    )
    target = settings.targets[0]
    assert settings.auth_mode == "bearer"
    assert (target.username, target.password_file) == ("admin", Path(tmp) / "password")


def test_target_alone_uses_defaults_and_host_name() -> None:
    """A Target built directly is named by its host and takes the global defaults."""
    target = Target(url="https://wa.example:8443/")
    assert (target.name, target.url, target.health_interval, target.timeout) == (
        "wa.example",
        "https://wa.example:8443",
        15.0,
        5.0,
    )
