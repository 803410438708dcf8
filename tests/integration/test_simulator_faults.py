"""The answers real deployments produce when something in front of or behind the Webapp fails:
exact status, content type, body and error of every endpoint, over real sockets."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import MakeSim, SharedSim, Sim, bearer, count
from watchdog.simulator import Scenario, Topology

MONITORING = ["/v1/health", "/v1/stats/app", "/v1/stats/db"]
PROXIES = {Scenario.PROXY_502: 502, Scenario.PROXY_503: 503, Scenario.PROXY_504: 504}
NGINX_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}
DB_SOCKET = "Can't connect to the Database server through socket"


def meta(sim: Sim) -> dict[str, str]:
    return {"version": sim.deployment.config.version, "api_status": "stable"}


def error_body(sim: Sim, code: int, title: str, details: str) -> dict[str, Any]:
    return {"meta": meta(sim), "errors": [{"code": code, "title": title, "details": details}]}


def assert_json(response: httpx.Response, status: int, body: dict[str, Any]) -> None:
    """A JSON answer of the Webapp: this status and body, and the Webapp's X-Request-ID."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == body
    assert response.headers["x-request-id"]


def nginx_page(status: int) -> str:
    title = NGINX_TITLES[status]
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def health_statuses(sim: Sim) -> dict[str, str]:
    health = sim.get("/v1/health").json()["health"]
    if sim.topology is Topology.SINGLE:
        return {"single": health["gateway_status"]}
    return {key: entry["gateway_status"] for key, entry in health.items()}


def node_roles(sim: Sim) -> dict[str, str | None]:
    return {n["key"]: n["role"] for n in sim.client.get("/_sim/state").json()["nodes"]}


# -- not_ready ------------------------------------------------------------------------------


@pytest.mark.parametrize("topology", list(Topology))
def test_not_ready_health_and_stats_1011(shared: SharedSim, topology: Topology) -> None:
    """not_ready: health and stats answer 500/1011 "Service not ready" in every topology."""
    sim = shared(topology)
    sim.set_scenario(Scenario.NOT_READY)
    body = error_body(
        sim, 1011, "Service not ready", "Coreapp is not ready yet. Please retry later"
    )
    for path in MONITORING:
        assert_json(sim.get(path), 500, body)
        assert_json(sim.get(path, headers=bearer(sim.token)), 500, body)


@pytest.mark.parametrize("path", ["/v1/stats/app", "/v1/stats/db"])
def test_not_ready_prometheus_stats_empty(shared: SharedSim, path: str) -> None:
    """not_ready, Prometheus format: stats answer 500 with an empty body (a controller error)."""
    sim = shared(Topology.MULTICONNECT)
    sim.set_scenario(Scenario.NOT_READY)
    response = sim.get(path, params={"format": "prometheus"})
    assert response.status_code == 500
    assert response.content == b""


@pytest.mark.parametrize("topology", list(Topology))
def test_not_ready_metrics_still_answer(shared: SharedSim, topology: Topology) -> None:
    """not_ready: the Webapp-local /metrics still answers 200 in both formats."""
    sim = shared(topology)
    sim.set_scenario(Scenario.NOT_READY)
    response = sim.get("/metrics")
    assert response.status_code == 200
    assert set(response.json()) == {"metrics", "meta"}
    assert sim.get("/metrics", params={"format": "prometheus"}).text.startswith("# HELP ")


def test_not_ready_from_start(make_sim: MakeSim) -> None:
    """not_ready chosen at start (--scenario) answers as when switched at run time."""
    sim = make_sim(scenario=Scenario.NOT_READY)
    assert sim.get("/v1/health").json()["errors"][0]["code"] == 1011


# -- proxy_502 / proxy_503 / proxy_504 ------------------------------------------------------


def every_api_request(sim: Sim) -> list[httpx.Response]:
    """One request to each API path, the login, the logout and an unknown path."""
    return [
        sim.get("/v1/health"),
        sim.get("/metrics"),
        sim.get("/metrics", params={"format": "prometheus"}),
        sim.get("/v1/stats/app"),
        sim.get("/v1/stats/app", params={"format": "prometheus"}),
        sim.get("/v1/stats/db"),
        sim.get("/v1/health", headers={}),
        sim.login(),
        sim.client.post("/v1/users/logout", headers=bearer("x.y.z")),
        sim.get("/nope"),
    ]


