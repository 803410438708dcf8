"""The simulator's scenarios, living numbers and admin API over real sockets."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import (
    MakeSim,
    SharedSim,
    Sim,
    apikey,
    assert_error,
    bearer,
    php_utc,
)
from watchdog.simulator import Scenario, Topology

VARIANTS = [
    ("/v1/health", None),
    ("/metrics", None),
    ("/metrics", "prometheus"),
    ("/v1/stats/app", None),
    ("/v1/stats/app", "prometheus"),
    ("/v1/stats/db", None),
    ("/v1/stats/db", "prometheus"),
]
WACORE_DOWN = "Please check if wacore is running"
PAYLOAD_KEY = {
    "/v1/health": "health",
    "/metrics": "metrics",
    "/v1/stats/app": "stats",
    "/v1/stats/db": "stats",
}


def params(fmt: str | None) -> dict[str, str] | None:
    return {"format": fmt} if fmt else None


PROXY = {Scenario.PROXY_502: 502, Scenario.PROXY_503: 503, Scenario.PROXY_504: 504}
# Scenarios in which health and stats fail as a whole, in every topology, while /metrics answers.
CONTROLLER_FAILURE = {Scenario.NOT_READY: 1011, Scenario.DATABASE_DOWN: 1014}


def expected_statuses(scenario: Scenario, topology: Topology, path: str) -> set[int]:
    """What the scenario documentation promises for one request."""
    if scenario in PROXY:
        return {PROXY[scenario]}
    if scenario in CONTROLLER_FAILURE and path != "/metrics":
        return {500}
    if scenario is Scenario.OVERLOADED:
        return {503}
    if scenario is Scenario.RATE_LIMITED:
        return {429} if path == "/v1/health" else {200, 429}
    if scenario is Scenario.COREAPP_DOWN and topology is Topology.SINGLE and path != "/metrics":
        return {500}
    return {200}


# -- every scenario on every endpoint and topology ------------------------------------------


@pytest.mark.parametrize(("path", "fmt"), VARIANTS)
@pytest.mark.parametrize("topology", list(Topology))
@pytest.mark.parametrize("scenario", list(Scenario))
def test_scenario_matrix(
    shared: SharedSim, scenario: Scenario, topology: Topology, path: str, fmt: str | None
) -> None:
    """Every scenario answers each endpoint with its documented status and body kind."""
    sim = shared(topology)
    sim.set_scenario(scenario)
    response = sim.get(path, params=params(fmt))
    assert response.status_code in expected_statuses(scenario, topology, path), response.text
    status = response.status_code
    if scenario in PROXY:
        # The proxy's own page: no JSON, no envelope, and no X-Request-ID (the Webapp's).
        assert response.headers["content-type"] == "text/html"
        assert f"<title>{status} " in response.text
        assert "x-request-id" not in response.headers
        return
    if scenario is Scenario.DATABASE_DOWN and status == 500:
        # An unhandled exception: JSON even where Prometheus text was asked for.
        assert_error(response, 500, 1014, "Can't connect to the Database server through socket")
    elif status == 503:
        assert_error(response, 503, 1016)
    elif status == 429:
        assert_error(response, 429, 1015)
    elif status == 500 and fmt == "prometheus":
        assert response.content == b""
    elif status == 500 and scenario is Scenario.NOT_READY:
        assert_error(response, 500, 1011)
    elif status == 500:
        assert_error(response, 500, 1014, WACORE_DOWN)
    elif scenario is Scenario.MALFORMED:
        # The documented fault is a truncated body: JSON that does not parse.
        assert response.content
        if fmt is None:
            with pytest.raises(ValueError):
                json.loads(response.content)
    elif fmt == "prometheus":
        assert list(text_string_to_metric_families(response.text))
    else:
        assert set(response.json()) == {PAYLOAD_KEY[path], "meta"}
    assert response.headers["x-request-id"]


# -- health per scenario --------------------------------------------------------------------


def statuses(sim: Sim) -> dict[str, str]:
    """Each node's gateway_status ("single" for a single instance)."""
    health = sim.get("/v1/health").json()["health"]
    if sim.topology is Topology.SINGLE:
        return {"single": health["gateway_status"]}
    return {key: entry.get("gateway_status", "error") for key, entry in health.items()}


