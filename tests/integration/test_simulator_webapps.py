"""Several Webapps behind one round-robin load balancer (`--webapps N`), over real sockets."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import MakeSim, Sim, assert_error, count
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.topology import build_nodes

HEX12 = re.compile(r"[0-9a-f]{12}")
REQUESTS = "api_requests_duration_ms_count"


def webapps(sim: Sim) -> list[dict[str, Any]]:
    response = sim.client.get("/_sim/state")
    assert response.status_code == 200
    return list(response.json()["webapps"])


def hosts(sim: Sim) -> list[str]:
    return [str(w["host"]) for w in webapps(sim)]


def node_of(families: dict[str, Any]) -> str:
    """The one `node` label every sample of a /metrics answer carries."""
    nodes = {s["labels"]["node"] for family in families.values() for s in family["data"]}
    assert len(nodes) == 1, nodes
    return str(nodes.pop())


def metrics(sim: Sim) -> dict[str, Any]:
    response = sim.get("/metrics")
    assert response.status_code == 200, response.text
    return dict(response.json()["metrics"])


def by_node(sim: Sim, reads: int) -> dict[str, dict[str, Any]]:
    """`reads` consecutive /metrics answers, keyed by the Webapp that gave each."""
    answers = [metrics(sim) for _ in range(reads)]
    return {node_of(families): families for families in answers}


# -- round robin ----------------------------------------------------------------------------


def test_metrics_node_alternates(make_sim: MakeSim) -> None:
    """--webapps 3: consecutive /metrics answers come from each Webapp in turn."""
    sim = make_sim(webapps=3)
    names = hosts(sim)
    assert len(set(names)) == 3
    assert all(HEX12.fullmatch(h) for h in names)
    seen = [node_of(metrics(sim)) for _ in range(7)]
    assert seen == [*names, *names, names[0]]


def test_every_api_request_takes_a_turn(make_sim: MakeSim) -> None:
    """Health, stats, login and unknown paths take turns too; admin calls do not."""
    sim = make_sim(webapps=3)
    names = hosts(sim)
    sim.get("/v1/health")  # Webapp 0
    sim.get("/v1/stats/app")  # 1
    sim.client.get("/_sim/state")
    sim.get("/nope")  # 2
    sim.login()  # 0
    assert node_of(metrics(sim)) == names[1]
    assert [w["requests_served"] for w in webapps(sim)] == [2, 2, 1]


def test_one_webapp_keeps_old_host() -> None:
    """--webapps 1 (the default): the host name drawn right after the nodes, as it always was."""
    for topology in Topology:
        rng = random.Random(7)
        build_nodes(topology, 3, 2, rng)
        expected = f"{rng.getrandbits(48):012x}"
        one = Deployment(SimulatorConfig(topology=topology, seed=7))
        three = Deployment(SimulatorConfig(topology=topology, seed=7, webapps=3))
        assert [w.host for w in one.webapps] == [expected]
        assert one.webapp_host == expected
        assert three.webapps[0].host == expected


def test_one_webapp_serves_everything(make_sim: MakeSim) -> None:
    """--webapps 1: every /metrics answer carries the single Webapp's node."""
    sim = make_sim()
    [webapp] = webapps(sim)
    assert webapp == {
        "index": 0,
        "host": sim.deployment.webapp_host,
        "scenario": "healthy",
        "override": None,
        "requests_served": 0,
    }
    assert {node_of(metrics(sim)) for _ in range(4)} == {webapp["host"]}


@pytest.mark.parametrize("topology", list(Topology))
def test_health_and_stats_same_from_every_webapp(make_sim: MakeSim, topology: Topology) -> None:
    """Health and stats come from the shared Coreapps: every Webapp gives the same answer."""
    sim = make_sim(webapps=3, topology=topology)
    assert len({sim.get("/v1/health").text for _ in range(3)}) == 1
    assert len({sim.get("/v1/stats/db").text for _ in range(3)}) == 1


def test_health_budget_global_across_webapps(make_sim: MakeSim) -> None:
    """The health budget (10 per 60 s) is one for the deployment, however many Webapps."""
    sim = make_sim(webapps=3)
    for _ in range(10):
        assert sim.get("/v1/health").status_code == 200
    for _ in range(3):
        assert_error(sim.get("/v1/health"), 429, 1015, "Rate limiting exceeded on health check")


# -- per-Webapp counters --------------------------------------------------------------------


def test_each_webapp_counts_what_it_served(make_sim: MakeSim) -> None:
    """Each Webapp's api_requests_duration_ms_count counts only the requests it served."""
    sim = make_sim(webapps=3)
    names = hosts(sim)
    for _ in range(4):  # Webapps 0, 1, 2, 0
        assert sim.get("/v1/health").status_code == 200
    assert sim.get("/v1/health", headers={}).status_code == 401  # Webapp 1
    answers = by_node(sim, 3)  # Webapps 2, 0, 1
    health = {h: count(answers[h], REQUESTS, method="GET_v1_health") for h in names}
    assert health == {names[0]: 2, names[1]: 2, names[2]: 1}
    denied = {h: count(answers[h], REQUESTS, result="401") for h in names}
    assert denied == {names[0]: 0, names[1]: 1, names[2]: 0}
    # A request is counted once answered: none of the three saw a /metrics read yet, and the
    # next answer (Webapp 2 again) counts its own earlier read, not the other two.
    assert {h: count(answers[h], REQUESTS, method="GET_metrics") for h in names} == dict.fromkeys(
        names, 0
    )
    again = metrics(sim)
    assert node_of(again) == names[2]
    assert count(again, REQUESTS, method="GET_metrics") == 1


