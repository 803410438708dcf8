"""Many simulated deployments in one process, each under its own path prefix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from watchdog.simulator import (
    Deployment,
    MultiSimulatorServer,
    Scenario,
    SimulatorConfig,
    Topology,
)

KEY = "multi-sim-key-0123456789"


def test_each_prefix_is_its_own_deployment() -> None:
    """`/<name>/` serves that deployment: its own topology, scenario and admin API."""
    deployments = {
        "wa-0": Deployment(SimulatorConfig(api_key=KEY, seed=0)),
        "wa-1": Deployment(SimulatorConfig(api_key=KEY, topology=Topology.HA, seed=1)),
    }
    headers = {"Authorization": f"Apikey {KEY}"}
    with MultiSimulatorServer(deployments) as server:
        single = httpx.get(server.target_url("wa-0") + "/v1/health", headers=headers)
        ha = httpx.get(server.target_url("wa-1") + "/v1/health", headers=headers)
        assert single.json()["health"] == {"gateway_status": "connected"}
        assert len(ha.json()["health"]) == 5
        switched = httpx.post(
            server.target_url("wa-1") + "/_sim/scenario", json={"scenario": "overloaded"}
        )
        assert switched.status_code == 200
        assert deployments["wa-1"].scenario is Scenario.OVERLOADED
        assert deployments["wa-0"].scenario is Scenario.HEALTHY
        overloaded = httpx.get(server.target_url("wa-1") + "/metrics", headers=headers)
        assert overloaded.status_code == 503
        assert httpx.get(server.target_url("wa-0") + "/metrics", headers=headers).status_code == 200
        missing = httpx.get(server.target_url("wa-0") + "/v1/nope", headers=headers)
        assert missing.json()["errors"][0]["code"] == 1006


def test_simulate_command_serves_many_deployments() -> None:
    """`watchdog simulate --deployments 3` serves /wa-0/ to /wa-2/ from one process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "simulate", "--deployments", "3", "--port", str(port)],
        env={**os.environ, "WA_API_KEY": KEY},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/wa-2/v1/health"
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": f"Apikey {KEY}"}, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
        assert answer.json()["health"] == {"gateway_status": "connected"}
        assert httpx.get(f"http://127.0.0.1:{port}/wa-3/v1/health").status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_arrivals_tell_when_each_request_arrived() -> None:
    """`/_sim/arrivals?since=T` lists the requests after T, oldest first, admin calls aside."""
    deployments = {f"wa-{i}": Deployment(SimulatorConfig(api_key=KEY, seed=i)) for i in range(2)}
    headers = {"Authorization": f"Apikey {KEY}"}
    with MultiSimulatorServer(deployments) as server:
        httpx.get(server.target_url("wa-0") + "/v1/health", headers=headers)
        middle = time.time()
        httpx.get(server.target_url("wa-1") + "/metrics", headers=headers)
        httpx.get(server.target_url("wa-0") + "/v1/nope", headers=headers)  # a 404 arrives too
        httpx.post(server.target_url("wa-1") + "/_sim/scenario", json={"scenario": "healthy"})
        after = time.time()
        everything = httpx.get(server.url + "/_sim/arrivals").json()
        recent = httpx.get(server.url + "/_sim/arrivals", params={"since": middle}).json()
        refused = httpx.get(server.url + "/_sim/arrivals", params={"since": "yesterday"})
    assert [path for _, path in everything["arrivals"]] == [
        "/wa-0/v1/health", "/wa-1/metrics", "/wa-0/v1/nope",
    ]  # fmt: skip
    assert everything["served"] == 3
    assert [path for _, path in recent["arrivals"]] == ["/wa-1/metrics", "/wa-0/v1/nope"]
    times = [at for at, _ in everything["arrivals"]]
    assert times == sorted(times)
    assert middle < times[1]
    assert times[-1] <= after
    assert refused.status_code == 400
