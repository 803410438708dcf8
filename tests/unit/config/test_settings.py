"""Configuration: parsing, inheritance, env-over-YAML, exact messages and secret hygiene."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from watchdog.alerts.rules import RULES, Params
from watchdog.api.gateways import Expectation
from watchdog.config.alerts import GatewayDownSettings, RateLimitSpikeSettings
from watchdog.config.durations import format_duration, parse_duration
from watchdog.config.settings import (
    ALERT_RULES,
    AlertSettings,
    ConfigError,
    Settings,
    Target,
    load_settings,
    read_api_key_file,
    read_password_file,
)

KEY = "k3y-0123456789abcdef"
BASE = {"WA_API_KEY": KEY, "WATCHDOG_TARGETS": "prod=https://wa-prod.example"}
HEALTH_WHY = "because the health endpoint allows only 10 calls per 60 s shared by all callers"
DURATION_HINT = "a duration such as 15s, 2m, 1h, 500ms, 1m30s or plain seconds (15, 2.5)"
NAME_RULE = "use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"
NO_TARGETS = (
    "WATCHDOG_TARGETS: no targets to monitor; set WATCHDOG_TARGETS (name=url,name2=url2 or "
    "bare URLs) or WA_WEB_ENDPOINT (host:port), or list targets in the config file"
)

# Files the cases below refer to as {tmp}/<name>; written fresh for every test.
FILES = {
    "good.key": f"  {KEY}\n",
    "short.key": "short\n",
    "empty.key": "\n",
    "password": "pass word\n",
    "ca.pem": "-----BEGIN CERTIFICATE-----\n",
    "unknown.yaml": "healthinterval: 20s\nWATCHDOG_TIMEOUT: 3s\nfoo: 1\n",
    "list.yaml": "- timeout: 5s\n",
    "broken.yaml": "timeout: 5s\nlisten: a: b\n",
    "labels.yaml": (
        "targets:\n"
        "  - url: https://wa-a.example\n"
        "    labels: {team: core, __meta: x, target: y, 9lives: z}\n"
    ),
    "target-options.yaml": (
        "timeout: 1m30s\n"
        "targets:\n"
        "  - name: a\n"
        "    url: https://wa-a.example\n"
        "  - name: b\n"
        "    url: https://wa-b.example\n"
        "    health_interval: 2s\n"
        "    stats_db_interval: 300ms\n"
    ),
    "target-shape.yaml": (
        "targets:\n"
        "  - name: a\n"
        "  - url: https://wa-b.example\n"
        "    api_key: inline-keys-are-refused\n"
        "    colour: blue\n"
        "  - 42\n"
    ),
    "scalars.yaml": "timeout: 0\ntls_insecure: maybe\nalertmanager_urls: [http://am:9093, am2]\n",
    "key-in-yaml.yaml": f"api_key_file: {{tmp}}/good.key\napi_key: {KEY}\n",
    "alerts-list.yaml": "alerts: [overloaded]\n",
    "alerts-rule-typo.yaml": "alerts:\n  overload: {for: 1m}\n",
    "alerts-alertname.yaml": "alerts:\n  WhatsAppGatewayDown: {for: 1m}\n",
    "alerts-rule-unknown.yaml": "alerts:\n  disk_full: {enabled: false}\n",
    "alerts-rule-scalar.yaml": "alerts:\n  queue_backlog: false\n",
    "alerts-key-typo.yaml": "alerts:\n  overloaded: {for_: 1m}\n",
    "alerts-key-of-other-rule.yaml": "alerts:\n  overloaded: {threshold: 3}\n",
    "alerts-env-name.yaml": "WATCHDOG_ALERT_UNREACHABLE_FOR: 1m\n",
    "alerts-values.yaml": (
        "alerts:\n"
        "  unreachable: {for: 2h, enabled: maybe}\n"
        "  rate_limit_spike: {window: 5, threshold: 2.5, ratio: 1.5}\n"
        "  gateway_down: {expected_shards: true}\n"
    ),
    "external-url.yaml": "external_url: 8080\n",
}


# The watchdog's own endpoints: a certificate with its key, another key, an encrypted key, and
# bcrypt hashes (made once here: at cost 10 each takes a tenth of a second).
_SERVER = trustme.CA().issue_cert("localhost")
_OTHER_KEY = trustme.CA().issue_cert("localhost").private_key_pem.bytes().decode()
_ENCRYPTED_KEY = (
    serialization.load_pem_private_key(_SERVER.private_key_pem.bytes(), None)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    .decode()
)
HASH_10 = "$2b$10$.BssQQzifYYZU08AzWa2TuMLsqybiXjDYKKolIyWkopPDUY5ZJ4J2"
HASH_4 = "$2b$04$zOjtE1pi.OksZsKq4kGs4eYynnzN44yQvYYINi3kRK0clbd7qmXii"
MAKE_HASH = (
    "make one with: python -c 'import bcrypt; "
    'print(bcrypt.hashpw(b"secret", bcrypt.gensalt()).decode())\''
)
TLS_BOTH = "HTTPS needs both the certificate and its private key"
FILES |= {
    "server.crt": _SERVER.cert_chain_pems[0].bytes().decode(),
    "server.key": _SERVER.private_key_pem.bytes().decode(),
    "other.key": _OTHER_KEY,
    "encrypted.key": _ENCRYPTED_KEY,
    "damaged.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "damaged.key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    "token": "tok-0123456789abcdef\n",
    "short.token": "tok-0123\n",
    "spaced.token": "tok 0123456789 abcdef\n",
    "tls-key-only.yaml": "tls_key_file: {tmp}/server.key\n",
    "tls-mismatch.yaml": "tls_cert_file: {tmp}/server.crt\ntls_key_file: {tmp}/other.key\n",
    "users-list.yaml": "basic_auth_users: [alice, bob]\n",
    "users-values.yaml": (
        "basic_auth_users:\n"
        f"  alice: '{HASH_10}'\n"
        "  bob: 12345\n"
        "  'carol:x': '$2b$10$xyz'\n"
        "  dave: hunter2-plaintext\n"
    ),
}


def case(case_id: str, env: Mapping[str, str | None], *messages: str) -> Any:
    """A table row: BASE updated with ``env`` (None removes a variable) and its messages."""
    merged = {**BASE, **env}
    return pytest.param(
        {key: value for key, value in merged.items() if value is not None},
        list(messages),
        id=case_id,
    )


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
        "target-url-with-userinfo",
        {"WATCHDOG_TARGETS": "prod=https://user:pw@wa.example"},
        "WATCHDOG_TARGETS: URL 'https://user:********@wa.example' must not contain "
        "user:password@; set the credentials with WA_API_KEY or WA_WEB_USERNAME/WA_WEB_PASSWORD",
    ),
    case(
        "key-and-key-file",
        {"WA_API_KEY_FILE": "{tmp}/good.key"},
        "WA_API_KEY_FILE: set together with WA_API_KEY; set only one of them",
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
        "metrics_interval, stats_app_interval, stats_db_interval, timeout, tls_ca_file, "
        "tls_insecure, listen, tls_cert_file, tls_key_file, basic_auth_users, bearer_token_file, "
        "external_url, log_format, log_level, alertmanager_urls, webhook_urls, shard, targets, "
        "web_endpoint, alerts",
    ),
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
        "health_interval, metrics_interval, stats_app_interval, stats_db_interval, timeout, "
        "tls_ca_file, tls_insecure, labels, api_key_file, username, password_file",
        "targets[2] in {tmp}/target-shape.yaml: expected a mapping with at least a url (got int)",
        "targets[0].url in {tmp}/target-shape.yaml: required, but not set",
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
    case(
        "alert-enabled-not-bool",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED": "off"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED: must be true or false (yes/no and 1/0 also work) "
        "(got 'off')",
    ),
    case(
        "alert-for-over-1h",
        {"WATCHDOG_ALERT_OVERLOADED_FOR": "61m"},
        "WATCHDOG_ALERT_OVERLOADED_FOR: must be at most 1h (got 1h1m)",
    ),
    case(
        "alert-for-negative",
        {"WATCHDOG_ALERT_NOT_REGISTERED_FOR": "-1m"},
        "WATCHDOG_ALERT_NOT_REGISTERED_FOR: must not be negative (got '-1m')",
    ),
    case(
        "alert-keep-firing-for-word",
        {"WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR": "long"},
        f"WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR: expected {DURATION_HINT} (got 'long')",
    ),
    case(
        "alert-keep-firing-for-over-1h",
        {"WATCHDOG_ALERT_GATEWAY_DOWN_KEEP_FIRING_FOR": "2h"},
        "WATCHDOG_ALERT_GATEWAY_DOWN_KEEP_FIRING_FOR: must be at most 1h (got 2h)",
    ),
    case(
        "alert-for-empty",
        {"WATCHDOG_ALERT_UNREACHABLE_FOR": ""},
        f"WATCHDOG_ALERT_UNREACHABLE_FOR: is empty; expected {DURATION_HINT}",
    ),
    case(
        "alert-window-under-10s",
        {"WATCHDOG_ALERT_OVERLOADED_WINDOW": "5s"},
        "WATCHDOG_ALERT_OVERLOADED_WINDOW: must be at least 10s and at most 1h (got 5s)",
    ),
    case(
        "alert-window-over-1h",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW": "90m"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW: must be at least 10s and at most 1h (got 1h30m)",
    ),
    case(
        "alert-threshold-zero",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD": "0"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD: must be at least 1 (got 0)",
    ),
    case(
        "alert-threshold-not-whole",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD": "2.5"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD: expected a whole number (got '2.5')",
    ),
    case(
        "alert-ratio-zero",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "0"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share such "
        "as 0.05 for 5% (got 0)",
    ),
    case(
        "alert-ratio-percent",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "5%"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: expected a share such as 0.05 for 5% (got '5%')",
    ),
    case(
        "alert-ratio-nan",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "nan"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share such "
        "as 0.05 for 5% (got nan)",
    ),
    case(
        "alert-expected-shards-negative",
        {"WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS": "-1"},
        "WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS: must be at least 0 (got -1); 0 means the "
        "number of coreapps seen connected at the first health answer",
    ),
    case(
        "alert-pending-messages-zero",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_PENDING_MESSAGES": "0"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_PENDING_MESSAGES: must be at least 1 (got 0)",
    ),
    case(
        "alert-callback-queue-size-word",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_CALLBACK_QUEUE_SIZE": "many"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_CALLBACK_QUEUE_SIZE: expected a whole number (got 'many')",
    ),
    case(
        "alert-env-param-typo",
        {"WATCHDOG_ALERT_OVERLOADED_WINDOWS": "30s"},
        "WATCHDOG_ALERT_OVERLOADED_WINDOWS: unknown variable; did you mean "
        "'WATCHDOG_ALERT_OVERLOADED_WINDOW'?",
    ),
    case(
        "alert-env-param-of-other-rule",
        {"WATCHDOG_ALERT_OVERLOADED_THRESHOLD": "3"},
        "WATCHDOG_ALERT_OVERLOADED_THRESHOLD: unknown variable; the parameters of OVERLOADED "
        "are ENABLED, FOR, KEEP_FIRING_FOR, WINDOW",
    ),
    case(
        "alert-env-rule-typo",
        {"WATCHDOG_ALERT_GATEWAY_EXPECTED_SHARDS": "2"},
        "WATCHDOG_ALERT_GATEWAY_EXPECTED_SHARDS: unknown variable; did you mean "
        "'WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS'?",
    ),
    case(
        "alert-env-rule-without-param",
        {"WATCHDOG_ALERT_UNREACHABLE": "false"},
        "WATCHDOG_ALERT_UNREACHABLE: unknown variable; name a parameter too: "
        "WATCHDOG_ALERT_UNREACHABLE_<PARAM> with PARAM one of ENABLED, FOR, KEEP_FIRING_FOR",
    ),
    case(
        "alert-env-plural-prefix",
        {"WATCHDOG_ALERTS_UNREACHABLE_FOR": "1m"},
        "WATCHDOG_ALERTS_UNREACHABLE_FOR: unknown variable; did you mean "
        "'WATCHDOG_ALERT_UNREACHABLE_FOR'?",
    ),
    case(
        "alert-env-lower-case",
        {"WATCHDOG_ALERT_unreachable_for": "1m"},
        "WATCHDOG_ALERT_unreachable_for: unknown variable; did you mean "
        "'WATCHDOG_ALERT_UNREACHABLE_FOR'?",
    ),
    case(
        "alert-env-unknown-rule",
        {"WATCHDOG_ALERT_DISK_FULL": "true"},
        "WATCHDOG_ALERT_DISK_FULL: unknown variable; alert variables are "
        "WATCHDOG_ALERT_<RULE>_<PARAM> with RULE one of OVERLOADED, RATE_LIMIT_SPIKE, "
        "HEALTH_FAILING, GATEWAY_DOWN, GATEWAY_DEGRADED, UNREACHABLE, AUTH_REJECTED, "
        "NOT_REGISTERED, QUEUE_BACKLOG",
    ),
    case(
        "alerts-yaml-not-mapping",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-list.yaml"},
        "alerts in {tmp}/alerts-list.yaml: expected a mapping of alert rules to their settings, "
        "such as {overloaded: {for: 30s}} (got list)",
    ),
    case(
        "alerts-yaml-rule-typo",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-typo.yaml"},
        "alerts.overload in {tmp}/alerts-rule-typo.yaml: unknown alert rule; did you mean "
        "'overloaded'?",
    ),
    case(
        "alerts-yaml-alertname-as-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-alertname.yaml"},
        "alerts.WhatsAppGatewayDown in {tmp}/alerts-alertname.yaml: unknown alert rule; in the "
        "file, WhatsAppGatewayDown is called 'gateway_down'",
    ),
    case(
        "alerts-yaml-unknown-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-unknown.yaml"},
        "alerts.disk_full in {tmp}/alerts-rule-unknown.yaml: unknown alert rule; known rules: "
        "overloaded, rate_limit_spike, health_failing, gateway_down, gateway_degraded, "
        "unreachable, auth_rejected, not_registered, queue_backlog",
    ),
    case(
        "alerts-yaml-rule-not-mapping",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-scalar.yaml"},
        "alerts.queue_backlog in {tmp}/alerts-rule-scalar.yaml: expected a mapping of the "
        "rule's settings, such as {enabled: false} (got bool)",
    ),
    case(
        "alerts-yaml-key-typo",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-key-typo.yaml"},
        "alerts.overloaded.for_ in {tmp}/alerts-key-typo.yaml: unknown key; did you mean 'for'?",
    ),
    case(
        "alerts-yaml-key-of-other-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-key-of-other-rule.yaml"},
        "alerts.overloaded.threshold in {tmp}/alerts-key-of-other-rule.yaml: unknown key; "
        "known keys: enabled, for, keep_firing_for, window",
    ),
    case(
        "alerts-yaml-env-name",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-env-name.yaml"},
        "WATCHDOG_ALERT_UNREACHABLE_FOR in {tmp}/alerts-env-name.yaml: unknown key; in the "
        "file, WATCHDOG_ALERT_UNREACHABLE_FOR is called 'alerts.unreachable.for'",
    ),
    case(
        "alerts-yaml-values",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-values.yaml"},
        "alerts.rate_limit_spike.window in {tmp}/alerts-values.yaml: must be at least 10s and "
        "at most 1h (got 5s)",
        "alerts.rate_limit_spike.threshold in {tmp}/alerts-values.yaml: expected a whole number "
        "(got 2.5)",
        "alerts.rate_limit_spike.ratio in {tmp}/alerts-values.yaml: must be more than 0 and at "
        "most 1, a share such as 0.05 for 5% (got 1.5)",
        "alerts.gateway_down.expected_shards in {tmp}/alerts-values.yaml: expected a whole "
        "number (got a boolean)",
        "alerts.unreachable.enabled in {tmp}/alerts-values.yaml: must be true or false (yes/no "
        "and 1/0 also work) (got 'maybe')",
        "alerts.unreachable.for in {tmp}/alerts-values.yaml: must be at most 1h (got 2h)",
    ),
    case(
        "tls-cert-without-key",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt"},
        f"WATCHDOG_TLS_CERT_FILE: set without WATCHDOG_TLS_KEY_FILE; {TLS_BOTH}",
    ),
    case(
        "tls-key-without-cert",
        {"WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key"},
        f"WATCHDOG_TLS_KEY_FILE: set without WATCHDOG_TLS_CERT_FILE; {TLS_BOTH}",
    ),
    case(
        "tls-key-in-yaml-cert-nowhere",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/tls-key-only.yaml"},
        f"tls_key_file in {{tmp}}/tls-key-only.yaml: set without WATCHDOG_TLS_CERT_FILE; "
        f"{TLS_BOTH}",
    ),
    case(
        "tls-cert-file-missing",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/missing.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key",
        },
        "WATCHDOG_TLS_CERT_FILE: cannot read {tmp}/missing.crt: No such file or directory",
    ),
    case(
        "tls-key-file-is-directory",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}"},
        "WATCHDOG_TLS_KEY_FILE: {tmp} is a directory; expected a PEM file",
    ),
    case(
        "tls-cert-not-pem",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/password", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key"},
        "WATCHDOG_TLS_CERT_FILE: {tmp}/password holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----)",
    ),
    case(
        "tls-files-swapped",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.key", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.crt"},
        "WATCHDOG_TLS_CERT_FILE: {tmp}/server.key holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----); it holds a private key: are the certificate and key "
        "files swapped?",
    ),
    case(
        "tls-key-is-a-certificate",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.crt"},
        "WATCHDOG_TLS_KEY_FILE: {tmp}/server.crt holds no PEM private key "
        "(-----BEGIN PRIVATE KEY-----); it holds a certificate: are the certificate and key "
        "files swapped?",
    ),
    case(
        "tls-cert-damaged",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/damaged.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/server.key",
        },
        "WATCHDOG_TLS_CERT_FILE: {tmp}/damaged.crt holds a certificate that cannot be read "
        "(damaged PEM data)",
    ),
    case(
        "tls-key-damaged",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/damaged.key",
        },
        "WATCHDOG_TLS_KEY_FILE: {tmp}/damaged.key holds a private key that cannot be read "
        "(damaged PEM data)",
    ),
    case(
        "tls-key-of-another-certificate",
        {"WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt", "WATCHDOG_TLS_KEY_FILE": "{tmp}/other.key"},
        "WATCHDOG_TLS_KEY_FILE: {tmp}/other.key is not the private key of the certificate in "
        "{tmp}/server.crt",
    ),
    case(
        "tls-key-mismatch-in-yaml",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/tls-mismatch.yaml"},
        "tls_key_file in {tmp}/tls-mismatch.yaml: {tmp}/other.key is not the private key of the "
        "certificate in {tmp}/server.crt",
    ),
    case(
        "tls-key-encrypted",
        {
            "WATCHDOG_TLS_CERT_FILE": "{tmp}/server.crt",
            "WATCHDOG_TLS_KEY_FILE": "{tmp}/encrypted.key",
        },
        "WATCHDOG_TLS_KEY_FILE: {tmp}/encrypted.key holds an encrypted private key, and the "
        "watchdog has no passphrase to give: decrypt it (openssl pkey -in {tmp}/encrypted.key "
        "-out key.pem) and keep that file readable only by the watchdog",
    ),
    case(
        "basic-auth-plaintext-password",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:hunter2-plaintext"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': expected a bcrypt hash starting with $2a$, "
        "$2b$ or $2y$, not a password (the value is not shown; in a shell, put the hash in "
        f"single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "basic-auth-hash-expanded-by-shell",
        # "alice:$2b$10$..." in double quotes: the shell leaves "alice:b0..." behind.
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:b0" + HASH_10[7:]},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': expected a bcrypt hash starting with $2a$, "
        "$2b$ or $2y$, not a password (the value is not shown; in a shell, put the hash in "
        f"single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "basic-auth-hash-truncated",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:" + HASH_10[:-1]},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': not a complete bcrypt hash: $2b$, a two-digit "
        f"cost, $, then 53 characters of salt and hash (the value is not shown); {MAKE_HASH}",
    ),
    case(
        "basic-auth-cost-under-10",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10},bob:{HASH_4}"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'bob': the bcrypt cost is 4; use at least 10 "
        f"(bcrypt.gensalt() uses 12; htpasswd needs -B -C 12); {MAKE_HASH}",
    ),
    case(
        "basic-auth-salt-does-not-decode",
        {"WATCHDOG_BASIC_AUTH_USERS": "alice:$2y$10$" + "z" * 53},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice': not a valid bcrypt hash: its salt does not "
        f"decode (the value is not shown); {MAKE_HASH}",
    ),
    case(
        "basic-auth-entry-without-colon",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10}, bob"},
        "WATCHDOG_BASIC_AUTH_USERS: entry 2 has no ':'; expected user:hash pairs separated by "
        "commas (the entry is not shown)",
    ),
    case(
        "basic-auth-user-twice-and-empty-name",
        {"WATCHDOG_BASIC_AUTH_USERS": f"alice:{HASH_10},alice:{HASH_10},:{HASH_10}"},
        "WATCHDOG_BASIC_AUTH_USERS: user 'alice' is listed twice",
        "WATCHDOG_BASIC_AUTH_USERS: expected user names as text (got an empty name)",
    ),
    case(
        "basic-auth-yaml-list",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/users-list.yaml"},
        "basic_auth_users in {tmp}/users-list.yaml: expected user:hash pairs separated by "
        "commas, or in the file a mapping of user names to bcrypt hashes (got list)",
    ),
    case(
        "basic-auth-yaml-values",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/users-values.yaml"},
        "basic_auth_users in {tmp}/users-values.yaml: user 'bob': expected a bcrypt hash (got int)",
        "basic_auth_users in {tmp}/users-values.yaml: user 'carol:x': a user name cannot "
        "contain ':' (Basic auth separates it so)",
        "basic_auth_users in {tmp}/users-values.yaml: user 'dave': expected a bcrypt hash "
        "starting with $2a$, $2b$ or $2y$, not a password (the value is not shown; in a shell, "
        f"put the hash in single quotes; in docker compose, write each $ as $$); {MAKE_HASH}",
    ),
    case(
        "bearer-token-inline-variable",
        {"WATCHDOG_BEARER_TOKEN": "tok-0123456789abcdef"},
        "WATCHDOG_BEARER_TOKEN: not supported; put the token in a file and set "
        "WATCHDOG_BEARER_TOKEN_FILE (a file, unlike a variable, does not show in `ps e`, crash "
        "reports or the pod spec, and can be rotated without a restart)",
    ),
    case(
        "bearer-token-file-missing",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/missing.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: cannot read {tmp}/missing.token: No such file or directory",
    ),
    case(
        "bearer-token-file-is-directory",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}"},
        "WATCHDOG_BEARER_TOKEN_FILE: cannot read {tmp}: Is a directory",
    ),
    case(
        "bearer-token-file-empty",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/empty.key"},
        "WATCHDOG_BEARER_TOKEN_FILE: {tmp}/empty.key is empty; it should hold the token (at "
        "least 16 characters)",
    ),
    case(
        "bearer-token-too-short",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/short.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: {tmp}/short.token holds 8 characters; a token is 16 to "
        "4096 characters long (the content is not shown; make one with: openssl rand -hex 32)",
    ),
    case(
        "bearer-token-with-spaces",
        {"WATCHDOG_BEARER_TOKEN_FILE": "{tmp}/spaced.token"},
        "WATCHDOG_BEARER_TOKEN_FILE: the token in {tmp}/spaced.token must be printable ASCII "
        "without spaces, as it travels in an Authorization header (the content is not shown)",
    ),
]


@pytest.fixture
def tmp(tmp_path: Path) -> str:
    """A directory holding FILES; its path replaces ``{tmp}`` in envs and messages."""
    for name, content in FILES.items():
        (tmp_path / name).write_text(content.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    return str(tmp_path)


def _fill(env: Mapping[str, str], tmp: str) -> dict[str, str]:
    return {key: value.replace("{tmp}", tmp) for key, value in env.items()}


def load(tmp: str, **env: str | None) -> Settings:
    """Load BASE updated with ``env`` (None removes a variable), ``{tmp}`` filled in."""
    merged = {**BASE, **env}
    return load_settings(_fill({k: v for k, v in merged.items() if v is not None}, tmp))


def messages_of(env: Mapping[str, str], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env, **kwargs)
    return info.value.messages


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert messages_of(_fill(env, tmp)) == [message.replace("{tmp}", tmp) for message in expected]


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


def _write_yaml(tmp: str, document: Any) -> str:
    path = Path(tmp) / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def test_yaml_target_overrides_and_inherits(tmp: str) -> None:
    """YAML per-target options override the globals; unset ones inherit them."""
    config = _write_yaml(
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


def test_env_wins_over_yaml_for_scalars(tmp: str) -> None:
    """A variable set in the environment overrides the same key in the file."""
    config = _write_yaml(tmp, {"timeout": "3s", "log_level": "debug", "listen": "[::1]:9000"})
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WATCHDOG_TIMEOUT="7s")
    assert settings.timeout == 7.0
    assert settings.log_level == "debug"
    assert (settings.listen_host, settings.listen_port) == ("::1", 9000)


def test_env_targets_keep_yaml_options_of_same_name(tmp: str) -> None:
    """Env targets decide what exists and the URLs; same-name YAML options are kept."""
    config = _write_yaml(
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
    config = _write_yaml(
        tmp,
        {"web_endpoint": "wa-web.example:443", "targets": ["a=https://wa-a.example"]},
    )
    settings = load(tmp, WATCHDOG_TARGETS=None, WATCHDOG_CONFIG_FILE=config)
    assert [t.name for t in settings.targets] == ["a", "wa-web.example"]


def test_yaml_lists_and_env_comma_lists(tmp: str) -> None:
    """URL lists are comma-separated in env, lists in YAML; an empty variable is no URLs."""
    config = _write_yaml(tmp, {"alertmanager_urls": ["http://am-1:9093/", "http://am-2:9093"]})
    settings = load(tmp, WATCHDOG_CONFIG_FILE=config, WATCHDOG_WEBHOOK_URLS="")
    assert settings.alertmanager_urls == ["http://am-1:9093", "http://am-2:9093"]
    assert settings.webhook_urls == []
    settings = load(tmp, WATCHDOG_WEBHOOK_URLS="https://a.example/x, https://b.example/y?k=v")
    assert settings.webhook_urls == ["https://a.example/x", "https://b.example/y?k=v"]


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


def test_every_target_with_own_key_file_satisfies_apikey_mode(tmp: str) -> None:
    """Without a global key, apikey mode is satisfied when each target has api_key_file."""
    config = _write_yaml(
        tmp, {"targets": [{"url": "https://wa-a.example", "api_key_file": f"{tmp}/good.key"}]}
    )
    settings = load(tmp, WA_API_KEY=None, WATCHDOG_TARGETS=None, WATCHDOG_CONFIG_FILE=config)
    assert settings.targets[0].api_key_file == Path(tmp) / "good.key"


def test_target_without_own_key_file_is_named_when_key_missing(tmp: str) -> None:
    """When only some targets have a key file, the message names those without one."""
    config = _write_yaml(
        tmp,
        {
            "targets": [
                {"url": "https://wa-a.example", "api_key_file": f"{tmp}/good.key"},
                {"url": "https://wa-b.example"},
            ]
        },
    )
    env = _fill({"WATCHDOG_CONFIG_FILE": config}, tmp)
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


def test_settings_and_targets_are_frozen() -> None:
    """Settings and targets cannot be changed after loading; targets are hashable."""
    settings = load_settings(BASE)
    with pytest.raises(ValidationError):
        settings.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.targets[0].url = "https://other.example"  # type: ignore[misc]
    assert len({settings.targets[0], settings.targets[0]}) == 1


def test_target_alone_uses_defaults_and_host_name() -> None:
    """A Target built directly is named by its host and takes the global defaults."""
    target = Target(url="https://wa.example:8443/")
    assert (target.name, target.url, target.health_interval, target.timeout) == (
        "wa.example",
        "https://wa.example:8443",
        15.0,
        5.0,
    )


def test_effective_reads_back_as_a_config_file(tmp: str) -> None:
    """effective() is YAML-able, keyed by YAML key, and loads back to the same settings."""
    config = _write_yaml(
        tmp,
        {
            "api_key_file": f"{tmp}/good.key",
            "metrics_interval": "1m30s",
            "alertmanager_urls": ["http://am:9093"],
            "targets": [{"name": "a", "url": "https://wa-a.example/p", "labels": {"x": "y"}}],
        },
    )
    first = load_settings({"WATCHDOG_CONFIG_FILE": config})
    effective = first.effective()
    assert set(effective) == set(Settings.model_fields)
    again = load_settings({"WATCHDOG_CONFIG_FILE": _write_yaml(tmp, effective)})
    assert again == first
    assert effective["metrics_interval"] == "1m30s"


ALERT_DEFAULTS = {
    "overloaded": {"enabled": True, "for": "0s", "keep_firing_for": "2m", "window": "1m"},
    "rate_limit_spike": {
        "enabled": True,
        "for": "0s",
        "keep_firing_for": "2m",
        "window": "1m",
        "threshold": 5,
        "ratio": 0.05,
    },
    "health_failing": {"enabled": True, "for": "1m", "keep_firing_for": "1m"},
    "gateway_down": {
        "enabled": True,
        "for": "30s",
        "keep_firing_for": "1m",
        "expected_shards": 0,
    },
    "gateway_degraded": {
        "enabled": True,
        "for": "1m",
        "keep_firing_for": "1m",
        "connecting_for": "5m",
    },
    "unreachable": {"enabled": True, "for": "30s", "keep_firing_for": "1m"},
    "auth_rejected": {"enabled": True, "for": "0s", "keep_firing_for": "1m"},
    "not_registered": {"enabled": True, "for": "1m", "keep_firing_for": "1m"},
    "queue_backlog": {
        "enabled": True,
        "for": "1m",
        "keep_firing_for": "2m",
        "pending_messages": 50000,
        "callback_queue_size": 50000,
    },
}


def test_alert_defaults() -> None:
    """Unset alert settings take the documented per-rule defaults."""
    alerts = load_settings(BASE).alerts
    assert alerts == AlertSettings()
    assert alerts.effective() == ALERT_DEFAULTS
    gateway = alerts.rule("gateway_down")
    assert isinstance(gateway, GatewayDownSettings)
    assert (gateway.enabled, gateway.for_, gateway.keep_firing_for, gateway.expected_shards) == (
        True,
        30.0,
        60.0,
        0,
    )
    assert alerts.rule("rate_limit_spike").params == {"window": 60.0, "threshold": 5, "ratio": 0.05}
    assert alerts.rule("unreachable").params == {}
    assert list(alerts.rules()) == list(ALERT_RULES)


def test_alert_rule_names_and_alertnames() -> None:
    """Rule keys map to the alertnames the alert rules use, in the same order; parameter
    defaults agree with the rules' own."""
    assert ALERT_RULES == {
        "overloaded": "WhatsAppOverloaded",
        "rate_limit_spike": "WhatsAppRateLimitSpike",
        "health_failing": "WhatsAppHealthFailing",
        "gateway_down": "WhatsAppGatewayDown",
        "gateway_degraded": "WhatsAppGatewayDegraded",
        "unreachable": "WhatsAppUnreachable",
        "auth_rejected": "WhatsAppAuthRejected",
        "not_registered": "WhatsAppNotRegistered",
        "queue_backlog": "WhatsAppQueueBacklog",
    }
    assert list(AlertSettings.model_fields) == list(ALERT_RULES)
    assert {rule.key: rule.alertname for rule in RULES} == ALERT_RULES
    params = Params()
    expectation = Expectation()
    from_expectation = {
        "expected_shards": expectation.shards,
        "connecting_for": expectation.connecting_limit,
    }
    assert AlertSettings().expectation() == expectation
    for rule in AlertSettings().rules().values():
        for name, value in rule.params.items():
            assert from_expectation.get(name, getattr(params, name, None)) == value