@pytest.mark.parametrize("scenario", list(PROXIES))
@pytest.mark.parametrize("topology", list(Topology))
def test_proxy_answers_html_page(shared: SharedSim, topology: Topology, scenario: Scenario) -> None:
    """proxy_*: every API path gets nginx's HTML page: no JSON, no envelope, no X-Request-ID."""
    sim = shared(topology)
    sim.set_scenario(scenario)
    status = PROXIES[scenario]
    for response in every_api_request(sim):
        assert response.status_code == status
        assert response.headers["content-type"] == "text/html"
        assert response.text == nginx_page(status)
        assert "x-request-id" not in response.headers
        assert "errors" not in response.text


@pytest.mark.parametrize("scenario", list(PROXIES))
def test_proxy_leaves_admin_api_working(shared: SharedSim, scenario: Scenario) -> None:
    """proxy_*: /_sim/* still answers (and switches the scenario back)."""
    sim = shared(Topology.SINGLE)
    sim.set_scenario(scenario)
    state = sim.client.get("/_sim/state")
    assert state.status_code == 200
    assert state.json()["scenario"] == scenario.value
    sim.set_scenario(Scenario.HEALTHY)
    assert sim.get("/v1/health").status_code == 200


def test_proxy_requests_unseen_by_webapp(shared: SharedSim) -> None:
    """proxy_502: the Webapp counts none of the requests the proxy answered."""
    sim = shared(Topology.HA)
    before = sim.get("/metrics").json()["metrics"]
    served = sim.client.get("/_sim/state").json()["webapps"][0]["requests_served"]
    sim.set_scenario(Scenario.PROXY_502)
    for _ in range(5):
        assert sim.get("/v1/health").status_code == 502
        assert sim.get("/metrics").status_code == 502
    assert sim.client.get("/_sim/state").json()["webapps"][0]["requests_served"] == served
    sim.set_scenario(Scenario.HEALTHY)
    after = sim.get("/metrics").json()["metrics"]
    name = "api_requests_duration_ms_count"
    assert count(after, name, method="GET_v1_health") == count(before, name, method="GET_v1_health")
    # Only the /metrics read before the switch was counted since.
    assert count(after, name, method="GET_metrics") == count(before, name, method="GET_metrics") + 1
    assert count(after, name, result="502") == 0


def test_proxy_504_after_delay(make_sim: MakeSim) -> None:
    """proxy_504 answers only after --slow-delay (the proxy waited for the upstream)."""
    sim = make_sim(scenario=Scenario.PROXY_504, slow_delay=0.3)
    started = time.perf_counter()
    response = sim.get("/v1/health")
    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 504
    assert response.text == nginx_page(504)


# -- database_down --------------------------------------------------------------------------


@pytest.mark.parametrize("topology", list(Topology))
def test_database_down_health_and_stats_1014(shared: SharedSim, topology: Topology) -> None:
    """database_down: health and stats answer 500/1014 with the socket message, JSON always."""
    sim = shared(topology)
    sim.set_scenario(Scenario.DATABASE_DOWN)
    body = error_body(sim, 1014, "Internal error", DB_SOCKET)
    for path in MONITORING:
        assert_json(sim.get(path), 500, body)
    for path in ("/v1/stats/app", "/v1/stats/db"):
        assert_json(sim.get(path, params={"format": "prometheus"}), 500, body)


@pytest.mark.parametrize("topology", list(Topology))
def test_database_down_metrics_answer_the_key(shared: SharedSim, topology: Topology) -> None:
    """database_down: /metrics answers 200 to the API key; a bearer token cannot be checked."""
    sim = shared(topology)
    token = sim.token
    sim.set_scenario(Scenario.DATABASE_DOWN)
    response = sim.get("/metrics")
    assert response.status_code == 200
    assert set(response.json()) == {"metrics", "meta"}
    body = error_body(sim, 1014, "Internal error", DB_SOCKET)
    assert_json(sim.get("/metrics", headers=bearer(token)), 500, body)
    assert_json(sim.login(), 500, body)
    assert_json(sim.client.post("/v1/users/logout", headers=bearer(token)), 500, body)


