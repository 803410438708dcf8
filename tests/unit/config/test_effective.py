"""`watchdog config`'s output (effective()), frozen settings, and secret hygiene: no secret in
the output, a repr or a message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from tests.unit.config.support import (
    BASE,
    messages_of,
    write_yaml,
)
from watchdog.config.settings import Settings, load_settings


def test_settings_and_targets_are_frozen() -> None:
    """Settings and targets cannot be changed after loading; targets are hashable."""
    settings = load_settings(BASE)
    with pytest.raises(ValidationError):
        settings.timeout = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.targets[0].url = "https://other.example"  # type: ignore[misc]
    assert len({settings.targets[0], settings.targets[0]}) == 1


def test_effective_reads_back_as_a_config_file(tmp: str) -> None:
    """effective() is YAML-able, keyed by YAML key, and loads back to the same settings."""
    config = write_yaml(
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
    again = load_settings({"WATCHDOG_CONFIG_FILE": write_yaml(tmp, effective)})
    assert again == first
    assert effective["metrics_interval"] == "1m30s"


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
    short_in_yaml = write_yaml(
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