@pytest.mark.parametrize("topology", [Topology.SINGLE, Topology.HA])
def test_gateway_disconnected_all_nodes(shared: SharedSim, topology: Topology) -> None:
    """gateway_disconnected: in single and HA every node reports `disconnected`."""
    sim = shared(topology)
    sim.set_scenario(Scenario.GATEWAY_DISCONNECTED)
    assert set(statuses(sim).values()) == {"disconnected"}


def test_gateway_disconnected_multiconnect_one_shard(shared: SharedSim) -> None:
    """gateway_disconnected in multiconnect: exactly one connected coreapp fewer."""
    sim = shared(Topology.MULTICONNECT)
    healthy = statuses(sim)
    sim.set_scenario(Scenario.GATEWAY_DISCONNECTED)
    broken = statuses(sim)
    changed = [k for k in healthy if healthy[k] != broken[k]]
    assert len(changed) == 1
    assert healthy[changed[0]] == "connected"
    assert broken[changed[0]] == "disconnected"
    assert list(broken.values()).count("connected") == list(healthy.values()).count("connected") - 1


def test_coreapp_down_single(shared: SharedSim) -> None:
    """coreapp_down, single: health and stats are 500/1014 naming wacore; /metrics still 200."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.COREAPP_DOWN)
    response = sim.get("/v1/health")
    assert_error(response, 500, 1014, WACORE_DOWN)
    assert response.json()["errors"][0]["title"] == "Internal error"
    assert_error(sim.get("/v1/stats/app"), 500, 1014, WACORE_DOWN)
    assert_error(sim.get("/v1/stats/db"), 500, 1014, WACORE_DOWN)
    assert sim.get("/metrics").status_code == 200


@pytest.mark.parametrize("path", ["/v1/stats/app", "/v1/stats/db"])
def test_coreapp_down_single_prometheus_empty(shared: SharedSim, path: str) -> None:
    """coreapp_down, single, Prometheus format: stats answer 500 with an empty body."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.COREAPP_DOWN)
    response = sim.get(path, params={"format": "prometheus"})
    assert response.status_code == 500
    assert response.content == b""


@pytest.mark.parametrize("topology", [Topology.HA, Topology.MULTICONNECT])
def test_coreapp_down_per_node(shared: SharedSim, topology: Topology) -> None:
    """coreapp_down, HA/multiconnect: 200, one coreapp's entry is errors/1014, gone from stats."""
    sim = shared(topology)
    before = sim.get("/v1/health").json()["health"]
    sim.set_scenario(Scenario.COREAPP_DOWN)
    response = sim.get("/v1/health")
    assert response.status_code == 200
    health = response.json()["health"]
    assert set(health) == set(before)
    down = [key for key, entry in health.items() if "errors" in entry]
    assert len(down) == 1
    [key] = down
    assert before[key] == {"gateway_status": "connected", "role": "coreapp"}
    assert set(health[key]) == {"errors"}
    [error] = health[key]["errors"]
    assert error["code"] == 1014
    assert error["title"] == "Internal error"
    assert WACORE_DOWN in error["details"]
    for path, kind in (("/v1/stats/app", "app"), ("/v1/stats/db", "db")):
        stats = sim.get(path).json()["stats"][kind]
        assert set(stats) == set(before) - {key}
        text = sim.get(path, params={"format": "prometheus"}).text
        assert f'node="{key}"' not in text


@pytest.mark.parametrize("scenario", [Scenario.UNINITIALIZED, Scenario.UNREGISTERED])
@pytest.mark.parametrize("topology", list(Topology))
def test_status_scenarios(shared: SharedSim, topology: Topology, scenario: Scenario) -> None:
    """uninitialized / unregistered: every node reports that gateway_status."""
    sim = shared(topology)
    sim.set_scenario(scenario)
    assert set(statuses(sim).values()) == {scenario.value}


@pytest.mark.parametrize("topology", list(Topology))
def test_flapping_alternates(shared: SharedSim, topology: Topology) -> None:
    """flapping: healthy for flap_period seconds, then disconnected, then healthy again."""
    sim = shared(topology)
    healthy = statuses(sim)
    sim.set_scenario(Scenario.FLAPPING)
    period = sim.deployment.config.flap_period
    assert statuses(sim) == healthy
    sim.clock.advance(period - 1)
    assert statuses(sim) == healthy
    sim.clock.advance(1)
    flapped = statuses(sim)
    assert flapped != healthy
    assert list(flapped.values()).count("connected") < list(healthy.values()).count("connected")
    sim.clock.advance(period)
    assert statuses(sim) == healthy
    sim.clock.advance(period)
    assert statuses(sim) == flapped


