"""The Helm chart's Cloud API side (helm/wa-watchdog: cloud.*), rendered by the real Helm
engine: cloud targets reach the config file as `kind: cloud` entries the watchdog accepts, the
tokens travel only in Secrets and arrive as files the watchdog re-reads, and egress admits the
Graph API when it is restricted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.unit.packaging.test_helm_chart import (
    CHART,
    FULLNAME,
    K8S_VERSIONS,
    KEY,
    Manifest,
    container,
    env,
    lint_problems,
    mounted,
    only,
    pod_spec,
    render,
    rendered,
    secret_data,
    workload,
)
from watchdog.config.settings import load_settings

TOKEN = "EAAchartTestAccessToken0123456789"
APP_TOKEN = "634974688087057|chart-test-app-secret"
OTHER_TOKEN = "EAAotherBusinessToken0123456789"
TOKEN_DIR = "/var/run/secrets/wa-watchdog-cloud"
PHONE = "106540352242922"
WABA = "102290129340398"
OTHER_PHONE = "106540352242923"
ONPREM = {"name": "legacy", "url": "https://wa-prod.whatsapp.svc:443", "tls_insecure": True}
SHOP = {
    "name": "shop-eu",
    "phoneNumberId": PHONE,
    "wabaId": WABA,
    "healthInterval": "2m",
    "labels": {"team": "shop"},
}
# A number of another business, polled with that business's own token.
PARTNER = {
    "name": "partner",
    "phoneNumberId": OTHER_PHONE,
    "accessToken": {"existingSecret": "partner-token", "existingSecretKey": "token"},
}
# The migration picture: one On-Prem deployment and one Cloud number side by side.
MIGRATION: dict[str, Any] = {
    "apiKey": {"value": KEY},
    "targets": [ONPREM],
    "cloud": {
        "targets": [SHOP, PARTNER],
        "graphVersion": "v24.0",
        "accessToken": {"value": TOKEN},
        "appToken": {"existingSecret": "meta-app", "existingSecretKey": "app-token"},
    },
}
EXISTING_SECRETS = {"partner-token": {"token": OTHER_TOKEN}, "meta-app": {"app-token": APP_TOKEN}}
CLOUD_ONLY: dict[str, Any] = {
    "cloud": {"targets": [SHOP], "accessToken": {"existingSecret": "wa-cloud-token"}}
}
EGRESS = [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}]
RESTRICTED = {"enabled": True, "egress": EGRESS}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


# --- the configuration ----------------------------------------------------------------------
def test_onprem_and_cloud_targets_give_a_configuration_the_watchdog_accepts(
    chart: helm.Chart, tmp_path: Path
) -> None:
    """One On-Prem and two Cloud targets (one with its own token Secret), mounted as the kubelet
    would: the watchdog loads them with the right credential files for each kind."""
    objects = render(chart, MIGRATION)
    settings = load_settings(mounted(objects, tmp_path, EXISTING_SECRETS))

    legacy, shop, partner = settings.targets
    assert (legacy.name, legacy.kind, legacy.url) == ("legacy", "onprem", ONPREM["url"])
    assert legacy.tls_insecure is True
    assert legacy.api_key_file is not None
    assert legacy.api_key_file.read_text() == KEY
    assert legacy.access_token_file is None
    assert (shop.name, shop.kind, shop.phone_number_id, shop.waba_id) == (
        "shop-eu",
        "cloud",
        PHONE,
        WABA,
    )
    assert shop.url == "https://graph.facebook.com"
    assert shop.health_interval == 120.0
    assert dict(shop.labels) == {"team": "shop"}
    assert shop.graph_version == "v24.0"
    assert shop.api_key_file is None
    assert shop.access_token_file is not None
    assert shop.access_token_file.read_text() == TOKEN
    assert shop.app_token_file is not None
    assert shop.app_token_file.read_text() == APP_TOKEN
    assert (partner.kind, partner.phone_number_id, partner.waba_id) == ("cloud", OTHER_PHONE, None)
    assert partner.access_token_file is not None
    assert partner.access_token_file.read_text() == OTHER_TOKEN
    # Unset, a Cloud target keeps the Cloud default, not the On-Prem one.
    assert partner.health_interval == 300.0


def test_cloud_targets_follow_targets_in_the_config_file(chart: helm.Chart) -> None:
    """cloud.targets become `kind: cloud` entries after `targets`, camelCase turned into the
    config file's keys; the ids stay strings."""
    config = yaml.safe_load(
        only(render(chart, MIGRATION), "ConfigMap", FULLNAME)["data"]["config.yaml"]
    )
    assert config["graph_version"] == "v24.0"
    assert config["targets"] == [
        ONPREM,
        {
            "kind": "cloud",
            "name": "shop-eu",
            "phone_number_id": PHONE,
            "waba_id": WABA,
            "health_interval": "2m",
            "labels": {"team": "shop"},
        },
        {
            "kind": "cloud",
            "name": "partner",
            "phone_number_id": OTHER_PHONE,
            "access_token_file": f"{TOKEN_DIR}/targets/partner/access-token",
        },
    ]


