"""Cloud API targets in the configuration: YAML and environment forms, what they inherit, and
exact messages for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.config.support import KEY, messages_of, write_yaml
from watchdog.config.settings import load_settings

TOKEN = "EAAcloudTokenForTests0123456789"
NUMBER = "106540352242922"
WABA = "102290129340398"


def test_yaml_cloud_target_with_defaults(tmp: str) -> None:
    """The issue's example: the URL, version and intervals default for a cloud target."""
    token = Path(tmp) / "token"
    token.write_text(f"{TOKEN}\n", encoding="utf-8")
    config = write_yaml(
        tmp,
        {
            "cloud_access_token_file": str(token),
            "targets": [
                {"name": "shop-eu", "kind": "cloud", "phone_number_id": NUMBER, "waba_id": WABA}
            ],
        },
    )
    [target] = load_settings({"WATCHDOG_CONFIG_FILE": config}).targets
    assert (target.kind, target.url, target.graph_version) == (
        "cloud",
        "https://graph.facebook.com",
        "v25.0",
    )
    assert (target.health_interval, target.waba_interval, target.token_interval) == (
        300.0,
        900.0,
        86400.0,
    )
    assert (target.phone_number_id, target.waba_id) == (NUMBER, WABA)
    assert target.access_token_file == token
    # On-Prem credentials are not inherited by a cloud target, nor needed for it.
    assert target.api_key is None


def test_environment_form_and_side_by_side_with_onprem() -> None:
    settings = load_settings(
        {
            "WA_API_KEY": KEY,
            "WATCHDOG_TARGETS": "prod=https://wa-prod.example",
            "WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}:{WABA}, {NUMBER[:-1]}1",
            "WA_CLOUD_ACCESS_TOKEN": TOKEN,
            "WATCHDOG_CLOUD_HEALTH_INTERVAL": "1m",
            "WATCHDOG_GRAPH_VERSION": "v24.0",
        }
    )
    prod, shop, bare = settings.targets
    assert (prod.kind, prod.api_key is not None, prod.access_token) == ("onprem", True, None)
    assert prod.health_interval == 15.0  # the On-Prem default, not the cloud one
    assert (shop.name, shop.phone_number_id, shop.waba_id) == ("shop", NUMBER, WABA)
    assert (shop.health_interval, shop.graph_version) == (60.0, "v24.0")
    assert shop.access_token is not None
    assert shop.access_token.get_secret_value() == TOKEN
    assert shop.api_key is None
    # A bare id names the target.
    assert (bare.name, bare.waba_id) == (f"{NUMBER[:-1]}1", None)


def test_cloud_targets_do_not_inherit_the_webapps_tls_settings(tmp: str) -> None:
    """WATCHDOG_TLS_INSECURE is for the Webapps' self-signed certificates: the token never goes
    out unverified because of it, and a Webapps' CA bundle would refuse Graph's public
    certificate. A Cloud target may set either itself (an egress proxy intercepting TLS)."""
    ca = Path(tmp) / "ca.pem"
    ca.write_text("not read at load time\n", encoding="utf-8")
    config = write_yaml(
        tmp,
        {
            "api_key": KEY,
            "cloud_access_token": TOKEN,
            "tls_insecure": True,
            "tls_ca_file": str(ca),
            "targets": [
                {"name": "prod", "url": "https://wa-prod.example"},
                {"name": "shop", "kind": "cloud", "phone_number_id": NUMBER},
                {"name": "lab", "kind": "cloud", "phone_number_id": WABA, "tls_insecure": True},
            ],
        },
    )
    prod, shop, lab = load_settings({"WATCHDOG_CONFIG_FILE": config}).targets
    assert (prod.tls_insecure, shop.tls_insecure, lab.tls_insecure) == (True, False, True)
    assert (prod.tls_ca_file, shop.tls_ca_file) == (ca, None)


