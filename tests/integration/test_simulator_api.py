"""The simulator's monitoring endpoints over real sockets: shapes, auth, Prometheus text, ids."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import API_KEY, SharedSim, Sim, apikey, assert_error, bearer
from watchdog.simulator import KeyScope, Topology

# (path, format) pairs: health has no Prometheus variant.
VARIANTS = [
    ("/v1/health", None),
    ("/metrics", None),
    ("/metrics", "prometheus"),
    ("/v1/stats/app", None),
    ("/v1/stats/app", "prometheus"),
    ("/v1/stats/db", None),
    ("/v1/stats/db", "prometheus"),
]
AUTH_MODES = ["apikey", "bearer", "missing", "wrong_key", "wrong_token", "health_only_key"]
NODE_KEY = re.compile(r"^[^:\s]+:[0-9a-f]{12}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def params(fmt: str | None) -> dict[str, str] | None:
    return {"format": fmt} if fmt else None


def auth_headers(sim: Sim, mode: str) -> dict[str, str]:
    if mode == "apikey":
        return apikey()
    if mode == "bearer":
        return bearer(sim.token)
    if mode == "missing":
        return {}
    if mode == "wrong_key":
        return apikey("not-the-right-key-at-all")
    if mode == "wrong_token":
        return bearer("eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoibW9uaXRvciJ9.c2lnbmF0dXJl")
    sim.deployment.key_scope = KeyScope.HEALTH_ONLY
    return apikey()


def node_keys(sim: Sim) -> list[str]:
    return [str(n["key"]) for n in sim.client.get("/_sim/state").json()["nodes"]]


def roles(sim: Sim) -> dict[str, str]:
    return {str(n["key"]): str(n["role"]) for n in sim.client.get("/_sim/state").json()["nodes"]}


def prometheus_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# -- auth, endpoint and topology -----------------------------------------------------------


@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize(("path", "fmt"), VARIANTS)
@pytest.mark.parametrize("topology", list(Topology))
def test_auth_modes(
    shared: SharedSim, topology: Topology, path: str, fmt: str | None, mode: str
) -> None:
    """Each credential kind gets the documented status and error on every endpoint."""
    sim = shared(topology)
    response = sim.get(path, headers=auth_headers(sim, mode), params=params(fmt))
    if mode in ("apikey", "bearer") or (mode == "health_only_key" and path == "/v1/health"):
        assert response.status_code == 200, response.text
        if fmt == "prometheus":
            assert list(text_string_to_metric_families(response.text))
        else:
            assert "meta" in response.json()
    elif mode == "health_only_key":
        assert_error(response, 403, 1005, "User doesn't have permission")
    elif mode == "missing":
        assert_error(response, 401, 1005, "Missing or invalid authentication credentials")
    else:
        assert_error(response, 401, 1005)


def test_apikey_scheme_word_is_exact(shared: SharedSim) -> None:
    """Only the scheme word `Apikey` carries the key; `Bearer <key>` is a wrong token."""
    sim = shared(Topology.SINGLE)
    assert_error(sim.get("/v1/health", headers=bearer(API_KEY)), 401, 1005)


# -- health shapes --------------------------------------------------------------------------


def test_single_health_shape(shared: SharedSim) -> None:
    """Single instance: `health.gateway_status` and `meta`, no role and no node keys."""
    body = shared(Topology.SINGLE).get("/v1/health").json()
    assert body == {"health": {"gateway_status": "connected"}, "meta": body["meta"]}
    assert set(body["meta"]) == {"version", "api_status"}
    assert body["meta"]["api_status"] == "stable"
    assert body["meta"]["version"].startswith("v")


def test_ha_health_shape(shared: SharedSim) -> None:
    """HA: masters and coreapps keyed host:container; exactly one coreapp connected."""
    sim = shared(Topology.HA)
    health = sim.get("/v1/health").json()["health"]
    assert all(NODE_KEY.match(key) for key in health)
    by_role: dict[str, list[str]] = {}
    for entry in health.values():
        assert set(entry) == {"gateway_status", "role"}
        by_role.setdefault(entry["role"], []).append(entry["gateway_status"])
    assert by_role["primary_master"] == ["disconnected"]
    assert by_role["secondary_master"] == ["disconnected"]
    assert len(by_role["coreapp"]) >= 2
    assert sorted(by_role["coreapp"]).count("connected") == 1
    assert set(by_role["coreapp"]) == {"connected", "disconnected"}


def test_multiconnect_health_shape(shared: SharedSim) -> None:
    """Multiconnect: `shards` coreapps and the primary master connected, the rest not."""
    sim = shared(Topology.MULTICONNECT)
    shards = sim.deployment.config.shards
    health = sim.get("/v1/health").json()["health"]
    assert all(NODE_KEY.match(key) for key in health)
    coreapps = [e["gateway_status"] for e in health.values() if e["role"] == "coreapp"]
    assert coreapps.count("connected") == shards
    assert set(coreapps) <= {"connected", "disconnected"}
    [primary] = [e for e in health.values() if e["role"] == "primary_master"]
    [secondary] = [e for e in health.values() if e["role"] == "secondary_master"]
    assert primary["gateway_status"] == "connected"
    assert secondary["gateway_status"] == "disconnected"


# -- metrics and stats shapes ---------------------------------------------------------------


def assert_family(family: dict[str, Any], *, node_label: bool) -> None:
    assert family["type"] in ("gauge", "counter")
    assert isinstance(family["help"], str)
    assert family["help"]
    assert family["data"], "families without data are omitted"
    for sample in family["data"]:
        assert isinstance(sample["value"], int | float)
        labels = sample.get("labels", {})
        assert all(isinstance(v, str) for v in labels.values())
        assert ("node" in labels) is node_label


@pytest.mark.parametrize("topology", list(Topology))
def test_metrics_json_shape(shared: SharedSim, topology: Topology) -> None:
    """/metrics: typed families whose every sample carries the Webapp's `node` label."""
    body = shared(topology).get("/metrics").json()
    assert set(body) == {"metrics", "meta"}
    assert {"web_uptime", "web_connections", "api_requests_duration_ms_count"} <= set(
        body["metrics"]
    )
    nodes = set()
    for family in body["metrics"].values():
        assert_family(family, node_label=True)
        nodes |= {s["labels"]["node"] for s in family["data"]}
    assert len(nodes) == 1
    assert re.fullmatch(r"[0-9a-f]{12}", nodes.pop())