def test_config_file_form_of_a_cloud_target_passes_through(
    chart: helm.Chart, tmp_path: Path
) -> None:
    """A `targets` entry with `kind: cloud` (the config file's own keys) is accepted by the
    schema and reaches the watchdog unchanged."""
    entry = {"name": "shop", "kind": "Cloud", "phone_number_id": PHONE, "waba_interval": "30m"}
    values = {"targets": [entry], "cloud": {"accessToken": {"value": TOKEN}}}
    objects = render(chart, values)
    assert yaml.safe_load(only(objects, "ConfigMap", FULLNAME)["data"]["config.yaml"]) == {
        "targets": [entry]
    }
    (target,) = load_settings(mounted(objects, tmp_path, {})).targets
    assert (target.kind, target.phone_number_id, target.waba_interval) == ("cloud", PHONE, 1800.0)


def test_values_header_example_installs_a_cloud_number(chart: helm.Chart, tmp_path: Path) -> None:
    """The `--set` lines of values.yaml's header for a Cloud number give a working config."""
    header = (CHART / "values.yaml").read_text().split("\n\n", 1)[0]
    (example,) = [block for block in header.split("#   helm install")[1:] if "cloud." in block]
    values: dict[str, Any] = {}
    for kind, expression in re.findall(r"--(set|set-string) '?([^ ']+)'?", example):
        parse = helm.parse_set_string if kind == "set" else helm.parse_set_string_values
        merge(values, parse(expression))
    objects = render(chart, values)
    (target,) = load_settings(
        mounted(objects, tmp_path, {"whatsapp-cloud-token": {"access-token": TOKEN}})
    ).targets
    assert (target.name, target.phone_number_id) == ("shop-eu", PHONE)


def merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Helm's merge of several --set expressions (maps deeply, lists by index)."""
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            for index, item in enumerate(value):
                if index < len(into[key]) and isinstance(item, dict):
                    merge(into[key][index], item)
                elif index >= len(into[key]):
                    into[key].append(item)
        else:
            into[key] = value


# --- the tokens -------------------------------------------------------------------------------
def test_tokens_live_only_in_the_secret(chart: helm.Chart) -> None:
    """Chart-managed tokens are in the chart's Secret and nowhere else: not in a ConfigMap, an
    environment variable or an annotation; the pod gets file paths."""
    values = {**MIGRATION, "cloud": {**MIGRATION["cloud"], "appToken": {"value": APP_TOKEN}}}
    objects = render(chart, values)
    assert secret_data(objects) == {
        "api-key": KEY,
        "access-token": TOKEN,
        "app-token": APP_TOKEN,
    }
    elsewhere = json.dumps([o for o in objects if o["kind"] != "Secret"])
    for token in (TOKEN, APP_TOKEN):
        assert token not in elsewhere
    variables = env(objects)
    assert "WA_CLOUD_ACCESS_TOKEN" not in variables
    assert "WA_CLOUD_APP_TOKEN" not in variables
    assert variables["WA_CLOUD_ACCESS_TOKEN_FILE"]["value"] == f"{TOKEN_DIR}/access-token"
    assert variables["WA_CLOUD_APP_TOKEN_FILE"]["value"] == f"{TOKEN_DIR}/app-token"


def test_token_secret_is_mounted_whole_and_rotation_needs_no_restart(chart: helm.Chart) -> None:
    """The token directory is a read-only volume mount without subPath (the kubelet updates it
    in place), and a new token leaves the pod template as it was (no rollout)."""
    objects = render(chart, CLOUD_ONLY)
    assert not [o for o in objects if o["kind"] == "Secret"]
    (mount,) = [m for m in container(objects)["volumeMounts"] if m["mountPath"] == TOKEN_DIR]
    assert mount["readOnly"] is True
    assert "subPath" not in mount
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes[mount["name"]]["projected"]["sources"] == [
        {
            "secret": {
                "name": "wa-cloud-token",
                "items": [{"key": "access-token", "path": "access-token"}],
            }
        }
    ]
    before = render(
        chart, {**CLOUD_ONLY, "cloud": {**CLOUD_ONLY["cloud"], "accessToken": {"value": TOKEN}}}
    )
    after = render(
        chart,
        {**CLOUD_ONLY, "cloud": {**CLOUD_ONLY["cloud"], "accessToken": {"value": OTHER_TOKEN}}},
    )
    assert secret_data(before) != secret_data(after)
    assert workload(before)["spec"]["template"] == workload(after)["spec"]["template"]


