"""The watchdog's own server over real sockets, polling the simulator: the core loop end to end."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from watchdog.api.endpoints import Endpoint
from watchdog.app import ALERT_TICK_SECONDS, ALERT_TICK_SLICES, Watchdog, build_watchdog
from watchdog.cli import main
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, SimulatorServer, Topology
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

KEY = "server-test-key-0123456789"


@dataclass
class Running:
    simulator: SimulatorServer
    watchdog: Watchdog
    url: str

    def set_scenario(self, scenario: Scenario) -> None:
        self.simulator.deployment.set_scenario(scenario)
        self.watchdog.poller.poll_soon()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def running() -> Iterator[Running]:
    deployment = Deployment(SimulatorConfig(topology=Topology.HA, api_key=KEY))
    with SimulatorServer(deployment) as simulator:
        settings = load_settings(
            {
                "WATCHDOG_TARGETS": f"sim={simulator.url}",
                "WA_API_KEY": KEY,
                "WATCHDOG_HEALTH_INTERVAL": "6s",
                "WATCHDOG_STATS_DB_INTERVAL": "60s",
            }
        )
        watchdog = build_watchdog(settings, start_spread=0.2)
        with BackgroundServer(create_app(watchdog), lifespan="on", name="wa-watchdog") as server:
            url = f"http://127.0.0.1:{server.port}"
            wait_for(
                lambda: (
                    httpx.get(url + "/readyz").status_code == 200 and watchdog.state.polled_once()
                )
            )
            yield Running(simulator, watchdog, url)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_healthy_ha_is_exported_probed_and_shown(running: Running) -> None:
    """Healthy HA: up=1 per endpoint, gateway states, API metrics, probes 200, page and JSON."""
    metrics = httpx.get(running.url + "/metrics")
    assert metrics.status_code == 200
    values = samples(metrics.text)
    for endpoint in ("health", "metrics", "stats_app", "stats_db"):
        assert values[("whatsapp_up", frozenset({("target", "sim"), ("endpoint", endpoint)}))] == 1
    connected = [
        dict(labels)
        for (name, labels), value in values.items()
        if name == "whatsapp_gateway_status" and dict(labels)["status"] == "connected" and value
    ]
    assert [c["role"] for c in connected] == ["coreapp"]
    assert any(name == "whatsapp_app_pending_messages" for name, _ in values)
    assert any(name == "whatsapp_api_requests_duration_ms_count" for name, _ in values)
    assert "cached from the last poll" in metrics.text

    openmetrics = httpx.get(
        running.url + "/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")

    assert httpx.get(running.url + "/livez").status_code == 200
    ready = httpx.get(running.url + "/probe/sim/ready")
    assert ready.status_code == 200
    assert ready.json()["reason"] == "1 of 3 coreapps connected (ha, 1 expected)"
    assert httpx.get(running.url + "/probe/sim/live").status_code == 200
    assert httpx.get(running.url + "/probe/nope/ready").status_code == 404

    status = httpx.get(running.url + "/api/v1/status").json()
    assert status["level"] == "ok"
    assert len(status["targets"][0]["nodes"]) == 5
    page = httpx.get(running.url + "/")
    assert "sim" in page.text
    assert running.simulator.deployment.nodes[0].key in page.text
    for body in (metrics.text, page.text, str(status)):
        assert KEY not in body


def test_overload_flips_probe_and_up_then_recovers(running: Running) -> None:
    """503 from the API makes up=0 with reason http_503 and the ready probe 503, until it ends."""
    running.set_scenario(Scenario.OVERLOADED)
    wait_for(lambda: httpx.get(running.url + "/probe/sim/ready").status_code == 503)
    probe = httpx.get(running.url + "/probe/sim/ready").json()
    assert "overloaded" in probe["reason"]
    values = samples(httpx.get(running.url + "/metrics").text)
    up = frozenset({("target", "sim"), ("endpoint", "health")})
    assert values[("whatsapp_up", up)] == 0
    errors = frozenset({("target", "sim"), ("endpoint", "health"), ("reason", "http_503")})
    assert values[("whatsapp_poll_errors_total", errors)] >= 1
    # Liveness and readiness of the watchdog itself never follow the API.
    assert httpx.get(running.url + "/livez").status_code == 200
    assert httpx.get(running.url + "/readyz").status_code == 200
    assert httpx.get(running.url + "/probe/sim/live").status_code == 200

    health = running.watchdog.state.get("sim", Endpoint.HEALTH)
    assert health is not None
    assert health.backoff_seconds > 0  # the watchdog slows down on 503 as on 429

    running.set_scenario(Scenario.HEALTHY)
    # Seen within the backoff: 2 intervals (12 s) after one 503, 4 after more.
    wait_for(lambda: httpx.get(running.url + "/probe/sim/ready").status_code == 200, 30.0)
    assert health.backoff_seconds == 0


def test_gateway_down_fails_ready_probe(running: Running) -> None:
    """All coreapps disconnected: health answers 200 but the ready probe says 503 and why."""
    running.set_scenario(Scenario.GATEWAY_DISCONNECTED)
    wait_for(lambda: httpx.get(running.url + "/probe/sim/ready").status_code == 503)
    assert (
        httpx.get(running.url + "/probe/sim/ready")
        .json()["reason"]
        .startswith("0 of 3 coreapps connected")
    )


@pytest.mark.parametrize(
    ("scenario", "key", "code", "words"),
    [
        (Scenario.HEALTHY, KEY, 0, "OK"),
        # A single poll that got 429 has no earlier answer to stand on: the watchdog is blind.
        (Scenario.RATE_LIMITED, KEY, 2, "rate limits the watchdog (429)"),
        (Scenario.OVERLOADED, KEY, 2, "overloaded (503, code 1016)"),
        (Scenario.GATEWAY_DISCONNECTED, KEY, 2, "0 of 3 coreapps connected"),
        (Scenario.NOT_READY, KEY, 2, "is not ready (500, code 1011)"),
        (Scenario.PROXY_502, KEY, 2, "unavailable behind its proxy/load balancer (HTTP 502)"),
        (Scenario.HEALTHY, "a-wrong-key-0123456789", 2, "rejects the watchdog's credentials"),
    ],
)
def test_check_command_exit_codes(scenario: Scenario, key: str, code: int, words: str) -> None:
    """`watchdog check` polls once and exits 0/1/2 like a monitoring plugin, saying why."""
    deployment = Deployment(SimulatorConfig(topology=Topology.HA, api_key=KEY, scenario=scenario))
    with SimulatorServer(deployment) as simulator:
        out, err = io.StringIO(), io.StringIO()
        env = {"WATCHDOG_TARGETS": f"sim={simulator.url}", "WA_API_KEY": key}
        assert main(["check"], environ=env, out=out, err=err) == code
    assert words in out.getvalue()
    assert key not in out.getvalue() + err.getvalue()


def test_check_json() -> None:
    """`watchdog check --json` prints the status document."""
    deployment = Deployment(SimulatorConfig(api_key=KEY))
    with SimulatorServer(deployment) as simulator:
        out = io.StringIO()
        env = {"WATCHDOG_TARGETS": f"sim={simulator.url}", "WA_API_KEY": KEY}
        assert main(["check", "--json"], environ=env, out=out, err=io.StringIO()) == 0
    document = json.loads(out.getvalue())
    assert document["targets"][0]["endpoints"]["health"]["ok"] is True


def test_alert_ticks_run_in_rotating_slices(running: Running) -> None:
    """The running server evaluates time-based alert transitions in slices, one a second, so
    every target is evaluated once per ALERT_TICK_SECONDS without one long tick."""
    engine = running.watchdog.engine
    calls: list[tuple[int, int]] = []
    tick = engine.tick

    def recording(part: int = 0, parts: int = 1) -> None:
        calls.append((part, parts))
        tick(part, parts)

    engine.tick = recording  # type: ignore[method-assign]
    wait_for(lambda: len(calls) >= ALERT_TICK_SLICES + 1, timeout=3 * ALERT_TICK_SECONDS)
    assert {parts for _, parts in calls} == {ALERT_TICK_SLICES}
    parts_seen = [part for part, _ in calls]
    assert set(parts_seen[:ALERT_TICK_SLICES]) == set(range(ALERT_TICK_SLICES))