def test_slow_answers_after_delay(make_sim: MakeSim) -> None:
    """slow: every endpoint still answers correctly, but only after slow_delay seconds."""
    sim = make_sim(scenario=Scenario.SLOW, slow_delay=0.2)
    for path in ("/v1/health", "/metrics", "/v1/stats/app"):
        started = time.perf_counter()
        response = sim.get(path)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert "meta" in response.json()
        assert elapsed >= 0.2


@pytest.mark.parametrize("topology", list(Topology))
def test_malformed_bodies(shared: SharedSim, topology: Topology) -> None:
    """malformed: 200 answers whose JSON bodies do not parse."""
    sim = shared(topology)
    sim.set_scenario(Scenario.MALFORMED)
    for path in ("/v1/health", "/metrics", "/v1/stats/app", "/v1/stats/db"):
        response = sim.get(path)
        assert response.status_code == 200
        assert response.content
        with pytest.raises(ValueError):
            json.loads(response.content)


@pytest.mark.parametrize("path", ["/v1/health", "/metrics", "/v1/stats/app", "/v1/stats/db"])
def test_overloaded_every_endpoint(shared: SharedSim, path: str) -> None:
    """overloaded: every endpoint answers 503/1016, with any valid credential."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.OVERLOADED)
    assert_error(sim.get(path), 503, 1016)
    assert_error(sim.get(path, headers=bearer(sim.token)), 503, 1016)


def test_rate_limited_scenario(shared: SharedSim) -> None:
    """rate_limited: health is 429/1015; about half of /metrics calls are 429/1015."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.RATE_LIMITED)
    assert_error(sim.get("/v1/health"), 429, 1015, "Rate limiting exceeded on health check")
    responses = [sim.get("/metrics") for _ in range(40)]
    refused = [r for r in responses if r.status_code == 429]
    assert {r.status_code for r in responses} == {200, 429}
    assert 8 <= len(refused) <= 32
    for r in refused:
        assert_error(r, 429, 1015)


# -- living numbers -------------------------------------------------------------------------


def metrics(sim: Sim) -> dict[str, Any]:
    response = sim.get("/metrics")
    assert response.status_code == 200, response.text
    return dict(response.json()["metrics"])


def total(families: dict[str, Any], name: str, **match: str) -> float:
    """The sum of a family's samples whose labels include `match`."""
    family = families.get(name, {"data": []})
    return float(
        sum(
            s["value"]
            for s in family["data"]
            if all(s.get("labels", {}).get(k) == v for k, v in match.items())
        )
    )


def app_total(sim: Sim, name: str) -> float:
    app = sim.get("/v1/stats/app").json()["stats"]["app"]
    per_node = [app] if sim.topology is Topology.SINGLE else list(app.values())
    return sum(total(families, name) for families in per_node)


@pytest.mark.parametrize("topology", list(Topology))
def test_counters_grow_with_time(shared: SharedSim, topology: Topology) -> None:
    """As the clock moves, request, connection and app-stat counters grow."""
    sim = shared(topology)
    names = ("api_requests_duration_ms_count", "web_connections", "web_handled_requests")
    before = metrics(sim)
    sent_before = app_total(sim, "out_message_sent_duration_ms_count")
    callbacks_before = app_total(sim, "callback_requests_duration_ms_count")
    sim.clock.advance(300)
    after = metrics(sim)
    for name in names:
        assert total(after, name) > total(before, name), name
    assert app_total(sim, "out_message_sent_duration_ms_count") > sent_before
    assert app_total(sim, "callback_requests_duration_ms_count") > callbacks_before
    assert total(after, "web_uptime") == total(before, "web_uptime") + 300