def test_no_cloud_token_no_cloud_mount(chart: helm.Chart) -> None:
    """An On-Prem-only release mounts no token directory and sets no Cloud variable."""
    objects = render(chart, {"targets": [ONPREM], "apiKey": {"value": KEY}})
    assert [m["name"] for m in container(objects)["volumeMounts"]] == ["config", "api-key", "tmp"]
    assert not {"WA_CLOUD_ACCESS_TOKEN_FILE", "WA_CLOUD_APP_TOKEN_FILE"} & env(objects).keys()


# --- egress -----------------------------------------------------------------------------------
def graph_rules(objects: list[Manifest]) -> list[dict[str, Any]]:
    policy = only(objects, "NetworkPolicy")
    return [
        rule
        for rule in policy["spec"].get("egress", [])
        if rule.get("ports") == [{"port": 443, "protocol": "TCP"}]
        and any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in rule.get("to", []))
    ]


def test_restricted_egress_admits_the_graph_api_for_cloud_targets(chart: helm.Chart) -> None:
    """With egress restricted, Cloud targets add HTTPS to public addresses (the Graph API has
    no fixed ones), private ranges and the metadata service excluded; the user's rules stay."""
    objects = render(chart, {**CLOUD_ONLY, "networkPolicy": RESTRICTED})
    (rule,) = graph_rules(objects)
    v4, v6 = rule["to"]
    assert v4["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(
        v4["ipBlock"]["except"]
    )
    assert v6["ipBlock"] == {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}
    assert only(objects, "NetworkPolicy")["spec"]["egress"][-1] == EGRESS[0]


@pytest.mark.parametrize(
    "values",
    [
        {"targets": [ONPREM], "networkPolicy": RESTRICTED},
        {**CLOUD_ONLY, "networkPolicy": {**RESTRICTED, "graphEgress": False}},
    ],
    ids=["onprem-only", "graphEgress-off"],
)
def test_graph_egress_only_when_wanted(chart: helm.Chart, values: dict[str, Any]) -> None:
    """No Cloud target, or graphEgress off: egress is exactly DNS and the user's rules."""
    assert graph_rules(render(chart, values)) == []