def test_alert_rule_lookup_of_unknown_name() -> None:
    """rule() names only known rules; a near miss gets a suggestion."""
    with pytest.raises(KeyError, match="unknown alert rule 'overload'; did you mean 'overloaded'"):
        AlertSettings().rule("overload")


def test_alerts_from_yaml(tmp: str) -> None:
    """YAML sets any key of any rule; the others keep their defaults; null means unset."""
    config = _write_yaml(
        tmp,
        {
            "alerts": {
                "overloaded": {"for": "15s", "window": "2m"},
                "rate_limit_spike": {"threshold": 10, "ratio": 0.1, "keep_firing_for": None},
                "gateway_down": {"expected_shards": 4},
                "queue_backlog": {"enabled": False, "pending_messages": "100_000"},
                "unreachable": None,
            }
        },
    )
    alerts = load(tmp, WATCHDOG_CONFIG_FILE=config).alerts
    assert (alerts.overloaded.for_, alerts.overloaded.window) == (15.0, 120.0)
    assert alerts.overloaded.keep_firing_for == 120.0
    spike = alerts.rate_limit_spike
    assert (spike.threshold, spike.ratio, spike.keep_firing_for) == (10, 0.1, 120.0)
    assert alerts.gateway_down.expected_shards == 4
    assert (alerts.queue_backlog.enabled, alerts.queue_backlog.pending_messages) == (False, 100000)
    assert alerts.unreachable == AlertSettings().unreachable


