"""The field table: the models, the lists derived from it and README.md all say the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_type_hints

import pytest
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tests.unit.config.support import BASE, KEY, load, write_yaml
from watchdog.base.errors import ConfigError
from watchdog.base.secrets import read_api_key_file, read_bearer_token_file, read_password_file
from watchdog.base.targets import CLOUD_ONLY
from watchdog.config.fields import (
    ENV_VARS,
    FIELDS,
    LOGGING_SETTINGS,
    RELOADABLE,
    REQUIRED,
    TARGET_OPTIONS,
    Field,
    reference_rows,
    secret_values,
)
from watchdog.config.settings import Settings, Target, load_settings

# Target options only a Cloud target has besides CLOUD_ONLY's ids and tokens.
CLOUD_OPTIONS = ("waba_interval", "token_interval", "graph_version")

README = Path(__file__).parents[3] / "README.md"


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return ("factory", info.default_factory)
    return REQUIRED if info.default is PydanticUndefined else info.default


def _row_default(row: Field) -> Any:
    return ("factory", row.factory) if row.factory is not None else row.default


def test_settings_fields_are_the_table_rows() -> None:
    """Settings has one field per global row, in the table's order, with its type and default."""
    rows = [row for row in FIELDS if row.scope == "global"]
    assert list(Settings.model_fields) == [row.key for row in rows]
    hints = get_type_hints(Settings, include_extras=True)
    for row in rows:
        assert hints[row.key] == row.type, row.key
        assert _default(Settings.model_fields[row.key]) == _row_default(row), row.key


def test_target_fields_are_the_table_rows() -> None:
    """Every Target field is a row's target key, of the same type and default as that row (the
    first row: a Cloud target's health_interval default is the second, cloud_health_interval,
    which `inherit` applies)."""
    rows: dict[str, Field] = {}
    for row in FIELDS:
        if row.target_key is not None:
            rows.setdefault(row.target_key, row)
    assert set(Target.model_fields) == set(rows)
    hints = get_type_hints(Target, include_extras=True)
    for key, row in rows.items():
        assert hints[key] == row.type, key
        assert _default(Target.model_fields[key]) == _row_default(row), key


def test_environment_variables() -> None:
    """The variables read, by YAML key; a rename would break every deployment."""
    assert ENV_VARS == {
        "api_key": "WA_API_KEY",
        "api_key_file": "WA_API_KEY_FILE",
        "web_username": "WA_WEB_USERNAME",
        "web_password": "WA_WEB_PASSWORD",
        "web_password_file": "WA_WEB_PASSWORD_FILE",
        "auth_mode": "WATCHDOG_AUTH_MODE",
        "health_interval": "WATCHDOG_HEALTH_INTERVAL",
        "metrics_interval": "WATCHDOG_METRICS_INTERVAL",
        "stats_app_interval": "WATCHDOG_STATS_APP_INTERVAL",
        "stats_db_interval": "WATCHDOG_STATS_DB_INTERVAL",
        "cloud_access_token": "WA_CLOUD_ACCESS_TOKEN",
        "cloud_access_token_file": "WA_CLOUD_ACCESS_TOKEN_FILE",
        "cloud_app_token": "WA_CLOUD_APP_TOKEN",
        "cloud_app_token_file": "WA_CLOUD_APP_TOKEN_FILE",
        "cloud_health_interval": "WATCHDOG_CLOUD_HEALTH_INTERVAL",
        "cloud_waba_interval": "WATCHDOG_CLOUD_WABA_INTERVAL",
        "cloud_token_interval": "WATCHDOG_CLOUD_TOKEN_INTERVAL",
        "graph_version": "WATCHDOG_GRAPH_VERSION",
        "timeout": "WATCHDOG_TIMEOUT",
        "tls_ca_file": "WATCHDOG_TLS_CA_FILE",
        "tls_insecure": "WATCHDOG_TLS_INSECURE",
        "listen": "WATCHDOG_LISTEN",
        "tls_cert_file": "WATCHDOG_TLS_CERT_FILE",
        "tls_key_file": "WATCHDOG_TLS_KEY_FILE",
        "basic_auth_users": "WATCHDOG_BASIC_AUTH_USERS",
        "bearer_token_file": "WATCHDOG_BEARER_TOKEN_FILE",
        "external_url": "WATCHDOG_EXTERNAL_URL",
        "history": "WATCHDOG_HISTORY",
        "log_format": "WATCHDOG_LOG_FORMAT",
        "log_level": "WATCHDOG_LOG_LEVEL",
        "alertmanager_urls": "WATCHDOG_ALERTMANAGER_URLS",
        "webhook_urls": "WATCHDOG_WEBHOOK_URLS",
        "shard": "WATCHDOG_SHARD",
        "targets": "WATCHDOG_TARGETS",
        "web_endpoint": "WA_WEB_ENDPOINT",
        "cloud_targets": "WATCHDOG_CLOUD_TARGETS",
    }