def test_single_stats_app_shape(shared: SharedSim) -> None:
    """Single instance: `stats.app` maps stat names to families without a node label."""
    body = shared(Topology.SINGLE).get("/v1/stats/app").json()
    assert set(body) == {"stats", "meta"}
    app = body["stats"]["app"]
    assert {"callback_queue_size", "pending_messages"} <= set(app)
    for family in app.values():
        assert_family(family, node_label=False)
    assert "labels" not in app["callback_queue_size"]["data"][0]


@pytest.mark.parametrize("topology", [Topology.HA, Topology.MULTICONNECT])
def test_per_node_stats_app_shape(shared: SharedSim, topology: Topology) -> None:
    """HA/multiconnect: `stats.app` holds one family set per node, keyed like health."""
    sim = shared(topology)
    app = sim.get("/v1/stats/app").json()["stats"]["app"]
    assert set(app) == set(sim.get("/v1/health").json()["health"])
    for families in app.values():
        assert "pending_messages" in families
        for family in families.values():
            assert_family(family, node_label=False)


def test_single_stats_db_shape(shared: SharedSim) -> None:
    """Single instance: `stats.db` holds the db gauges directly."""
    db = shared(Topology.SINGLE).get("/v1/stats/db").json()["stats"]["db"]
    assert set(db) == {
        "db_contacts",
        "db_message_receipts",
        "db_messages",
        "db_pending_callbacks",
        "db_pending_messages",
    }
    for family in db.values():
        assert family["type"] == "gauge"
        assert_family(family, node_label=False)
    assert {s["labels"]["type"] for s in db["db_contacts"]["data"]} == {
        "whatsapp_user",
        "non_whatsapp_user",
    }


@pytest.mark.parametrize("topology", [Topology.HA, Topology.MULTICONNECT])
def test_per_node_stats_db_only_primary_master(shared: SharedSim, topology: Topology) -> None:
    """HA/multiconnect: only the primary master has db stats; every other node is `{}`."""
    sim = shared(topology)
    db = sim.get("/v1/stats/db").json()["stats"]["db"]
    node_roles = roles(sim)
    assert set(db) == set(node_roles)
    for key, families in db.items():
        if node_roles[key] == "primary_master":
            assert "db_messages" in families
        else:
            assert families == {}


# -- Prometheus text ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/v1/stats/app", "/v1/stats/db"])
@pytest.mark.parametrize("topology", list(Topology))
def test_prometheus_text_parses(shared: SharedSim, topology: Topology, path: str) -> None:
    """?format=prometheus is valid exposition text with HELP and TYPE before every family."""
    response = shared(topology).get(path, params={"format": "prometheus"})
    assert response.status_code == 200
    text = response.text
    families = list(text_string_to_metric_families(text))
    assert families
    for family in families:
        assert f"# HELP {family.name} " in text
        assert f"# TYPE {family.name} {family.type}\n" in text
        assert family.samples
    declared = re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE)
    for line in prometheus_lines(text):
        match = SAMPLE_LINE.match(line)
        assert match, line
        assert match.group(1) in declared