def test_alerts_yaml_null_is_no_alert_settings(tmp: str) -> None:
    """An empty alerts mapping or a null leaves every rule at its defaults."""
    documents: list[dict[str, Any]] = [{"alerts": None}, {"alerts": {}}]
    for document in documents:
        config = _write_yaml(tmp, document)
        assert load(tmp, WATCHDOG_CONFIG_FILE=config).alerts == AlertSettings()


def test_alerts_from_env(tmp: str) -> None:
    """WATCHDOG_ALERT_<RULE>_<PARAM> sets one key of one rule."""
    alerts = load(
        tmp,
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD="10",
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO=" 0.5 ",
        WATCHDOG_ALERT_OVERLOADED_FOR="15s",
        WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS="4",
        WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED="false",
        WATCHDOG_ALERT_NOT_REGISTERED_KEEP_FIRING_FOR="1h",
        WATCHDOG_ALERT_UNREACHABLE_FOR="0",
    ).alerts
    assert (alerts.rate_limit_spike.threshold, alerts.rate_limit_spike.ratio) == (10, 0.5)
    assert alerts.overloaded.for_ == 15.0
    assert alerts.gateway_down.expected_shards == 4
    assert alerts.queue_backlog.enabled is False
    assert alerts.not_registered.keep_firing_for == 3600.0
    assert alerts.unreachable.for_ == 0.0
    # Untouched keys and rules keep their defaults.
    assert alerts.overloaded.window == 60.0
    assert alerts.auth_rejected == AlertSettings().auth_rejected