def test_unrestricted_egress_stays_unrestricted(chart: helm.Chart) -> None:
    """Without egress rules the policy restricts ingress only, Cloud targets or not."""
    policy = only(
        render(chart, {**CLOUD_ONLY, "networkPolicy": {"enabled": True}}), "NetworkPolicy"
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "egress" not in policy["spec"]


def test_a_config_file_cloud_target_counts_for_egress(chart: helm.Chart) -> None:
    """A `kind: cloud` entry under `targets` (any case, as the watchdog reads it) opens Graph."""
    target = {"kind": " CLOUD ", "phone_number_id": PHONE}
    assert graph_rules(render(chart, {"targets": [target], "networkPolicy": RESTRICTED}))


# --- validity ---------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "values",
    [MIGRATION, CLOUD_ONLY, {**MIGRATION, "networkPolicy": RESTRICTED, "sharding": {"shards": 2}}],
    ids=["migration", "cloud-only", "restricted-sharded"],
)
def test_cloud_objects_are_valid(chart: helm.Chart, values: dict[str, Any], version: str) -> None:
    """Every object passes strict Kubernetes validation with Cloud targets and tokens."""
    for obj in render(chart, values):
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("values", [MIGRATION, CLOUD_ONLY], ids=["migration", "cloud-only"])
def test_cloud_lint_is_clean(values: dict[str, Any]) -> None:
    """`helm lint --strict` finds nothing with Cloud values."""
    assert lint_problems(values) == []


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"cloud": {"targets": [{"phoneNumberId": int(PHONE)}]}}, "/cloud/targets/0/phoneNumberId"),
        (
            {"cloud": {"targets": [{"phoneNumberId": "+15550783881"}]}},
            "/cloud/targets/0/phoneNumberId",
        ),
        ({"cloud": {"targets": [{"name": "shop"}]}}, "/cloud/targets/0"),
        ({"cloud": {"targets": [{"phoneNumberId": PHONE, "token": TOKEN}]}}, "/cloud/targets/0"),
        (
            {"cloud": {"targets": [{"phoneNumberId": PHONE, "accessToken": {"value": TOKEN}}]}},
            "/cloud/targets/0/accessToken",
        ),
        ({"cloud": {"accessToken": {"value": "short"}}}, "/cloud/accessToken/value"),
        ({"cloud": {"accessToken": {"value": "EAA with spaces 0123"}}}, "/cloud/accessToken/value"),
        (
            {"cloud": {"appToken": {"existingSecretKey": "a key"}}},
            "/cloud/appToken/existingSecretKey",
        ),
        ({"cloud": {"graphVersion": "25.0"}}, "/cloud/graphVersion"),
        ({"cloud": {"target": []}}, "/cloud"),
        ({"targets": [{"kind": "cloud", "waba_id": WABA}]}, "/targets/0"),
        ({"targets": [{"kind": "saas", "url": "https://wa"}]}, "/targets/0/kind"),
        (
            {"targets": [{"kind": "cloud", "phone_number_id": PHONE, "access_token": TOKEN}]},
            "/targets/0",
        ),
        ({"config": {"cloud_access_token": TOKEN}}, "/config/cloud_access_token"),
        ({"config": {"cloud_app_token": APP_TOKEN}}, "/config/cloud_app_token"),
        ({"networkPolicy": {"graphEgress": "yes"}}, "/networkPolicy/graphEgress"),
    ],
)
def test_schema_rejects_wrong_cloud_values(
    chart: helm.Chart, values: dict[str, Any], where: str
) -> None:
    """values.schema.json refuses a wrong Cloud value, naming the key; an unquoted id (a
    number Helm would print in exponent notation) and an inline token among them."""
    with pytest.raises(helm.HelmValuesError) as caught:
        rendered(chart, values)
    assert where in str(caught.value)


# --- NOTES ------------------------------------------------------------------------------------
def notes(chart: helm.Chart, values: Mapping[str, Any]) -> str:
    return rendered(chart, values)["wa-watchdog/templates/NOTES.txt"]


def test_notes_of_a_cloud_only_release(chart: helm.Chart) -> None:
    """A Cloud-only release is not told to set an API key nor shown a Webapp pod's probe."""
    text = notes(chart, CLOUD_ONLY)
    assert "WARNING" not in text
    assert "readinessProbe" not in text


def test_notes_warn_about_a_number_without_a_token(chart: helm.Chart) -> None:
    """A Cloud target with neither the global token nor its own is named in a warning."""
    text = notes(chart, {"cloud": {"targets": [SHOP, PARTNER]}})
    assert "WARNING: no Cloud API access token for shop-eu." in text
    assert "partner" not in text.split("WARNING: no Cloud API access token", 1)[1].split("\n\n")[0]
    assert "no API key" not in text


def test_notes_probe_an_onprem_target(chart: helm.Chart) -> None:
    """In a mixed release the Webapp probe example names the On-Prem target, even when a Cloud
    target comes first."""
    first = {"kind": "cloud", "name": "first", "phone_number_id": PHONE}
    values = {**MIGRATION, "targets": [first, ONPREM]}
    text = notes(chart, values)
    assert "path: /probe/legacy/ready" in text
    assert "WARNING" not in text


# --- README ------------------------------------------------------------------------------------
def test_readme_cloud_values_install(chart: helm.Chart, tmp_path: Path) -> None:
    """The README's Cloud API section's Helm values pass the schema and lint, render valid
    objects and give the watchdog one target of each kind."""
    readme = (CHART.parents[1] / "README.md").read_text()
    section = readme.split("\n## Cloud API\n", 1)[1].split("\n## ", 1)[0]
    example = re.search(
        r"`wa-watchdog-values.yaml`[^\n]*:\n\n```yaml\n(.*?)```", section, re.DOTALL
    )
    assert example is not None
    values = yaml.safe_load(example[1])
    assert lint_problems(values) == []
    objects = render(chart, values)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)
    secrets = {
        values["apiKey"]["existingSecret"]: {"api-key": KEY},
        values["cloud"]["accessToken"]["existingSecret"]: {"access-token": TOKEN},
    }
    settings = load_settings(mounted(objects, tmp_path, secrets))
    assert sorted(t.kind for t in settings.targets) == ["cloud", "onprem"]