def counter_series(sim: Sim) -> dict[tuple[str, ...], float]:
    """Every counter sample of /metrics and app stats, keyed by name, node and labels."""
    series: dict[tuple[str, ...], float] = {}
    groups = [("webapp", metrics(sim))]
    response = sim.get("/v1/stats/app")
    if response.status_code == 200:
        app = response.json()["stats"]["app"]
        groups += [("single", app)] if sim.topology is Topology.SINGLE else list(app.items())
    for node, families in groups:
        for name, family in families.items():
            if family["type"] != "counter":
                continue
            for sample in family["data"]:
                labels = tuple(sorted(sample.get("labels", {}).items()))
                series[(node, name, *(f"{k}={v}" for k, v in labels))] = sample["value"]
    return series


@pytest.mark.parametrize("topology", list(Topology))
def test_counters_never_decrease(shared: SharedSim, topology: Topology) -> None:
    """Across time and scenario switches no counter ever goes down."""
    sim = shared(topology)
    seen: dict[tuple[str, ...], float] = {}
    order = [
        Scenario.HEALTHY,
        Scenario.BUSY,
        Scenario.GATEWAY_DISCONNECTED,
        Scenario.COREAPP_DOWN,
        Scenario.UNINITIALIZED,
        Scenario.UNREGISTERED,
        Scenario.FLAPPING,
        Scenario.NOT_READY,
        Scenario.DATABASE_DOWN,
        Scenario.HEALTH_UNUSABLE,
        Scenario.GATEWAY_CONNECTING,
        Scenario.MASTER_LOST,
        Scenario.PROXY_502,
        Scenario.MALFORMED,
        Scenario.OVERLOADED,
        Scenario.HEALTHY,
    ]
    for scenario in order:
        sim.set_scenario(scenario)
        sim.clock.advance(45)
        if scenario in (Scenario.MALFORMED, Scenario.OVERLOADED, Scenario.PROXY_502):
            continue  # unreadable while it lasts; read again after the next switch
        for key, value in counter_series(sim).items():
            assert value >= seen.get(key, 0), key
            seen[key] = value
    assert len(seen) > 20


def test_restart_resets_counters(shared: SharedSim) -> None:
    """POST /_sim/restart is a Webapp restart: counters start again and web_uptime is ~0."""
    sim = shared(Topology.SINGLE)
    sim.clock.advance(600)
    before = metrics(sim)
    sent_before = app_total(sim, "out_message_sent_duration_ms_count")
    assert total(before, "web_connections") > 0
    assert total(before, "web_uptime") >= 600
    assert sim.client.post("/_sim/restart").status_code == 200
    after = metrics(sim)
    assert total(after, "web_uptime") < 5
    assert total(after, "web_connections") < total(before, "web_connections")
    assert total(after, "api_requests_duration_ms_count") < total(
        before, "api_requests_duration_ms_count"
    )
    assert app_total(sim, "out_message_sent_duration_ms_count") < sent_before
    sim.clock.advance(60)
    assert total(metrics(sim), "web_connections") > total(after, "web_connections")


def test_restart_resets_health_budget(shared: SharedSim) -> None:
    """A restart also clears the health budget."""
    sim = shared(Topology.SINGLE)
    for _ in range(11):
        sim.get("/v1/health")
    assert_error(sim.get("/v1/health"), 429, 1015)
    sim.client.post("/_sim/restart")
    assert sim.get("/v1/health").status_code == 200


@pytest.mark.parametrize("topology", list(Topology))
def test_own_requests_are_counted(shared: SharedSim, topology: Topology) -> None:
    """The simulator counts the requests it serves, by route name and HTTP result."""
    sim = shared(topology)
    before = metrics(sim)
    for _ in range(3):
        assert sim.get("/v1/health").status_code == 200
    assert sim.get("/v1/health", headers={}).status_code == 401
    after = metrics(sim)
    name = "api_requests_duration_ms_count"
    ok = {"method": "GET_v1_health", "result": "200"}
    assert total(after, name, **ok) - total(before, name, **ok) == 3
    denied = {"method": "GET_v1_health", "result": "401"}
    assert total(after, name, **denied) - total(before, name, **denied) == 1
    assert total(after, name, method="GET_metrics", result="200") >= 1