def test_target_options_and_what_targets_inherit() -> None:
    """A target's YAML keys, in `watchdog config`'s order; inline secrets are not among them."""
    assert TARGET_OPTIONS == (
        "name",
        "url",
        "kind",
        "phone_number_id",
        "waba_id",
        "health_interval",
        "metrics_interval",
        "stats_app_interval",
        "stats_db_interval",
        "waba_interval",
        "token_interval",
        "graph_version",
        "timeout",
        "tls_ca_file",
        "tls_insecure",
        "labels",
        "api_key_file",
        "username",
        "password_file",
        "access_token_file",
        "app_token_file",
    )
    inherited = {row.key: row.target_key for row in FIELDS if row.scope == "global"}
    assert {key: target_key for key, target_key in inherited.items() if target_key} == {
        "api_key": "api_key",
        "api_key_file": "api_key_file",
        "web_username": "username",
        "web_password": "password",
        "web_password_file": "password_file",
        "health_interval": "health_interval",
        "metrics_interval": "metrics_interval",
        "stats_app_interval": "stats_app_interval",
        "stats_db_interval": "stats_db_interval",
        "cloud_access_token": "access_token",
        "cloud_access_token_file": "access_token_file",
        "cloud_app_token": "app_token",
        "cloud_app_token_file": "app_token_file",
        "cloud_health_interval": "health_interval",
        "cloud_waba_interval": "waba_interval",
        "cloud_token_interval": "token_interval",
        "graph_version": "graph_version",
        "timeout": "timeout",
        "tls_ca_file": "tls_ca_file",
        "tls_insecure": "tls_insecure",
    }


def test_a_reload_applies_the_targets_and_what_they_inherit() -> None:
    """A reload swaps the targets, so every value they inherit must be reloadable too."""
    assert set(RELOADABLE) == {
        "targets",
        "api_key",
        "api_key_file",
        "web_username",
        "web_password",
        "web_password_file",
        "health_interval",
        "metrics_interval",
        "stats_app_interval",
        "stats_db_interval",
        "cloud_access_token",
        "cloud_access_token_file",
        "cloud_app_token",
        "cloud_app_token_file",
        "cloud_health_interval",
        "cloud_waba_interval",
        "cloud_token_interval",
        "graph_version",
        "timeout",
        "tls_ca_file",
        "tls_insecure",
    }
    assert set(LOGGING_SETTINGS) == {"log_level", "log_format"}
    for row in FIELDS:
        if row.scope == "global" and row.target_key is not None:
            assert row.key in RELOADABLE, row.key


def test_effective_lists_settings_and_target_options_in_order() -> None:
    """`watchdog config` writes the keys in the same order, release after release."""
    effective = load_settings(BASE).effective()
    assert list(effective) == [
        "api_key",
        "api_key_file",
        "web_username",
        "web_password",
        "web_password_file",
        "auth_mode",
        "health_interval",
        "metrics_interval",
        "stats_app_interval",
        "stats_db_interval",
        "cloud_access_token",
        "cloud_access_token_file",
        "cloud_app_token",
        "cloud_app_token_file",
        "cloud_health_interval",
        "cloud_waba_interval",
        "cloud_token_interval",
        "graph_version",
        "timeout",
        "tls_ca_file",
        "tls_insecure",
        "listen",
        "tls_cert_file",
        "tls_key_file",
        "basic_auth_users",
        "bearer_token_file",
        "external_url",
        "history",
        "log_format",
        "log_level",
        "alertmanager_urls",
        "webhook_urls",
        "alerts",
        "shard",
        "targets",
    ]
    # An On-Prem target shows the options of its kind; a Cloud target those of its own.
    onprem = [key for key in TARGET_OPTIONS if key not in CLOUD_ONLY + CLOUD_OPTIONS]
    assert list(effective["targets"][0]) == onprem


