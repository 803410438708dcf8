"""The Helm chart (helm/wa-watchdog), rendered by the real Helm engine (helm-python-sdk, in
process, no cluster): every object of every switch combination is valid for two Kubernetes
versions, the CRD objects match the prometheus-operator schemas, and the rendered configuration
is one the watchdog itself accepts."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from watchdog.base.errors import ConfigError
from watchdog.base.values import split_shard
from watchdog.config.settings import load_settings
from watchdog.config.sharding import in_shard

Manifest = dict[str, Any]

CHART = Path(__file__).resolve().parents[3] / "helm" / "wa-watchdog"
RULES_FILE = CHART / "files" / "prometheus-rules.yaml"
DASHBOARD_FILE = CHART / "dashboards" / "wa-watchdog.json"
# Two schema versions kubernetes-validate ships: an old-but-supported one and a recent one.
K8S_VERSIONS = ("1.29.0", "1.33.0")
RELEASE = "wd"
NAMESPACE = "monitoring"
FULLNAME = "wd-wa-watchdog"
KEY = "k3y-0123456789abcdef"
CLOUD_TOKEN = "EAAk3yCloudToken0123456789"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

# --- prometheus-operator CRD schemas --------------------------------------------------------
# The parts of monitoring.coreos.com/v1 the chart uses, transcribed from the operator's CRDs
# (example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules}.yaml,
# v0.8x). The property lists are complete for the objects they describe, and closed
# (additionalProperties: false), so a misspelt field fails here instead of being pruned
# silently by the API server.
_DURATION = (
    "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string", "minLength": 1},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "action": {
            "type": "string",
            "enum": [
                *("replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod"),
                *("labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep"),
                *("lowercase", "Lowercase", "uppercase", "Uppercase"),
                *("keepequal", "KeepEqual", "dropequal", "DropEqual"),
            ],
        },
        "modulus": {"type": "integer"},
        "regex": {"type": "string"},
        "replacement": {"type": "string"},
        "separator": {"type": "string"},
        "sourceLabels": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
        },
        "targetLabel": {"type": "string"},
    },
}
_ENDPOINT_FIELDS = (
    "authorization",
    "basicAuth",
    "bearerTokenFile",
    "bearerTokenSecret",
    "enableHttp2",
    "filterRunning",
    "followRedirects",
    "honorLabels",
    "honorTimestamps",
    "interval",
    "metricRelabelings",
    "noProxy",
    "oauth2",
    "params",
    "path",
    "port",
    "proxyConnectHeader",
    "proxyFromEnvironment",
    "proxyUrl",
    "relabelings",
    "scheme",
    "scrapeTimeout",
    "targetPort",
    "tlsConfig",
    "trackTimestampsStaleness",
)
_SERVICE_MONITOR_FIELDS = (
    "attachMetadata",
    "bodySizeLimit",
    "convertClassicHistogramsToNHCB",
    "endpoints",
    "fallbackScrapeProtocol",
    "jobLabel",
    "keepDroppedTargets",
    "labelLimit",
    "labelNameLengthLimit",
    "labelValueLengthLimit",
    "namespaceSelector",
    "nativeHistogramBucketLimit",
    "nativeHistogramMinBucketFactor",
    "podTargetLabels",
    "sampleLimit",
    "scrapeClass",
    "scrapeClassicHistograms",
    "scrapeProtocols",
    "selector",
    "selectorMechanism",
    "targetLabels",
    "targetLimit",
)
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["endpoints", "selector"],
            "additionalProperties": False,
            "properties": {
                **{field: {} for field in _SERVICE_MONITOR_FIELDS},
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": _STRING_MAP,
                        "matchExpressions": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            **{field: {} for field in _ENDPOINT_FIELDS},
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"type": "string", "enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "items": _RELABEL},
                            "metricRelabelings": {"type": "array", "items": _RELABEL},
                        },
                    },
                },
            },
        },
    },
}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "labels": _STRING_MAP,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": {"type": "string"},
                            "query_offset": {"type": "string", "pattern": _DURATION},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "additionalProperties": False,
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string", "minLength": 1},
                                        "record": {"type": "string", "minLength": 1},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "keep_firing_for": {
                                            "type": "string",
                                            "minLength": 1,
                                            "pattern": _DURATION,
                                        },
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR_SCHEMA, "PrometheusRule": PROMETHEUS_RULE_SCHEMA}

# --- the switch matrix ----------------------------------------------------------------------
TARGETS = [
    {"name": "prod", "url": "https://wa-prod.whatsapp.svc:443", "labels": {"team": "messaging"}},
    {"name": "staging", "url": "https://wa-staging.whatsapp.svc", "health_interval": "30s"},
]
CLOUD_TARGETS = [{"name": "shop", "phoneNumberId": "106540352242922", "wabaId": "102290129340398"}]
EVERYTHING: dict[str, Any] = {
    "targets": TARGETS,
    "apiKey": {"value": KEY},
    "cloud": {"targets": CLOUD_TARGETS, "accessToken": {"value": CLOUD_TOKEN}},
    "alertmanager": {"urls": ["http://alertmanager-operated.monitoring:9093"]},
    "webhooks": {"urls": ["https://hooks.slack.com/services/T000/B000/XXXX"]},
    "externalUrl": "https://wa-watchdog.example.com",
    "config": {"health_interval": "20s", "alerts": {"gateway_down": {"expected_shards": 2}}},
    "serviceMonitor": {
        "enabled": True,
        "labels": {"release": "prometheus"},
        "relabelings": [{"targetLabel": "cluster", "replacement": "eu-1"}],
        "metricRelabelings": [{"action": "labeldrop", "regex": "pod"}],
    },
    "prometheusRule": {"enabled": True, "additionalRuleLabels": {"cluster": "eu-1"}},
    "dashboards": {"enabled": True, "annotations": {"grafana_folder": "WhatsApp"}},
    "networkPolicy": {
        "enabled": True,
        "ingress": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "egress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
    },
    "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    "extraEnv": [{"name": "WATCHDOG_LOG_LEVEL", "value": "debug"}],
    "extraVolumes": [{"name": "ca", "configMap": {"name": "wa-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/wa-ca", "readOnly": True}],
    "imagePullSecrets": [{"name": "registry"}],
    "image": {"digest": "sha256:" + "a" * 64},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "monitoring", "operator": "Exists", "effect": "NoSchedule"}],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "wa-watchdog"}},
        }
    ],
    "podAnnotations": {"example.com/owner": "messaging"},
    "podLabels": {"team": "messaging"},
    "priorityClassName": "monitoring",
    "service": {"type": "NodePort", "annotations": {"example.com/a": "b"}},
    "serviceAccount": {"annotations": {"example.com/role": "watchdog"}},
}
MATRIX: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sharding": {"sharding": {"shards": 3}, "targets": TARGETS, "apiKey": {"value": KEY}},
    "chart-secret": {"apiKey": {"value": KEY}, "webhooks": {"urls": ["https://hooks.example/x"]}},
    "existing-secret": {
        "apiKey": {"existingSecret": "whatsapp-api-key", "existingSecretKey": "key"},
        "webhooks": {"existingSecret": "watchdog-webhooks"},
    },
    "cloud": {"cloud": {"targets": CLOUD_TARGETS, "accessToken": {"value": CLOUD_TOKEN}}},
    "cloud-existing-secrets": {
        "cloud": {
            "targets": CLOUD_TARGETS,
            "accessToken": {"existingSecret": "wa-cloud-token"},
            "appToken": {"existingSecret": "meta-app", "existingSecretKey": "token"},
        }
    },
    "serviceMonitor": {"serviceMonitor": {"enabled": True}},
    "prometheusRule": {"prometheusRule": {"enabled": True}},
    "dashboards": {"dashboards": {"enabled": True}},
    "networkPolicy": {"networkPolicy": {"enabled": True}},
    "podDisruptionBudget": {"podDisruptionBudget": {"enabled": True}},
    "no-serviceAccount": {"serviceAccount": {"create": False}},
    "everything": EVERYTHING,
    "everything-sharded": {**EVERYTHING, "sharding": {"shards": 4}},
}
BASE_KINDS = ["ConfigMap", "Deployment", "Service", "ServiceAccount"]
EXPECTED_KINDS: dict[str, list[str]] = {
    "defaults": BASE_KINDS,
    "sharding": ["ConfigMap", "Secret", "Service", "ServiceAccount", "StatefulSet"],
    "chart-secret": sorted([*BASE_KINDS, "Secret"]),
    "existing-secret": BASE_KINDS,
    "cloud": sorted([*BASE_KINDS, "Secret"]),
    "cloud-existing-secrets": BASE_KINDS,
    "serviceMonitor": sorted([*BASE_KINDS, "ServiceMonitor"]),
    "prometheusRule": sorted([*BASE_KINDS, "PrometheusRule"]),
    "dashboards": sorted([*BASE_KINDS, "ConfigMap"]),
    "networkPolicy": sorted([*BASE_KINDS, "NetworkPolicy"]),
    "podDisruptionBudget": sorted([*BASE_KINDS, "PodDisruptionBudget"]),
    "no-serviceAccount": ["ConfigMap", "Deployment", "Service"],
    "everything": sorted(
        [
            *BASE_KINDS,
            *("ConfigMap", "Secret", "ServiceMonitor", "PrometheusRule"),
            *("NetworkPolicy", "PodDisruptionBudget"),
        ]
    ),
    "everything-sharded": sorted(
        [
            *("ConfigMap", "Service", "ServiceAccount", "StatefulSet"),
            *("ConfigMap", "Secret", "ServiceMonitor", "PrometheusRule"),
            *("NetworkPolicy", "PodDisruptionBudget"),
        ]
    ),
}


# --- helpers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def rendered(chart: helm.Chart, values: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would produce it."""
    return chart.render(
        copy.deepcopy(dict(values)) if values else None, name=RELEASE, namespace=NAMESPACE
    )