def test_overloaded_503s_rise(shared: SharedSim) -> None:
    """overloaded: the API's count of 503 answers appears and keeps rising."""
    sim = shared(Topology.SINGLE)
    name = "api_requests_duration_ms_count"
    assert total(metrics(sim), name, result="503") == 0
    readings = []
    for _ in range(2):
        sim.set_scenario(Scenario.OVERLOADED)
        sim.clock.advance(60)
        assert_error(sim.get("/metrics"), 503, 1016)
        sim.set_scenario(Scenario.HEALTHY)
        readings.append(total(metrics(sim), name, result="503"))
    assert 0 < readings[0] < readings[1]
    assert total(metrics(sim), name, method="GET_metrics", result="503") == 2


def test_busy_503s_rise_while_monitoring_answers(shared: SharedSim) -> None:
    """busy: monitoring endpoints answer while the 503 count rises and queues are high."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.BUSY)
    sim.clock.advance(30)
    first = total(metrics(sim), "api_requests_duration_ms_count", result="503")
    sim.clock.advance(30)
    second = total(metrics(sim), "api_requests_duration_ms_count", result="503")
    assert 0 < first < second
    assert app_total(sim, "pending_messages") >= 10_000
    assert app_total(sim, "callback_queue_size") >= 10_000


def test_rate_limited_429s_rise(shared: SharedSim) -> None:
    """rate_limited: the API's count of 429 answers appears and keeps rising."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(Scenario.RATE_LIMITED)

    def read() -> float:
        for _ in range(30):
            response = sim.get("/metrics")
            if response.status_code == 200:
                return total(response.json()["metrics"], "api_requests_duration_ms_count",
                             result="429")  # fmt: skip
        raise AssertionError("no /metrics answer got through")

    sim.clock.advance(30)
    first = read()
    sim.clock.advance(30)
    assert 0 < first < read()


@pytest.mark.parametrize("topology", list(Topology))
def test_overloaded_queues_high(make_sim: MakeSim, topology: Topology) -> None:
    """overloaded: the serving coreapps' pending_messages and callback_queue_size go high."""
    # Stats answer 503 in this scenario, so the deployment is read directly.
    sim = make_sim(topology=topology, scenario=Scenario.OVERLOADED)
    sim.clock.advance(60)
    stats = sim.deployment.stats_app(sim.clock())
    assert isinstance(stats, dict)
    per_node = [stats] if topology is Topology.SINGLE else list(stats.values())
    pending = max(total(f, "pending_messages") for f in per_node)
    callbacks = max(total(f, "callback_queue_size") for f in per_node)
    assert pending >= 50_000
    assert callbacks >= 10_000


@pytest.mark.parametrize("topology", list(Topology))
def test_healthy_queues_stay_low(shared: SharedSim, topology: Topology) -> None:
    """healthy: no node's pending_messages or callback_queue_size piles up over time."""
    sim = shared(topology)
    sim.clock.advance(6 * 3600)
    app = sim.get("/v1/stats/app").json()["stats"]["app"]
    per_node = [app] if topology is Topology.SINGLE else list(app.values())
    for families in per_node:
        assert total(families, "pending_messages") < 100
        assert total(families, "callback_queue_size") < 100


# -- admin API ------------------------------------------------------------------------------


def state(sim: Sim) -> dict[str, Any]:
    response = sim.client.get("/_sim/state")
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.parametrize("topology", list(Topology))
def test_admin_state(shared: SharedSim, topology: Topology) -> None:
    """GET /_sim/state shows scenario, topology and the nodes as health reports them."""
    sim = shared(topology)
    body = state(sim)
    assert body["scenario"] == "healthy"
    assert body["effective_scenario"] == "healthy"
    assert body["topology"] == topology.value
    assert set(body["scenarios"]) == {s.value for s in Scenario}
    health = sim.get("/v1/health").json()["health"]
    if topology is Topology.SINGLE:
        [node] = body["nodes"]
        assert node["gateway_status"] == health["gateway_status"]
    else:
        assert {n["key"]: n["gateway_status"] for n in body["nodes"]} == {
            k: v["gateway_status"] for k, v in health.items()
        }


def test_admin_scenario_switch(shared: SharedSim) -> None:
    """POST /_sim/scenario switches the scenario and answers with the new state."""
    sim = shared(Topology.SINGLE)
    response = sim.client.post("/_sim/scenario", json={"scenario": "unregistered"})
    assert response.status_code == 200
    assert response.json()["scenario"] == "unregistered"
    assert sim.get("/v1/health").json()["health"]["gateway_status"] == "unregistered"
    sim.set_scenario(Scenario.HEALTHY)
    assert sim.get("/v1/health").json()["health"]["gateway_status"] == "connected"