def test_traffic_split_evenly(make_sim: MakeSim) -> None:
    """Other clients' requests are split evenly: each of 3 Webapps counts a third of them."""
    one = make_sim(webapps=1)
    three = make_sim(webapps=3)
    for sim in (one, three):
        sim.clock.advance(300)
    [total] = by_node(one, 1).values()
    whole = count(total, REQUESTS, method="POST_v1_messages", result="201")
    assert whole > 1000
    shares = [
        count(f, REQUESTS, method="POST_v1_messages", result="201")
        for f in by_node(three, 3).values()
    ]
    assert len(shares) == 3
    for share in shares:
        assert abs(share - whole / 3) <= 1


def test_web_gauges_per_webapp(make_sim: MakeSim) -> None:
    """Each Webapp reports its own web_* gauges under its own node label."""
    sim = make_sim(webapps=2)
    for families in by_node(sim, 2).values():
        node = node_of(families)
        assert families["web_uptime"]["data"] == [{"labels": {"node": node}, "value": 0}]
        assert {s["labels"]["node"] for s in families["web_requests"]["data"]} == {node}


# -- per-Webapp scenario --------------------------------------------------------------------


def test_overloaded_override_one_webapp(make_sim: MakeSim) -> None:
    """{"scenario": "overloaded", "webapp": 1}: only Webapp 1 answers 503/1016."""
    sim = make_sim(webapps=3)
    response = sim.client.post("/_sim/scenario", json={"scenario": "overloaded", "webapp": 1})
    assert response.status_code == 200
    assert [w["scenario"] for w in response.json()["webapps"]] == ["healthy", "overloaded",
                                                                   "healthy"]  # fmt: skip
    assert response.json()["scenario"] == "healthy"
    answers = [sim.get(path) for path in ("/metrics", "/v1/health", "/v1/stats/app") * 2]
    assert [r.status_code for r in answers] == [200, 503, 200, 200, 503, 200]
    for refused in (answers[1], answers[4]):
        assert_error(refused, 503, 1016)


def test_overloaded_override_counters(make_sim: MakeSim) -> None:
    """Only the overloaded Webapp's counters show other clients' 503s climbing."""
    sim = make_sim(webapps=3)
    names = hosts(sim)
    sim.client.post("/_sim/scenario", json={"scenario": "overloaded", "webapp": 1})
    sim.clock.advance(60)
    answers = [sim.get("/metrics") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 503, 200]
    for response in (answers[0], answers[2]):
        assert count(response.json()["metrics"], REQUESTS, result="503") == 0
    # Healthy again, Webapp 1 shows what it counted while overloaded.
    sim.client.post("/_sim/scenario", json={"scenario": "healthy", "webapp": 1})
    first = by_node(sim, 3)[names[1]]
    climbing = count(first, REQUESTS, method="POST_v1_messages", result="503")
    assert climbing > 100
    assert count(first, REQUESTS, method="GET_metrics", result="503") == 1
    sim.clock.advance(60)
    assert count(by_node(sim, 3)[names[1]], REQUESTS, method="POST_v1_messages", result="503") == (
        climbing
    )


def test_deployment_scenario_clears_overrides(make_sim: MakeSim) -> None:
    """A scenario without `webapp` applies to the deployment and clears every override."""
    sim = make_sim(webapps=2)
    sim.client.post("/_sim/scenario", json={"scenario": "overloaded", "webapp": 0})
    sim.client.post("/_sim/scenario", json={"scenario": "slow", "webapp": 1})
    state = sim.set_scenario(Scenario.UNREGISTERED).json()
    assert [w["override"] for w in state["webapps"]] == [None, None]
    assert [w["scenario"] for w in state["webapps"]] == ["unregistered", "unregistered"]
    assert [sim.get("/v1/health").status_code for _ in range(2)] == [200, 200]


def test_proxy_override_one_webapp(make_sim: MakeSim) -> None:
    """A per-Webapp proxy fault: the balancer's requests to that Webapp get the HTML page."""
    sim = make_sim(webapps=2)
    sim.client.post("/_sim/scenario", json={"scenario": "proxy_502", "webapp": 1})
    first, second = sim.get("/v1/health"), sim.get("/v1/health")
    assert first.status_code == 200
    assert first.headers["x-request-id"]
    assert second.status_code == 502
    assert second.headers["content-type"] == "text/html"
    assert "x-request-id" not in second.headers
    assert [w["requests_served"] for w in webapps(sim)] == [1, 0]