def test_database_down_failing_db_calls_rise(make_sim: MakeSim) -> None:
    """database_down: api_requests_db_duration_ms_count{result="HY000/2002"} appears and rises."""
    sim = make_sim()
    sim.clock.advance(30)
    name = "api_requests_db_duration_ms_count"
    assert count(sim.get("/metrics").json()["metrics"], name, result="HY000/2002") == 0
    sim.set_scenario(Scenario.DATABASE_DOWN)
    readings = []
    for _ in range(2):
        sim.clock.advance(30)
        families = sim.get("/metrics").json()["metrics"]
        readings.append(count(families, name, result="HY000/2002", query="connect"))
    assert 0 < readings[0] < readings[1]
    failing = count(families, "api_requests_duration_ms_count", result="500")
    assert failing > 0


# -- health_unusable ------------------------------------------------------------------------


@pytest.mark.parametrize("topology", list(Topology))
def test_health_unusable_body(shared: SharedSim, topology: Topology) -> None:
    """health_unusable: health answers 200 JSON with an empty `health`; the rest is normal."""
    sim = shared(topology)
    sim.set_scenario(Scenario.HEALTH_UNUSABLE)
    assert_json(sim.get("/v1/health"), 200, {"health": {}, "meta": meta(sim)})
    assert set(sim.get("/metrics").json()) == {"metrics", "meta"}
    stats = sim.get("/v1/stats/app")
    assert stats.status_code == 200
    assert stats.json()["stats"]["app"]
    assert sim.get("/v1/stats/db").status_code == 200


# -- gateway_connecting ---------------------------------------------------------------------


@pytest.mark.parametrize("topology", list(Topology))
def test_gateway_connecting_while_it_lasts(shared: SharedSim, topology: Topology) -> None:
    """gateway_connecting: the active coreapp(s) report connecting for as long as it lasts."""
    sim = shared(topology)
    healthy = health_statuses(sim)
    roles = node_roles(sim)
    sim.set_scenario(Scenario.GATEWAY_CONNECTING)
    for _ in range(2):
        connecting = health_statuses(sim)
        for key, before in healthy.items():
            sender = roles.get(key, None) in ("coreapp", None)
            expected = "connecting" if sender and before == "connected" else before
            assert connecting[key] == expected, key
        sim.clock.advance(3600)
    assert (
        list(connecting.values()).count("connecting")
        == {
            Topology.SINGLE: 1,
            Topology.HA: 1,
            Topology.MULTICONNECT: sim.deployment.config.shards,
        }[topology]
    )


# -- master_lost ----------------------------------------------------------------------------


def test_master_lost_multiconnect(shared: SharedSim) -> None:
    """master_lost, multiconnect: primary master and one shard disconnect; others stay up."""
    sim = shared(Topology.MULTICONNECT)
    healthy = health_statuses(sim)
    roles = node_roles(sim)
    sim.set_scenario(Scenario.MASTER_LOST)
    lost = health_statuses(sim)
    changed = {key for key in healthy if healthy[key] != lost[key]}
    [primary] = [k for k, r in roles.items() if r == "primary_master"]
    assert primary in changed
    assert len(changed) == 2
    [shard] = changed - {primary}
    assert roles[shard] == "coreapp"
    assert lost[primary] == lost[shard] == "disconnected"
    coreapps = [lost[k] for k, r in roles.items() if r == "coreapp"]
    assert coreapps.count("connected") == sim.deployment.config.shards - 1


@pytest.mark.parametrize("topology", [Topology.SINGLE, Topology.HA])
def test_master_lost_elsewhere_healthy(shared: SharedSim, topology: Topology) -> None:
    """master_lost in single and HA answers exactly as healthy."""
    sim = shared(topology)
    healthy = sim.get("/v1/health").json()
    sim.set_scenario(Scenario.MASTER_LOST)
    assert sim.get("/v1/health").json() == healthy