def test_a_cloud_target_shows_its_own_options_token_file_not_token() -> None:
    """`watchdog config` shows a cloud target's options (no API key, no metrics interval) and
    never its token."""
    token = "EAAsecretTokenValue0123456789"
    effective = load_settings(
        {"WATCHDOG_CLOUD_TARGETS": "shop=106540352242922:102290129340398",
         "WA_CLOUD_ACCESS_TOKEN": token}
    ).effective()  # fmt: skip
    [target] = effective["targets"]
    assert list(target) == [
        "name", "url", "kind", "phone_number_id", "waba_id", "health_interval", "waba_interval",
        "token_interval", "graph_version", "timeout", "tls_ca_file", "tls_insecure", "labels",
        "access_token_file", "app_token_file",
    ]  # fmt: skip
    assert target["health_interval"] == "5m"
    assert target["url"] == "https://graph.facebook.com"
    assert effective["cloud_access_token"] == "********"
    assert token not in repr(effective)


def test_secret_values_are_every_configured_secret(tmp: str) -> None:
    """The values registered for redaction: the global key and password, and each target's
    (a target with its own key file does not carry the global key)."""
    other_key = "0ther-k3y-0123456789"
    key_file = Path(tmp) / "other.key"
    key_file.write_text(other_key, encoding="utf-8")
    config = write_yaml(
        tmp,
        {"targets": [{"name": "own", "url": "https://own.example", "api_key_file": str(key_file)}]},
    )
    settings = load(
        tmp,
        WATCHDOG_TARGETS="prod=https://wa-prod.example,own=https://own.example",
        WATCHDOG_CONFIG_FILE=config,
        WA_WEB_PASSWORD="pass-w0rd",
    )
    secrets = [secret.get_secret_value() for secret in secret_values(settings) if secret]
    assert sorted(secrets) == sorted([KEY, "pass-w0rd", KEY, "pass-w0rd", "pass-w0rd"])


def _readme_table(header: str) -> list[list[str]]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(header) + 2  # the header and the |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_readme_configuration_table_is_the_field_table() -> None:
    """README.md's table has one row per setting, as the field table describes it."""
    documented = _readme_table("| variable | YAML key | default | meaning |")
    expected = [list(row) for row in reference_rows()]
    missing = ["| " + " | ".join(row) + " |" for row in expected if row not in documented]
    extra = ["| " + " | ".join(row) + " |" for row in documented if row not in expected]
    assert (missing, extra) == ([], []), "README.md's configuration table differs"
    assert len(documented) == len(expected)


def test_readme_security_table_names_the_same_variables() -> None:
    """The Security section's table pairs each variable with its YAML key."""
    for variables, keys, _ in _readme_table("| variable | YAML key | what it does |"):
        pairs = zip(variables.split(", "), keys.split(", "), strict=True)
        for variable, key in pairs:
            assert ENV_VARS[key.strip("`")] == variable.strip("`")


def test_runtime_file_readers_name_the_variables_of_the_table(tmp_path: Path) -> None:
    """A key, password or token file read again at run time fails naming its table variable."""
    empty = tmp_path / "empty"
    empty.write_text("")
    readers = {
        "api_key_file": read_api_key_file,
        "web_password_file": read_password_file,
        "bearer_token_file": read_bearer_token_file,
    }
    for key, read in readers.items():
        with pytest.raises(ConfigError) as raised:
            read(empty)
        assert str(raised.value).startswith(f"{ENV_VARS[key]}: "), key