@pytest.mark.parametrize(
    "body",
    [
        {"scenario": "overloaded", "webapp": 3},
        {"scenario": "overloaded", "webapp": -1},
        {"scenario": "overloaded", "webapp": "1"},
        {"scenario": "overloaded", "webapp": True},
        {"scenario": "overloaded", "webapp": 1.0},
        {"scenario": "gateway_disconnected", "webapp": 0},
        {"scenario": "flapping", "webapp": 1},
        {"scenario": "nope", "webapp": 1},
    ],
)
def test_override_bad_input(make_sim: MakeSim, body: dict[str, Any]) -> None:
    """A bad `webapp` or a Coreapp scenario per Webapp is a 400 that changes nothing."""
    sim = make_sim(webapps=3)
    before = sim.client.get("/_sim/state").json()
    response = sim.client.post("/_sim/scenario", json=body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert sim.client.get("/_sim/state").json() == before


def test_coreapp_scenario_refusal_names_it(make_sim: MakeSim) -> None:
    """Refusing a Coreapp scenario per Webapp says to set it without `webapp`."""
    sim = make_sim(webapps=2)
    body = {"scenario": "coreapp_down", "webapp": 0}
    message = sim.client.post("/_sim/scenario", json=body).json()["error"]
    assert "coreapp_down" in message
    assert "without webapp" in message


# -- per-Webapp restart ---------------------------------------------------------------------


def test_restart_one_webapp(make_sim: MakeSim) -> None:
    """POST /_sim/restart {"webapp": 1}: only Webapp 1 starts again from zero."""
    sim = make_sim(webapps=3)
    names = hosts(sim)
    sim.clock.advance(600)
    before = by_node(sim, 3)
    stats_before = sim.get("/v1/stats/app").json()["stats"]["app"]
    response = sim.client.post("/_sim/restart", json={"webapp": 1})
    assert response.status_code == 200
    after = by_node(sim, 3)
    for host in names:
        uptime = count(after[host], "web_uptime")
        connections = count(after[host], "web_connections")
        if host == names[1]:
            assert uptime == 0
            assert connections == 0
            assert count(after[host], REQUESTS, method="GET_metrics") == 0
        else:
            assert uptime == count(before[host], "web_uptime") == 600
            assert connections == count(before[host], "web_connections") > 0
    # The Coreapps did not restart.
    stats_after = sim.get("/v1/stats/app").json()["stats"]["app"]
    sent = "out_message_sent_duration_ms_count"
    assert stats_after[sent]["data"] == stats_before[sent]["data"]


def test_restart_without_body_restarts_all(make_sim: MakeSim) -> None:
    """POST /_sim/restart without a body restarts every Webapp."""
    sim = make_sim(webapps=3)
    sim.clock.advance(600)
    assert sim.client.post("/_sim/restart").status_code == 200
    for families in by_node(sim, 3).values():
        assert count(families, "web_uptime") == 0


@pytest.mark.parametrize("webapp", [3, -1, "0", None])
def test_restart_bad_webapp(make_sim: MakeSim, webapp: Any) -> None:
    """A restart naming no existing Webapp is a 400 and restarts nothing."""
    sim = make_sim(webapps=3)
    sim.clock.advance(600)
    response = sim.client.post("/_sim/restart", json={"webapp": webapp})
    if webapp is None:  # explicit null: the whole deployment, like no body
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert all(count(f, "web_uptime") == 600 for f in by_node(sim, 3).values())


# -- the command ----------------------------------------------------------------------------

KEY = "webapps-cli-key-0123456789"
PASSWORD = "Cli-Webapps-Passw0rd!"


@pytest.fixture
def simulate_two_webapps() -> Iterator[str]:
    """`watchdog simulate --webapps 2 --scenario proxy_502 --password-change-required`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "simulate", "--port", str(port), "--webapps", "2",
         "--scenario", "proxy_502", "--password-change-required"],
        env={**os.environ, "WA_API_KEY": KEY, "WA_WEB_PASSWORD": PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/_sim/state", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_simulate_command_webapps_and_proxy(simulate_two_webapps: str) -> None:
    """`simulate --webapps 2 --scenario proxy_502 --password-change-required` does all three."""
    url = simulate_two_webapps
    headers = {"Authorization": f"Apikey {KEY}"}
    proxied = httpx.get(url + "/v1/health", headers=headers)
    assert proxied.status_code == 502
    assert proxied.headers["content-type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in proxied.text
    assert "x-request-id" not in proxied.headers
    state = httpx.get(url + "/_sim/state").json()
    assert state["scenario"] == "proxy_502"
    assert len(state["webapps"]) == 2
    assert state["password_change_required"] is True
    httpx.post(url + "/_sim/scenario", json={"scenario": "healthy"}).raise_for_status()
    seen = []
    for _ in range(4):
        families = httpx.get(url + "/metrics", headers=headers).json()["metrics"]
        seen.append(node_of(families))
    assert seen[:2] == seen[2:]
    assert sorted(seen[:2]) == sorted(w["host"] for w in state["webapps"])
    login = httpx.post(url + "/v1/users/login", auth=("admin", PASSWORD))
    assert login.status_code == 401
    assert login.json()["errors"][0]["code"] == 1024