@pytest.mark.parametrize(("text", "value"), [("YES", True), ("0", False), ("No", False)])
def test_alert_enabled_is_a_flag(tmp: str, text: str, value: bool) -> None:
    """enabled is parsed like every other boolean."""
    alerts = load(tmp, WATCHDOG_ALERT_AUTH_REJECTED_ENABLED=text).alerts
    assert alerts.auth_rejected.enabled is value


def test_alert_env_wins_over_yaml_per_parameter(tmp: str) -> None:
    """A variable overrides its key only: the same rule's other YAML keys still apply, and an
    invalid YAML value the environment overrides is not reported."""
    config = _write_yaml(
        tmp,
        {
            "alerts": {
                "overloaded": {"for": "2h", "window": "30s"},
                "rate_limit_spike": {"threshold": 8, "ratio": 0.2},
                "gateway_down": {"expected_shards": 2},
            }
        },
    )
    alerts = load(
        tmp,
        WATCHDOG_CONFIG_FILE=config,
        WATCHDOG_ALERT_OVERLOADED_FOR="10s",
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO="0.3",
        WATCHDOG_ALERT_UNREACHABLE_ENABLED="no",
    ).alerts
    assert (alerts.overloaded.for_, alerts.overloaded.window) == (10.0, 30.0)
    assert (alerts.rate_limit_spike.threshold, alerts.rate_limit_spike.ratio) == (8, 0.3)
    assert alerts.gateway_down.expected_shards == 2
    assert alerts.unreachable.enabled is False