def render(chart: helm.Chart, values: Mapping[str, Any] | None = None) -> list[Manifest]:
    """The rendered Kubernetes objects (NOTES.txt left out)."""
    objects: list[Manifest] = []
    for path, text in sorted(rendered(chart, values).items()):
        if path.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def only(objects: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, got {len(matches)}"
    return matches[0]


def workload(objects: list[Manifest]) -> Manifest:
    (found,) = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    return found


def pod_spec(objects: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = workload(objects)["spec"]["template"]["spec"]
    return spec


def container(objects: list[Manifest]) -> dict[str, Any]:
    (found,) = [c for c in pod_spec(objects)["containers"] if c["name"] == "watchdog"]
    return dict(found)


def env(objects: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(objects)["env"]}


def config_file(objects: list[Manifest]) -> dict[str, Any]:
    text = only(objects, "ConfigMap", FULLNAME)["data"]["config.yaml"]
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def secret_data(objects: list[Manifest]) -> dict[str, str]:
    data = only(objects, "Secret")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def expand(environment: list[dict[str, Any]], resolved: Mapping[str, str]) -> dict[str, str]:
    """What the kubelet does with a container's env list: values taken as given (valueFrom
    ones from `resolved`), `$(NAME)` replaced by an earlier variable, unknown ones kept."""
    result: dict[str, str] = {}
    for entry in environment:
        if "valueFrom" in entry:
            result[entry["name"]] = resolved[entry["name"]]
            continue
        result[entry["name"]] = re.sub(
            r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
            lambda m: result.get(m[1], m[0]),
            str(entry.get("value", "")),
        )
    return result


def mounted(
    objects: list[Manifest], root: Path, secrets: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """What the kubelet does with the pod: every volume the container mounts written under
    `root` (ConfigMaps, Secrets and projected Secrets, item by item, from `secrets` and the
    chart's own Secret), and the container's environment with the mounted paths moved there too.
    A volume that names a missing Secret or key fails here, as the pod would not start."""
    available = {name: dict(data) for name, data in secrets.items()}
    # A ConfigMap from outside the release (extraVolumes) is mounted empty.
    config_maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    if [o for o in objects if o["kind"] == "Secret"]:
        available[only(objects, "Secret")["metadata"]["name"]] = secret_data(objects)
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}

    # One pass, longest first: a path outside any mount (or already moved) stays as it is.
    paths = "|".join(map(re.escape, sorted(mounts.values(), key=len, reverse=True)))
    mount_path = re.compile(rf"(?<![\w/.-])(?:{paths})/")

    def moved(text: str) -> str:
        return mount_path.sub(lambda m: f"{root}{m[0]}", text)

    for volume in pod_spec(objects)["volumes"]:
        if volume["name"] not in mounts:
            continue
        where = Path(f"{root}{mounts[volume['name']]}")
        files: dict[str, str] = {}
        if "configMap" in volume:
            data = config_maps.get(volume["configMap"]["name"], {})
            files = {key: moved(text) for key, text in data.items()}
        sources = [s["secret"] for s in volume.get("projected", {}).get("sources", [])]
        if "secret" in volume:
            sources.append({"name": volume["secret"]["secretName"], **volume["secret"]})
        for source in sources:
            data = available[source["name"]]
            for item in source.get("items") or [{"key": key, "path": key} for key in data]:
                files[item["path"]] = data[item["key"]]
        for name, text in files.items():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            (where / name).write_text(text)
    resolved = {
        entry["name"]: available[ref["name"]][ref["key"]]
        for entry in container(objects)["env"]
        if (ref := entry.get("valueFrom", {}).get("secretKeyRef"))
    }
    return {
        name: moved(value) for name, value in expand(container(objects)["env"], resolved).items()
    }


def lint_problems(values: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """`helm lint --strict` findings of severity warning or error."""
    report = helm.lint(CHART, copy.deepcopy(dict(values)) if values else None, strict=True)
    problems: list[dict[str, Any]] = [m for m in report["messages"] if m["severity"] >= 2]
    return problems + [{"error": error} for error in report["errors"]]


# --- validity of everything ------------------------------------------------------------------
@pytest.mark.parametrize("case", list(MATRIX))
def test_switches_render_their_objects(chart: helm.Chart, case: str) -> None:
    """Each switch combination renders exactly the objects it should, in the release namespace."""
    objects = render(chart, MATRIX[case])
    assert sorted(o["kind"] for o in objects) == EXPECTED_KINDS[case]
    assert {o["metadata"]["namespace"] for o in objects} == {NAMESPACE}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", list(MATRIX))
def test_every_object_is_valid(chart: helm.Chart, case: str, version: str) -> None:
    """Every object passes strict validation: Kubernetes schemas, or the CRD schemas."""
    for obj in render(chart, MATRIX[case]):
        if obj["kind"] in CRD_KINDS:
            jsonschema.Draft7Validator(CRD_SCHEMAS[obj["kind"]]).validate(obj)
        else:
            kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("case", ["defaults", "everything", "everything-sharded"])
def test_lint_is_clean(case: str) -> None:
    """`helm lint --strict` finds no warning or error."""
    assert lint_problems(MATRIX[case]) == []


def test_crd_schemas_catch_mistakes(chart: helm.Chart) -> None:
    """The transcribed CRD schemas reject a misspelt field, so a pass above means something."""
    objects = render(chart, EVERYTHING)
    monitor = copy.deepcopy(only(objects, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SERVICE_MONITOR_SCHEMA).validate(monitor)
    rule = copy.deepcopy(only(objects, "PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(PROMETHEUS_RULE_SCHEMA).validate(rule)


# --- values.schema.json ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"sharding": {"shards": 0}}, "/sharding/shards"),
        ({"sharding": {"shards": "3"}}, "/sharding/shards"),
        ({"serviceMonitor": {"enabled": "yes"}}, "/serviceMonitor/enabled"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval"),
        ({"serviceMonitor": {"labels": {"release": 1}}}, "/serviceMonitor/labels/release"),
        ({"prometheusRule": {"enabled": 1}}, "/prometheusRule/enabled"),
        ({"dashboards": {"enabled": "true"}}, "/dashboards/enabled"),
        ({"networkPolicy": {"ingress": {"from": []}}}, "/networkPolicy/ingress"),
        ({"podDisruptionBudget": {"minAvailable": "half"}}, "/podDisruptionBudget/minAvailable"),
        ({"apiKey": {"value": "short"}}, "/apiKey/value"),
        ({"apiKey": {"existingSecret": ["a"]}}, "/apiKey/existingSecret"),
        ({"targets": [{"name": "prod"}]}, "/targets/0"),
        ({"targets": [{"url": "https://wa", "tls_insecure": []}]}, "/targets/0/tls_insecure"),
        ({"targets": [{"url": "https://wa", "api_key": KEY}]}, "/targets/0"),
        ({"targets": {"prod": "https://wa"}}, "/targets"),
        ({"alertmanager": {"urls": "http://am:9093"}}, "/alertmanager/urls"),
        ({"webhooks": {"urls": ["hooks.slack.com/x"]}}, "/webhooks/urls/0"),
        ({"config": {"api_key": KEY}}, "/config/api_key"),
        ({"config": "health_interval: 15s"}, "/config"),
        ({"service": {"port": "http"}}, "/service/port"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"podAnnotations": {"a": 1}}, "/podAnnotations/a"),
        ({"livenessProbe": {"httpGet": {"path": "/"}}}, "/livenessProbe"),
        ({"extraEnv": [{"value": "x"}]}, "/extraEnv/0"),
        ({"serviceMonitors": {"enabled": True}}, "serviceMonitors"),
    ],
)
def test_schema_rejects_wrong_values(chart: helm.Chart, values: dict[str, Any], where: str) -> None:
    """values.schema.json refuses a wrongly typed value, naming the key."""
    with pytest.raises(helm.HelmValuesError) as caught:
        rendered(chart, values)
    assert where in str(caught.value)


# --- the pod ---------------------------------------------------------------------------------
def test_probes_follow_the_watchdog_not_the_api(chart: helm.Chart) -> None:
    """Liveness and startup probe /livez, readiness /readyz, on the container's 9877 port."""
    objects = render(chart)
    watchdog = container(objects)
    assert watchdog["ports"] == [{"name": "http", "containerPort": 9877, "protocol": "TCP"}]
    assert watchdog["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert watchdog["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert watchdog["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env(objects)["WATCHDOG_LISTEN"]["value"] == "0.0.0.0:9877"
    assert watchdog["args"] == ["run"]
    service = only(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == workload(objects)["spec"]["selector"]["matchLabels"]


def test_pod_is_locked_down(chart: helm.Chart) -> None:
    """Non-root, read-only root with /tmp writable, no capabilities, RuntimeDefault, no token."""
    objects = render(chart)
    spec = pod_spec(objects)
    watchdog = container(objects)
    context = watchdog["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert only(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in watchdog["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert watchdog["resources"]["limits"]["memory"]


def test_chart_secret_holds_the_key_as_a_file(chart: helm.Chart) -> None:
    """apiKey.value is a Secret file (no subPath) that WA_API_KEY_FILE names."""
    objects = render(chart, {"apiKey": {"value": KEY}})
    assert secret_data(objects) == {"api-key": KEY}
    variables = env(objects)
    assert "WA_API_KEY" not in variables
    key_file = Path(variables["WA_API_KEY_FILE"]["value"])
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    (mount,) = [m for m in container(objects)["volumeMounts"] if m["name"] == "api-key"]
    assert "subPath" not in mount
    assert mount["readOnly"] is True
    assert Path(mount["mountPath"]) == key_file.parent
    secret = volumes["api-key"]["secret"]
    assert secret["secretName"] == only(objects, "Secret")["metadata"]["name"]
    assert secret["items"] == [{"key": "api-key", "path": key_file.name}]


def test_existing_secret_is_mounted_and_none_created(chart: helm.Chart) -> None:
    """apiKey.existingSecret: no Secret is rendered, the named Secret's key is mounted instead."""
    objects = render(
        chart, {"apiKey": {"existingSecret": "whatsapp-api-key", "existingSecretKey": "token"}}
    )
    assert not [o for o in objects if o["kind"] == "Secret"]
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["api-key"]["secret"]["secretName"] == "whatsapp-api-key"
    assert volumes["api-key"]["secret"]["items"] == [{"key": "token", "path": "api-key"}]
    assert env(objects)["WA_API_KEY_FILE"]["value"] == "/var/run/secrets/wa-watchdog/api-key"


def test_no_key_configured_means_nothing_mounted(chart: helm.Chart) -> None:
    """Without a key nothing mounts a missing Secret, and NOTES warns."""
    objects = render(chart)
    assert "WA_API_KEY_FILE" not in env(objects)
    assert all("secret" not in v for v in pod_spec(objects)["volumes"])
    notes = rendered(chart)["wa-watchdog/templates/NOTES.txt"]
    assert "WARNING: no API key" in notes
    assert "WARNING: no targets" in notes


def test_config_changes_restart_pods_but_key_rotation_does_not(chart: helm.Chart) -> None:
    """Config and webhook changes roll the pods; a rotated API key does not."""

    def annotations(values: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = workload(render(chart, values))["spec"]["template"]["metadata"][
            "annotations"
        ]
        return found

    base = {"targets": TARGETS, "apiKey": {"value": KEY}, "webhooks": {"urls": ["https://h/1"]}}
    before = annotations(base)
    assert annotations({**base, "apiKey": {"value": KEY + "-rotated"}}) == before
    changed = annotations({**base, "config": {"timeout": "10s"}})
    assert changed["checksum/config"] != before["checksum/config"]
    hooks = annotations({**base, "webhooks": {"urls": ["https://h/2"]}})
    assert hooks["checksum/webhooks"] != before["checksum/webhooks"]


def test_webhook_urls_stay_out_of_the_configmap(chart: helm.Chart) -> None:
    """Webhook URLs (secret paths) reach the process from a Secret, never the ConfigMap."""
    urls = ["https://hooks.slack.com/services/T000/B000/XXXX", "https://example.com/hook"]
    objects = render(chart, {"webhooks": {"urls": urls}})
    assert "hooks.slack.com" not in json.dumps(only(objects, "ConfigMap"))
    assert secret_data(objects) == {"webhook-urls": ",".join(urls)}
    ref = env(objects)["WATCHDOG_WEBHOOK_URLS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": FULLNAME, "key": "webhook-urls"}
    existing = render(chart, {"webhooks": {"urls": urls, "existingSecret": "hooks"}})
    assert not [o for o in existing if o["kind"] == "Secret"]
    ref = env(existing)["WATCHDOG_WEBHOOK_URLS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "hooks", "key": "webhook-urls"}


def test_watchdog_accepts_the_rendered_configuration(chart: helm.Chart, tmp_path: Path) -> None:
    """The watchdog's settings loader accepts the rendered files and environment, mounted as
    the kubelet would mount them."""
    objects = render(chart, EVERYTHING)

    settings = load_settings(mounted(objects, tmp_path, {}))

    assert [(t.name, t.kind, t.url) for t in settings.targets] == [
        ("prod", "onprem", "https://wa-prod.whatsapp.svc:443"),
        ("staging", "onprem", "https://wa-staging.whatsapp.svc"),
        ("shop", "cloud", "https://graph.facebook.com"),
    ]
    assert dict(settings.targets[0].labels) == {"team": "messaging"}
    assert settings.targets[1].health_interval == 30.0
    assert settings.health_interval == 20.0
    assert settings.api_key_file == Path(f"{tmp_path}/var/run/secrets/wa-watchdog/api-key")
    cloud = settings.targets[2]
    assert (cloud.phone_number_id, cloud.waba_id) == ("106540352242922", "102290129340398")
    assert cloud.access_token_file is not None
    assert cloud.access_token_file.read_text() == CLOUD_TOKEN
    assert settings.alertmanager_urls == ["http://alertmanager-operated.monitoring:9093"]
    assert settings.webhook_urls == ["https://hooks.slack.com/services/T000/B000/XXXX"]
    assert settings.external_url == "https://wa-watchdog.example.com"
    assert settings.alerts.gateway_down.expected_shards == 2
    assert settings.listen == "0.0.0.0:9877"
    assert settings.log_level == "debug"


def test_structured_values_win_over_free_form_config(chart: helm.Chart) -> None:
    """targets, alertmanager.urls and externalUrl replace the same keys given under config."""
    objects = render(
        chart,
        {
            "targets": TARGETS[:1],
            "externalUrl": "https://new.example",
            "alertmanager": {"urls": ["http://am-new:9093"]},
            "config": {
                "targets": [{"url": "https://old.example"}],
                "external_url": "https://old.example",
                "alertmanager_urls": ["http://am-old:9093"],
                "timeout": "7s",
            },
        },
    )
    assert config_file(objects) == {
        "targets": TARGETS[:1],
        "external_url": "https://new.example",
        "alertmanager_urls": ["http://am-new:9093"],
        "timeout": "7s",
    }


# --- sharding --------------------------------------------------------------------------------
def test_sharding_runs_one_statefulset_pod_per_shard(chart: helm.Chart) -> None:
    """sharding.shards > 1 runs a StatefulSet of exactly that many pods."""
    objects = render(chart, {"sharding": {"shards": 3}, "replicaCount": 5})
    assert not [o for o in objects if o["kind"] == "Deployment"]
    statefulset = only(objects, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["serviceName"] == only(objects, "Service")["metadata"]["name"]
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert "WATCHDOG_SHARD" not in env(render(chart, {"replicaCount": 2}))


def test_each_shard_pod_derives_its_shard_from_its_ordinal(chart: helm.Chart) -> None:
    """Pod i of n gets WATCHDOG_SHARD=i/n from its pod-index label; all targets covered."""
    shards = 3
    objects = render(chart, {"sharding": {"shards": shards}})
    environment = container(objects)["env"]
    names = [entry["name"] for entry in environment]
    assert names.index("POD_INDEX") < names.index("WATCHDOG_SHARD")
    index_ref = env(objects)["POD_INDEX"]["valueFrom"]["fieldRef"]
    assert index_ref == {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}

    targets = [f"wa-{n}" for n in range(20)]
    polled: list[str] = []
    for ordinal in range(shards):
        # The StatefulSet controller labels pod <name>-<ordinal> with its ordinal.
        value = expand(environment, {"POD_INDEX": str(ordinal)})["WATCHDOG_SHARD"]
        assert split_shard(value) == (ordinal, shards)
        polled += [t for t in targets if in_shard(t, ordinal, shards)]
    assert sorted(polled) == sorted(targets)


def test_shard_without_pod_index_label_fails_loudly(chart: helm.Chart, tmp_path: Path) -> None:
    """Without the pod-index label the watchdog refuses to start, naming WATCHDOG_SHARD."""
    objects = render(chart, {"sharding": {"shards": 3}})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"targets": TARGETS, "api_key": KEY}))
    environment = expand(container(objects)["env"], {"POD_INDEX": ""})
    environment["WATCHDOG_CONFIG_FILE"] = str(config)
    with pytest.raises(ConfigError) as caught:
        load_settings(environment)
    assert any(m.startswith("WATCHDOG_SHARD:") for m in caught.value.messages)


# --- monitoring objects ----------------------------------------------------------------------
def test_servicemonitor_scrapes_the_service(chart: helm.Chart) -> None:
    """The ServiceMonitor scrapes the Service's /metrics with honorLabels and a release label."""
    objects = render(
        chart,
        {
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "prometheus-stack"},
                "interval": "15s",
                "scrapeTimeout": "5s",
                "namespace": "observability",
            }
        },
    )
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "observability"
    assert monitor["metadata"]["labels"]["release"] == "prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    # The operator's own `endpoint` target label would rename the watchdog's.
    assert endpoint["honorLabels"] is True
    jobs = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert jobs == "wa-watchdog"


def test_prometheusrule_embeds_the_rules_file(chart: helm.Chart) -> None:
    """The PrometheusRule's spec is files/prometheus-rules.yaml, well-formed rule by rule."""
    source = yaml.safe_load(RULES_FILE.read_text())
    rule = only(render(chart, {"prometheusRule": {"enabled": True}}), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == source
    assert rule["spec"]["groups"]
    for group in rule["spec"]["groups"]:
        assert group["name"]
        for item in group["rules"]:
            assert ("alert" in item) != ("record" in item)
            assert str(item["expr"]).strip()
            if "alert" in item:
                assert all(isinstance(v, str) for v in item.get("labels", {}).values())
                assert all(isinstance(v, str) for v in item.get("annotations", {}).values())


def test_additional_rule_labels_do_not_override_the_rules(chart: helm.Chart) -> None:
    """prometheusRule.additionalRuleLabels reach every rule; a rule's own label wins."""
    source = yaml.safe_load(RULES_FILE.read_text())
    extra = {"cluster": "eu-1", "severity": "overridden?"}
    rule = only(
        render(chart, {"prometheusRule": {"enabled": True, "additionalRuleLabels": extra}}),
        "PrometheusRule",
    )
    for group, original in zip(rule["spec"]["groups"], source["groups"], strict=True):
        for item, before in zip(group["rules"], original["rules"], strict=True):
            assert item["labels"] == {**extra, **before.get("labels", {})}


def test_dashboard_configmap_carries_the_dashboard(chart: helm.Chart) -> None:
    """The dashboard ConfigMap holds the JSON unchanged, labelled grafana_dashboard: "1"."""
    objects = render(
        chart,
        {"dashboards": {"enabled": True, "namespace": "grafana", "labels": {"team": "x"}}},
    )
    (board,) = [o for o in objects if o["metadata"]["name"] == f"{FULLNAME}-dashboard"]
    assert board["kind"] == "ConfigMap"
    assert board["metadata"]["namespace"] == "grafana"
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["metadata"]["labels"]["team"] == "x"
    assert board["data"] == {"wa-watchdog.json": DASHBOARD_FILE.read_text()}
    assert json.loads(board["data"]["wa-watchdog.json"]) == json.loads(DASHBOARD_FILE.read_text())


def test_networkpolicy_admits_only_the_http_port(chart: helm.Chart) -> None:
    """The NetworkPolicy admits the HTTP port; egress is limited only when given, DNS kept."""
    plain = only(render(chart, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert plain["spec"]["policyTypes"] == ["Ingress"]
    assert plain["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}]
    rules = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}]
    strict = only(
        render(chart, {"networkPolicy": {"enabled": True, "ingress": peers, "egress": rules}}),
        "NetworkPolicy",
    )
    assert strict["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert strict["spec"]["ingress"][0]["from"] == peers
    dns, *given = strict["spec"]["egress"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert given == rules


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        ({"enabled": True}, {"minAvailable": 1}),
        ({"enabled": True, "minAvailable": "50%"}, {"minAvailable": "50%"}),
        ({"enabled": True, "maxUnavailable": 1}, {"maxUnavailable": 1}),
        ({"enabled": True, "maxUnavailable": 0}, {"maxUnavailable": 0}),
    ],
)
def test_pod_disruption_budget(
    chart: helm.Chart, budget: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The PodDisruptionBudget sets minAvailable, or maxUnavailable when that is given."""
    pdb = only(render(chart, {"podDisruptionBudget": budget}), "PodDisruptionBudget")
    spec = dict(pdb["spec"])
    assert spec.pop("selector") == {
        "matchLabels": {
            "app.kubernetes.io/name": "wa-watchdog",
            "app.kubernetes.io/instance": RELEASE,
        }
    }
    assert spec == expected


# --- values.yaml and NOTES -------------------------------------------------------------------
def test_every_value_is_documented() -> None:
    """Every key in values.yaml has a comment above it (or sits inside a commented default)."""
    key_line = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*):(.*)$")
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    undocumented: list[str] = []
    previous = ""
    for number, line in enumerate(lines, 1):
        match = key_line.match(line)
        if match and not line.lstrip().startswith("#"):
            indent = len(match[1])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            commented = previous.lstrip().startswith("#")
            documented = commented or any(doc for _, doc in stack)
            section = match[3].strip() == ""
            if not documented and not section:
                undocumented.append(f"{number}: {line.strip()}")
            stack.append((indent, documented))
        if line.strip():
            previous = line
    assert undocumented == []


def test_notes_explain_the_status_page_and_the_probe(chart: helm.Chart) -> None:
    """NOTES say how to reach the status page and to probe /probe/<target>/ready by IP."""
    values = {
        "targets": TARGETS,
        "apiKey": {"existingSecret": "whatsapp-api-key"},
        "service": {"clusterIP": "10.96.0.80"},
    }
    notes = rendered(chart, values)["wa-watchdog/templates/NOTES.txt"]
    assert f"kubectl -n {NAMESPACE} port-forward svc/{FULLNAME} 9877:9877" in notes
    assert "http://127.0.0.1:9877/" in notes
    assert "readinessProbe:" in notes
    assert "path: /probe/prod/ready" in notes
    assert "host: 10.96.0.80" in notes
    assert "WARNING" not in notes
    sharded = rendered(chart, {"sharding": {"shards": 2}})["wa-watchdog/templates/NOTES.txt"]
    assert "answers 404 for the" in sharded


def test_readme_example_values_install(chart: helm.Chart, tmp_path: Path) -> None:
    """The README's example values pass the schema and lint and give a valid configuration."""
    readme = (CHART.parents[1] / "README.md").read_text()
    section = readme.split("\n## Deploy on Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"`wa-watchdog-values.yaml`:\n\n```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    values = yaml.safe_load(example[1])
    objects = render(chart, values)
    assert lint_problems(values) == []
    for obj in objects:
        if obj["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)
    config = tmp_path / "config.yaml"
    config.write_text(only(objects, "ConfigMap", FULLNAME)["data"]["config.yaml"])
    key = tmp_path / "api-key"
    key.write_text(KEY)
    environment = expand(container(objects)["env"], {})
    environment.update(WATCHDOG_CONFIG_FILE=str(config), WA_API_KEY_FILE=str(key))
    settings = load_settings(environment)
    assert [t.name for t in settings.targets] == ["prod"]
    assert container(objects)["image"] == "registry.example.com/wa-watchdog:0.1.0"