@pytest.mark.parametrize("path", ["/v1/stats/app", "/v1/stats/db"])
@pytest.mark.parametrize("topology", [Topology.HA, Topology.MULTICONNECT])
def test_prometheus_per_node_stats_node_first(
    shared: SharedSim, topology: Topology, path: str
) -> None:
    """HA/multiconnect stats in Prometheus text have `node` as the first label of each sample."""
    sim = shared(topology)
    text = sim.get(path, params={"format": "prometheus"}).text
    lines = prometheus_lines(text)
    assert lines
    assert all(re.match(r'^[a-z_]+\{node="[^"]+"[,}]', line) for line in lines), lines
    nodes = {
        s.labels["node"] for family in text_string_to_metric_families(text) for s in family.samples
    }
    assert nodes <= set(node_keys(sim))
    if path.endswith("/db"):
        assert nodes == {k for k, r in roles(sim).items() if r == "primary_master"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert next(iter(sample.labels)) == "node"


@pytest.mark.parametrize("path", ["/v1/stats/app", "/v1/stats/db"])
def test_prometheus_single_stats_no_node_label(shared: SharedSim, path: str) -> None:
    """Single-instance stats in Prometheus text carry no `node` label."""
    text = shared(Topology.SINGLE).get(path, params={"format": "prometheus"}).text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert samples
    assert all("node" not in s.labels for s in samples)
    label_less = "pending_messages" if path.endswith("/app") else "db_pending_messages"
    assert any(re.match(rf"^{label_less} \d+$", line) for line in prometheus_lines(text))


@pytest.mark.parametrize("topology", list(Topology))
def test_prometheus_metrics_carry_node(shared: SharedSim, topology: Topology) -> None:
    """/metrics in Prometheus text labels every sample with the Webapp's `node`."""
    text = shared(topology).get("/metrics", params={"format": "prometheus"}).text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert samples
    assert all(s.labels.get("node") for s in samples)


def test_prometheus_and_json_agree(shared: SharedSim) -> None:
    """The Prometheus rendering holds the same families and values as the JSON answer."""
    sim = shared(Topology.SINGLE)
    app = sim.get("/v1/stats/app").json()["stats"]["app"]
    text = sim.get("/v1/stats/app", params={"format": "prometheus"}).text
    # The parser names counter samples `<family>_total`, so compare by family name.
    parsed = {
        f.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if not s.labels
    }
    for name, family in app.items():
        for sample in family["data"]:
            if "labels" not in sample:
                assert parsed[name] == sample["value"]


# -- envelope, meta, 404, request ids -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/metrics",
        "/v1/stats",
        "/v1/healthz",
        "/nope",
        "/metrics/extra",
        "/v1/health/",
        "/metrics/",
    ],
)
def test_unknown_path_is_404_before_auth(shared: SharedSim, path: str) -> None:
    """Unknown paths answer 404/1006 "URL path not found" even without credentials."""
    sim = shared(Topology.SINGLE)
    assert_error(sim.get(path, headers={}), 404, 1006, "URL path not found")
    assert_error(sim.get(path), 404, 1006, "URL path not found")


def _requests(sim: Sim) -> dict[str, httpx.Response]:
    """One answer of each kind the API gives: successes and every error class."""
    return {
        "health": sim.get("/v1/health"),
        "metrics": sim.get("/metrics"),
        "stats_app": sim.get("/v1/stats/app"),
        "stats_db": sim.get("/v1/stats/db"),
        "401": sim.get("/metrics", headers={}),
        "404": sim.get("/nope"),
        "login": sim.login(),
        "login_401": sim.login(password="wrong-password"),
        "logout_401": sim.client.post("/v1/users/logout", headers=bearer("nope")),
    }


@pytest.mark.parametrize("topology", list(Topology))
def test_meta_on_every_json_answer(shared: SharedSim, topology: Topology) -> None:
    """Every JSON answer, success or error, carries `meta` with version and api_status."""
    sim = shared(topology)
    for kind, response in _requests(sim).items():
        meta = response.json()["meta"]
        assert meta == {"version": sim.deployment.config.version, "api_status": "stable"}, kind


def test_request_id_generated_on_every_answer(shared: SharedSim) -> None:
    """Every answer (API, error, Prometheus, admin) carries a generated 32-hex X-Request-ID."""
    sim = shared(Topology.SINGLE)
    responses = [
        *_requests(sim).values(),
        sim.get("/metrics", params={"format": "prometheus"}),
        sim.client.get("/_sim/state"),
    ]
    ids = [r.headers.get("x-request-id", "") for r in responses]
    assert all(HEX32.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("path", ["/v1/health", "/nope", "/metrics"])
def test_request_id_echoed(shared: SharedSim, path: str) -> None:
    """A well-formed client X-Request-ID is echoed back unchanged."""
    sim = shared(Topology.SINGLE)
    response = sim.client.get(path, headers={**apikey(), "X-Request-ID": "abc-123.DEF_4"})
    assert response.headers["x-request-id"] == "abc-123.DEF_4"


@pytest.mark.parametrize(
    "given", ["has spaces in it", "<script>alert(1)</script>", "a" * 500, "semi;colon", ""]
)
def test_hostile_request_id_replaced(shared: SharedSim, given: str) -> None:
    """A hostile or empty X-Request-ID is replaced by a generated one, not echoed."""
    sim = shared(Topology.SINGLE)
    response = sim.client.get("/v1/health", headers={**apikey(), "X-Request-ID": given})
    assert response.status_code == 200
    assert HEX32.match(response.headers["x-request-id"])