def test_alert_problem_names_the_source_of_each_value(tmp: str) -> None:
    """With env and YAML both setting one rule, each message names where its value came from."""
    config = _write_yaml(tmp, {"alerts": {"rate_limit_spike": {"threshold": 0}}})
    env = _fill(
        {**BASE, "WATCHDOG_CONFIG_FILE": config, "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "2"},
        tmp,
    )
    assert messages_of(env) == [
        f"alerts.rate_limit_spike.threshold in {config}: must be at least 1 (got 0)",
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share "
        "such as 0.05 for 5% (got 2)",
    ]


def test_alert_numbers_in_yaml_forms(tmp: str) -> None:
    """YAML numbers work as they are written: 5.0 is a whole number, 1 a ratio, 90 seconds."""
    config = _write_yaml(
        tmp,
        {"alerts": {"rate_limit_spike": {"threshold": 5.0, "ratio": 1, "window": 90}}},
    )
    spike = load(tmp, WATCHDOG_CONFIG_FILE=config).alerts.rate_limit_spike
    assert (spike.threshold, spike.ratio, spike.window) == (5, 1.0, 90.0)
    assert isinstance(spike.threshold, int)


def test_alert_settings_built_directly() -> None:
    """Settings(...) takes alerts keyed as in YAML; for_ works as well as for. Frozen."""
    settings = Settings(alerts={"overloaded": {"for": "15s"}, "unreachable": {"for_": 5}})
    assert (settings.alerts.overloaded.for_, settings.alerts.unreachable.for_) == (15.0, 5.0)
    assert RateLimitSpikeSettings(threshold="7").threshold == 7
    with pytest.raises(ValidationError):
        settings.alerts.overloaded.for_ = 1.0  # type: ignore[misc]


def test_external_url(tmp: str) -> None:
    """WATCHDOG_EXTERNAL_URL loses its trailing slash; empty means unset, as when not set."""
    settings = load(tmp, WATCHDOG_EXTERNAL_URL=" https://watchdog.example/wa/ ")
    assert settings.external_url == settings.status_url == "https://watchdog.example/wa"
    assert load(tmp, WATCHDOG_EXTERNAL_URL="").external_url is None
    assert load(tmp).external_url is None
    config = _write_yaml(tmp, {"external_url": "http://wd.internal:9877"})
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


def test_effective_with_alerts_reads_back(tmp: str) -> None:
    """effective() holds external_url and every rule's keys (for, not for_), durations written
    like the other settings, and loads back to the same settings."""
    config = _write_yaml(
        tmp,
        {
            "external_url": "https://wd.example/",
            "alerts": {
                "overloaded": {"for": 15, "keep_firing_for": "90s"},
                "rate_limit_spike": {"ratio": 0.25, "window": "10s"},
                "gateway_down": {"expected_shards": 3, "enabled": "no"},
            },
            "targets": [{"name": "a", "url": "https://wa-a.example"}],
        },
    )
    first = load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": config})
    effective = first.effective()
    assert effective["external_url"] == "https://wd.example"
    expected = {
        **ALERT_DEFAULTS,
        "overloaded": {**ALERT_DEFAULTS["overloaded"], "for": "15s", "keep_firing_for": "1m30s"},
        "rate_limit_spike": {**ALERT_DEFAULTS["rate_limit_spike"], "ratio": 0.25, "window": "10s"},
        "gateway_down": {**ALERT_DEFAULTS["gateway_down"], "expected_shards": 3, "enabled": False},
    }
    assert effective["alerts"] == expected
    text = yaml.safe_dump(effective, sort_keys=False)
    path = Path(tmp) / "effective.yaml"
    path.write_text(text, encoding="utf-8")
    again = load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": str(path)})
    assert again == first
    # Defaults read back too, with external_url null.
    plain = load_settings(BASE)
    assert plain.effective()["external_url"] is None
    path.write_text(yaml.safe_dump(plain.effective()), encoding="utf-8")
    assert load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": str(path)}) == plain


SECRETS = {
    "key": "SeCrEtKeY-0123456789",
    "password": "SeCrEtPaSsWoRd",
    "url_password": "SeCrEtUrLpW",
    "token": "SeCrEtHoOkToKeN",
    "short": "SeCrEtShOrT",
}


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS.values():
        assert secret not in text


def test_secrets_never_shown_in_effective_or_repr(tmp: str) -> None:
    """API key, password and URL passwords are masked in effective(), repr() and str()."""
    settings = load_settings(
        {
            "WA_API_KEY": SECRETS["key"],
            "WA_WEB_USERNAME": "admin",
            "WA_WEB_PASSWORD": SECRETS["password"],
            "WATCHDOG_AUTH_MODE": "auto",
            "WATCHDOG_TARGETS": "a=https://wa.example",
            "WATCHDOG_ALERTMANAGER_URLS": f"https://am:{SECRETS['url_password']}@am:9093",
            "WATCHDOG_WEBHOOK_URLS": f"https://hooks.example/services/{SECRETS['token']}",
        }
    )
    effective = settings.effective()
    for text in (yaml.safe_dump(effective), repr(settings), str(settings)):
        _assert_no_secret(text)
    assert effective["api_key"] == effective["web_password"] == "********"
    assert effective["alertmanager_urls"] == ["https://am:********@am:9093"]
    assert effective["webhook_urls"] == ["https://hooks.example/********"]
    # The real values stay available to the code that needs them.
    assert settings.alertmanager_urls == [f"https://am:{SECRETS['url_password']}@am:9093"]


def test_secrets_never_shown_in_errors(tmp: str) -> None:
    """Invalid secret-bearing values are described without quoting the secret."""
    short_key = Path(tmp) / "secret.key"
    short_key.write_text(f"{SECRETS['short']}\n", encoding="utf-8")
    broken = Path(tmp) / "secret.yaml"
    broken.write_text(f'api_key: "{SECRETS["key"]}\nweb_password: [\n', encoding="utf-8")
    short_in_yaml = _write_yaml(
        tmp,
        {"api_key": SECRETS["short"], "alertmanager_urls": [f"am:{SECRETS['url_password']}@x"]},
    )
    envs: list[dict[str, str | None]] = [
        {**BASE, "WA_API_KEY": SECRETS["key"] * 7},
        {**BASE, "WA_API_KEY": None, "WA_API_KEY_FILE": str(short_key)},
        {**BASE, "WATCHDOG_TARGETS": f"a=ftp://u:{SECRETS['url_password']}@wa.example"},
        {**BASE, "WATCHDOG_TARGETS": f"a=https://u:{SECRETS['url_password']}@wa.example?x=1"},
        {**BASE, "WATCHDOG_ALERTMANAGER_URLS": f"am:{SECRETS['url_password']}@am:9093"},
        {**BASE, "WATCHDOG_WEBHOOK_URLS": f"hooks.example/services/{SECRETS['token']}"},
        {**BASE, "WATCHDOG_WEBHOOK_URLS": f"ftp://hooks.example/{SECRETS['token']}"},
        {**BASE, "WATCHDOG_CONFIG_FILE": str(broken)},
        {**BASE, "WA_API_KEY": None, "WATCHDOG_CONFIG_FILE": short_in_yaml},
        {**BASE, "WA_WEB_PASSWORD": SECRETS["password"], "WA_WEB_PASSWORD_FILE": "/nonexistent"},
    ]
    for env in envs:
        messages = messages_of({k: v for k, v in env.items() if v is not None})
        assert messages
        _assert_no_secret("\n".join(messages))