def test_each_kinds_variable_replaces_only_the_files_targets_of_that_kind(tmp: str) -> None:
    """A fleet in migration: Webapps in the file, Cloud numbers in the environment (or the
    other way round); neither list silently drops the other kind's targets."""
    config = write_yaml(
        tmp,
        {
            "api_key": KEY,
            "cloud_access_token": TOKEN,
            "targets": [
                {"name": "prod", "url": "https://wa-prod.example", "labels": {"shop": "eu"}},
                {"name": "old", "kind": "cloud", "phone_number_id": WABA},
                {
                    "name": "shop",
                    "kind": "cloud",
                    "phone_number_id": WABA,
                    "url": "https://graph-proxy.example",
                    "graph_version": "v24.0",
                },
            ],
        },
    )
    settings = load_settings(
        {"WATCHDOG_CONFIG_FILE": config, "WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}"}
    )
    prod, shop = settings.targets
    assert (prod.name, prod.kind, prod.labels) == ("prod", "onprem", {"shop": "eu"})
    # The environment names the number; the file still gives the URL in front of Graph.
    assert (shop.phone_number_id, shop.url, shop.graph_version) == (
        NUMBER,
        "https://graph-proxy.example",
        "v24.0",
    )

    settings = load_settings(
        {"WATCHDOG_CONFIG_FILE": config, "WATCHDOG_TARGETS": "prod=https://wa-new.example"}
    )
    assert [(t.name, t.url) for t in settings.targets] == [
        ("prod", "https://wa-new.example"),
        ("old", "https://graph.facebook.com"),
        ("shop", "https://graph-proxy.example"),
    ]


def test_only_cloud_targets_need_no_api_key() -> None:
    settings = load_settings(
        {"WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}", "WA_CLOUD_ACCESS_TOKEN": TOKEN}
    )
    assert [t.kind for t in settings.targets] == ["cloud"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}"},
            [
                "WA_CLOUD_ACCESS_TOKEN: not set; Cloud API targets need an access token: set "
                "WA_CLOUD_ACCESS_TOKEN or WA_CLOUD_ACCESS_TOKEN_FILE"
            ],
        ),
        (
            {"WATCHDOG_CLOUD_TARGETS": "shop=12ab", "WA_CLOUD_ACCESS_TOKEN": TOKEN},
            [
                "WATCHDOG_CLOUD_TARGETS: must be a Graph node id: digits only, as Meta shows it "
                "(got '12ab')"
            ],
        ),
        (
            {"WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}", "WA_CLOUD_ACCESS_TOKEN": "short"},
            [
                "WA_CLOUD_ACCESS_TOKEN: must be 16 to 4096 characters long (got 5; the token "
                "itself is not shown)"
            ],
        ),
        (
            {
                "WATCHDOG_CLOUD_TARGETS": f"shop={NUMBER}",
                "WA_CLOUD_ACCESS_TOKEN": TOKEN,
                "WATCHDOG_CLOUD_HEALTH_INTERVAL": "6s",
                "WATCHDOG_GRAPH_VERSION": "25",
            },
            [
                "WATCHDOG_CLOUD_HEALTH_INTERVAL: must be at least 10s for a Cloud API target: "
                "each poll counts against the business's hourly Graph allowance (got 6s)",
                "WATCHDOG_GRAPH_VERSION: must be a Graph API version such as v25.0 (got '25')",
            ],
        ),
    ],
)
def test_exact_messages(env: dict[str, str], expected: list[str]) -> None:
    messages = messages_of(env)
    assert messages == expected
    assert not any(TOKEN in message for message in messages)


def test_options_of_the_other_kind_are_errors(tmp: str) -> None:
    """An API key file on a cloud target, or a phone number id on an On-Prem one, would do
    nothing: said, not ignored."""
    key = Path(tmp) / "key"
    key.write_text(KEY, encoding="utf-8")
    config = write_yaml(
        tmp,
        {
            "cloud_access_token": TOKEN,
            "api_key": KEY,
            "targets": [
                {"name": "shop", "kind": "cloud", "phone_number_id": NUMBER,
                 "api_key_file": str(key), "health_interval": "8s"},
                {"name": "prod", "url": "https://wa.example", "waba_id": WABA},
                {"name": "nophone", "kind": "cloud"},
                {"name": "odd", "kind": "saas", "url": "https://wa.example"},
            ],
        },
    )  # fmt: skip
    messages = messages_of({"WATCHDOG_CONFIG_FILE": config})
    where = f"in {config}"
    assert messages == [
        f"targets[0].api_key_file {where}: is not an option of a target of kind 'cloud'",
        f"targets[0].health_interval {where}: must be at least 10s for a Cloud API target",
        f"targets[1].waba_id {where}: is not an option of a target of kind 'onprem'",
        f"targets[2].phone_number_id {where}: a target of kind 'cloud' needs the phone number's id",
        f"targets[3].kind {where}: must be one of onprem, cloud (got 'saas')",
    ]


def test_a_yaml_integer_id_is_the_same_node(tmp: str) -> None:
    config = write_yaml(
        tmp,
        {"cloud_access_token": TOKEN,
         "targets": [{"kind": " Cloud", "phone_number_id": int(NUMBER)}]},
    )  # fmt: skip
    [target] = load_settings({"WATCHDOG_CONFIG_FILE": config}).targets
    assert (target.name, target.phone_number_id) == (NUMBER, NUMBER)