@pytest.mark.parametrize(
    "body", [{"scenario": "on_fire"}, {"scenario": None}, {}, [1, 2], "healthy"]
)
def test_admin_scenario_unknown(shared: SharedSim, body: Any) -> None:
    """An unknown scenario is refused with 400 naming every valid one; nothing changes."""
    sim = shared(Topology.SINGLE)
    response = sim.client.post("/_sim/scenario", json=body)
    assert response.status_code == 400
    message = json.dumps(response.json())
    assert all(s.value in message for s in Scenario)
    assert state(sim)["scenario"] == "healthy"


def test_admin_scenario_not_json(shared: SharedSim) -> None:
    """A body that is not JSON is a 400 too."""
    sim = shared(Topology.SINGLE)
    response = sim.client.post("/_sim/scenario", content=b"{not json")
    assert response.status_code == 400


def test_admin_rotate_api_key(make_sim: MakeSim) -> None:
    """POST /_sim/auth with a new api_key: the old key gets 401, the new one 200."""
    sim = make_sim()
    new_key = "rotated-key-9876543210"
    assert sim.admin_auth(api_key=new_key).status_code == 200
    assert_error(sim.get("/metrics"), 401, 1005)
    assert sim.get("/metrics", headers=apikey(new_key)).status_code == 200
    assert sim.get("/v1/health", headers=apikey(new_key)).status_code == 200


def test_admin_unset_api_key(make_sim: MakeSim) -> None:
    """Unsetting the api_key (null) makes every Apikey request 401."""
    sim = make_sim()
    assert sim.admin_auth(api_key=None).status_code == 200
    assert_error(sim.get("/v1/health"), 401, 1005)
    assert sim.get("/v1/health", headers=bearer(sim.token)).status_code == 200


def test_admin_token_lifetime(make_sim: MakeSim) -> None:
    """POST /_sim/auth token_lifetime changes the expiry of tokens issued afterwards."""
    sim = make_sim(token_leeway=0)
    response = sim.admin_auth(token_lifetime=120)
    assert response.status_code == 200
    assert response.json()["token_lifetime"] == 120
    login = sim.login().json()["users"][0]
    assert login["expires_after"] == php_utc(sim.clock() + 120)
    sim.clock.advance(121)
    assert_error(sim.get("/metrics", headers=bearer(login["token"])), 401, 1005)


def test_admin_key_scope(make_sim: MakeSim) -> None:
    """POST /_sim/auth key_scope=health_only: the key gets 403/1005 except on health."""
    sim = make_sim()
    assert sim.admin_auth(key_scope="health_only").json()["key_scope"] == "health_only"
    assert sim.get("/v1/health").status_code == 200
    for path in ("/metrics", "/v1/stats/app", "/v1/stats/db"):
        assert_error(sim.get(path), 403, 1005, "User doesn't have permission")
    assert sim.admin_auth(key_scope="all").status_code == 200
    assert sim.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": 12345678901234},
        {"api_key": ["a"]},
        {"token_lifetime": -1},
        {"token_lifetime": 0},
        {"token_lifetime": "long"},
        {"token_lifetime": True},
        {"key_scope": "everything"},
        {"key_scope": None},
        {"api_key": "another-valid-key-123", "token_lifetime": -5},
        {"api_key": "another-valid-key-123", "key_scope": "nope"},
    ],
)
def test_admin_auth_bad_input(make_sim: MakeSim, body: dict[str, Any]) -> None:
    """Bad input to POST /_sim/auth is a 400 and changes nothing."""
    sim = make_sim()
    before = state(sim)
    response = sim.admin_auth(**body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert state(sim) == before
    assert sim.get("/metrics").status_code == 200
    assert sim.get("/metrics", headers=apikey("another-valid-key-123")).status_code == 401


def test_admin_routes_need_no_credentials_and_are_not_counted(shared: SharedSim) -> None:
    """Admin calls work without credentials and do not show up in the API's own counters."""
    sim = shared(Topology.SINGLE)
    assert sim.client.get("/_sim/state").status_code == 200
    families = metrics(sim)
    methods = {s["labels"]["method"] for s in families["api_requests_duration_ms_count"]["data"]}
    assert not any("_sim" in m for m in methods)
