"""The core loop over real sockets: simulator -> poller -> state -> collector, probes, promtool.

Every test runs the simulator on a fake clock that stands still once an hour of other clients'
traffic has been simulated, so the simulator's numbers are frozen and what the watchdog
re-exports can be compared with what the simulator answers directly. Polling intervals are long
(60 s): polls happen at start and when a test asks for them (`poll_soon`), never by surprise.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import START, CountingApp, FakeClock, wait_for
from tests.promtool import run_promtool
from watchdog.app import Watchdog, build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology, catalogue
from watchdog.simulator.app import create_app as create_simulator_app
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

KEY = "core-loop-test-key-0123456789"
TARGET = "sim"
# Simulated traffic before the clock stops, so counters and gauges hold non-trivial values.
HISTORY = 3600.0
ENDPOINTS = ("health", "metrics", "stats_app", "stats_db")
RESETS = "watchdog_api_restarts_total"
# The watchdog's own `whatsapp_*` families (as the text parser names them); the rest of the
# `whatsapp_*` names are re-exported from the API.
OWN_FAMILIES = {
    "whatsapp_up",
    "whatsapp_gateway_status",
    "whatsapp_poll_duration_seconds",
    "whatsapp_last_success_timestamp_seconds",
    "whatsapp_poll_errors",
    "whatsapp_poll_backoff_seconds",
    "whatsapp_poll_failing",
    "whatsapp_gateways_connected",
    "whatsapp_gateways_expected",
    "whatsapp_gateway_degraded",
    "whatsapp_api_info",
}
# Long intervals: nothing polls unless a test calls `poll_soon`.
QUIET = {
    "WATCHDOG_HEALTH_INTERVAL": "60s",
    "WATCHDOG_METRICS_INTERVAL": "60s",
    "WATCHDOG_STATS_APP_INTERVAL": "60s",
    "WATCHDOG_STATS_DB_INTERVAL": "60s",
}

SeriesKey = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[SeriesKey, float]


@dataclass
class Loop:
    """A simulator (frozen clock, counted requests) and a watchdog polling it, both serving."""

    deployment: Deployment
    counting: CountingApp
    simulator: BackgroundServer
    watchdog: Watchdog
    server: BackgroundServer
    # Keep-alive clients: a fresh httpx client costs ~20 ms (it loads the CA bundle).
    client: httpx.Client = field(init=False)
    api_client: httpx.Client = field(init=False)
    stopped: list[BackgroundServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.server.url, timeout=10)
        self.api_client = httpx.Client(base_url=self.simulator.url, timeout=10)

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str) -> httpx.Response:
        """GET from the watchdog's own server."""
        return self.client.get(path)

    def samples(self) -> Samples:
        response = self.get("/metrics")
        assert response.status_code == 200
        return parse(response.text)

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, frozenset({"target": TARGET, **labels}.items())))

    def api(self, path: str) -> Any:
        """The simulator's own JSON answer to a GET with the API key."""
        response = self.api_client.get(path, headers={"Authorization": f"Apikey {KEY}"})
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, path: str, **body: Any) -> None:
        response = self.api_client.post(path, json=body)
        assert response.status_code == 200, response.text

    def poll_now(self) -> None:
        self.watchdog.poller.poll_soon()

    def stop(self) -> None:
        self.client.close()
        self.api_client.close()
        for server in (self.server, self.simulator):
            if server not in self.stopped:
                self.stopped.append(server)
                server.stop()


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def start_loop(
    topology: Topology = Topology.HA, env: Mapping[str, str] | None = None, **config: Any
) -> Loop:
    """Start a simulator and a watchdog polling it; returns once every endpoint was polled."""
    clock = FakeClock(START)
    deployment = Deployment(SimulatorConfig(topology=topology, api_key=KEY, **config), clock=clock)
    clock.advance(HISTORY)  # then time stands still: the simulator's numbers are frozen
    counting = CountingApp(create_simulator_app(deployment))
    simulator = BackgroundServer(counting, name="wa-simulator").start()
    try:
        settings = load_settings(
            {
                "WATCHDOG_TARGETS": f"{TARGET}={simulator.url}",
                "WA_API_KEY": KEY,
                **QUIET,
                **(env or {}),
            }
        )
        watchdog = build_watchdog(settings, start_spread=0.2)
        server = BackgroundServer(create_app(watchdog), lifespan="on", name="wa-watchdog").start()
    except BaseException:
        simulator.stop()
        raise
    loop = Loop(deployment, counting, simulator, watchdog, server)
    try:
        # Ready once health answered; these tests read every endpoint's first poll.
        wait_for(
            lambda: loop.get("/readyz").status_code == 200 and watchdog.state.polled_once(),
            "the first polls",
        )
    except BaseException:
        loop.stop()
        raise
    return loop


@pytest.fixture(scope="session")
def _stop_in_background() -> Iterator[Callable[[Loop], None]]:
    """Stops loops in threads (each server takes ~0.2 s to shut down); waits at the end."""
    threads: list[threading.Thread] = []

    def stop(loop: Loop) -> None:
        thread = threading.Thread(target=loop.stop, name="stop-loop")
        thread.start()
        threads.append(thread)

    yield stop
    for thread in threads:
        thread.join()


MakeLoop = Callable[..., Loop]


@pytest.fixture
def make_loop(_stop_in_background: Callable[[Loop], None]) -> Iterator[MakeLoop]:
    """A factory of fresh loops for tests that change state; all stopped afterwards."""
    made: list[Loop] = []

    def make(
        topology: Topology = Topology.HA, env: Mapping[str, str] | None = None, **config: Any
    ) -> Loop:
        made.append(start_loop(topology, env, **config))
        return made[-1]

    yield make
    for loop in made:
        _stop_in_background(loop)


@pytest.fixture(scope="module", params=list(Topology), ids=str)
def frozen(
    request: pytest.FixtureRequest, _stop_in_background: Callable[[Loop], None]
) -> Iterator[Loop]:
    """One healthy loop per topology, db stats on, shared by the tests that only read."""
    loop = start_loop(request.param)
    yield loop
    _stop_in_background(loop)


# -- what the watchdog exports equals what the simulator answers ------------------------------


def gateway_states(samples: Samples) -> dict[str, tuple[str, str]]:
    """node -> (role, status) of the 1-valued `whatsapp_gateway_status` series."""
    states: dict[str, tuple[str, str]] = {}
    for (name, labels), value in samples.items():
        if name == "whatsapp_gateway_status" and value == 1:
            label = dict(labels)
            assert label["node"] not in states, f"two current statuses for {label['node']}"
            states[label["node"]] = (label.get("role", ""), label["status"])
    return states


def test_gateway_status_per_node_matches_the_health_answer(frozen: Loop) -> None:
    """whatsapp_gateway_status has one 1-valued status per node, as /v1/health reports it."""
    health = frozen.api("/v1/health")["health"]
    if "gateway_status" in health:  # a single instance: one node, no role
        expected = {"webapp": ("", health["gateway_status"])}
    else:
        expected = {key: (entry["role"], entry["gateway_status"]) for key, entry in health.items()}
    samples = frozen.samples()
    assert gateway_states(samples) == expected
    per_node = Counter(
        dict(labels)["node"] for name, labels in samples if name == "whatsapp_gateway_status"
    )
    assert set(per_node) == set(expected)
    assert len(set(per_node.values())) == 1  # every node has the same set of status series
    for endpoint in ENDPOINTS:
        assert frozen.value("whatsapp_up", endpoint=endpoint) == 1


def _expected_series(families: Mapping[str, Any], prefix: str, node: str | None) -> Samples:
    """What the contract says one set of API metric families becomes on the watchdog's page."""
    out: Samples = {}
    for name, family in families.items():
        kind = family["type"]
        stem = re.sub(r"_(sum|count)$", "", name)
        partner = stem + ("_count" if name.endswith("_sum") else "_sum")
        paired = (
            kind == "counter"
            and stem != name
            and families.get(partner, {}).get("type") == "counter"
        )
        if kind == "counter" and not paired:
            exported = prefix + name.removesuffix("_total") + "_total"
        else:  # gauges, and counter pairs, whose summary samples keep their names
            exported = prefix + name
        for entry in family["data"]:
            labels = {"target": TARGET, **({"node": node} if node else {})}
            labels.update(entry.get("labels", {}))
            out[(exported, frozenset(labels.items()))] = float(entry["value"])
    return out


def _per_node(stats: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str | None]]:
    """(families, node) pairs of a stats answer, single-instance or keyed by node."""
    if all(isinstance(v, Mapping) and "data" not in v for v in stats.values()):
        return [(families, node) for node, families in stats.items()]
    return [(stats, None)]


def _moving(key: SeriesKey) -> bool:
    """Series the watchdog's own polls (and this test's direct GETs) move: GET requests."""
    return dict(key[1]).get("method", "").startswith("GET_")


def test_reexported_values_equal_the_simulator_answers(frozen: Loop) -> None:
    """Every API metric and stat is re-exported, renamed by the contract, with its exact value."""
    expected = _expected_series(frozen.api("/metrics")["metrics"], "whatsapp_", None)
    for kind, prefix in (("app", "whatsapp_app_"), ("db", "whatsapp_")):
        stats = frozen.api(f"/v1/stats/{kind}")["stats"][kind]
        for families, node in _per_node(stats):
            expected.update(_expected_series(families, prefix, node))
    expected = {k: v for k, v in expected.items() if not _moving(k)}

    text = frozen.get("/metrics").text
    reexported: Samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("whatsapp_") and family.name not in OWN_FAMILIES
        for s in family.samples
    }
    reexported = {k: v for k, v in reexported.items() if not _moving(k)}
    assert set(reexported) == set(expected)
    assert reexported == expected

    # The comparison covers every kind of re-export, and the numbers are not trivial.
    names = {name for name, _ in expected}
    assert {"whatsapp_web_queue_len", "whatsapp_app_pending_messages"} <= names
    assert {"whatsapp_db_messages", "whatsapp_web_connections_total"} <= names
    assert {"whatsapp_api_requests_duration_ms_count", "whatsapp_api_requests_duration_ms_sum"} <= (
        names
    )
    messages = {
        dict(labels)["type"]: value
        for (name, labels), value in expected.items()
        if name == "whatsapp_db_messages"
    }
    assert set(messages) == {"undefined", "system", "template"}
    sent = [
        value
        for (name, labels), value in expected.items()
        if name == "whatsapp_api_requests_duration_ms_count"
        and dict(labels)["method"] == "POST_v1_messages"
    ]
    assert sent
    assert all(v > 0 for v in sent)


# -- failures become up=0 and an error reason -------------------------------------------------


def _set(scenario: Scenario) -> Callable[[Loop], None]:
    return lambda loop: loop.deployment.set_scenario(scenario)


@dataclass(frozen=True)
class Failure:
    act: Callable[[Loop], None]
    reasons: Mapping[str, str]  # endpoint -> the reason its failure must carry
    still_up: tuple[str, ...] = ()
    topology: Topology = Topology.HA
    env: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)


def _everywhere(reason: str) -> dict[str, str]:
    return dict.fromkeys(ENDPOINTS, reason)


FAILURES = {
    "overloaded": Failure(_set(Scenario.OVERLOADED), _everywhere("http_503")),
    "rate_limited": Failure(_set(Scenario.RATE_LIMITED), {"health": "http_429"}),
    "coreapp_down_single": Failure(
        _set(Scenario.COREAPP_DOWN),
        {"health": "http_5xx", "stats_app": "http_5xx", "stats_db": "http_5xx"},
        still_up=("metrics",),
        topology=Topology.SINGLE,
    ),
    "malformed": Failure(_set(Scenario.MALFORMED), _everywhere("decode")),
    "slow": Failure(
        _set(Scenario.SLOW),
        _everywhere("timeout"),
        env={"WATCHDOG_TIMEOUT": "0.5s"},
        config={"slow_delay": 1.5},
    ),
    "key_rotated": Failure(
        lambda loop: loop.admin("/_sim/auth", api_key="a-rotated-key-0123456789"),
        _everywhere("http_401"),
    ),
    "key_health_only": Failure(
        lambda loop: loop.admin("/_sim/auth", key_scope="health_only"),
        {"metrics": "http_403", "stats_app": "http_403", "stats_db": "http_403"},
        still_up=("health",),
    ),
    "simulator_stopped": Failure(lambda loop: loop.simulator.stop(), _everywhere("connect")),
}


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
def test_failure_sets_up_0_and_counts_the_reason(make_loop: MakeLoop, case: Failure) -> None:
    """Each failure mode flips whatsapp_up to 0 and counts whatsapp_poll_errors_total{reason}."""
    loop = make_loop(case.topology, case.env, **case.config)
    for endpoint in ENDPOINTS:
        assert loop.value("whatsapp_up", endpoint=endpoint) == 1, endpoint

    case.act(loop)
    loop.poll_now()

    def errors(endpoint: str, reason: str) -> float:
        value = loop.value("whatsapp_poll_errors_total", endpoint=endpoint, reason=reason)
        return value or 0.0

    wait_for(
        lambda: all(errors(e, r) >= 1 for e, r in case.reasons.items()),
        f"errors {dict(case.reasons)}",
    )
    samples = loop.samples()
    for endpoint in case.reasons:
        key = ("whatsapp_up", frozenset({"target": TARGET, "endpoint": endpoint}.items()))
        assert samples[key] == 0, endpoint
    for endpoint in case.still_up:
        key = ("whatsapp_up", frozenset({"target": TARGET, "endpoint": endpoint}.items()))
        assert samples[key] == 1, endpoint
    # No other reason was counted for the endpoints the failure hits.
    for (name, labels), _ in samples.items():
        label = dict(labels)
        if name == "whatsapp_poll_errors_total" and label["endpoint"] in case.reasons:
            assert label["reason"] == case.reasons[label["endpoint"]], label


# -- counter resets ---------------------------------------------------------------------------


def test_api_restart_counts_a_counter_reset(make_loop: MakeLoop) -> None:
    """A restart of the API (counters back to zero) increments watchdog_api_restarts_total."""
    loop = make_loop(Topology.HA)

    def polls() -> float:
        value = loop.value("whatsapp_poll_duration_seconds_count", endpoint="metrics")
        return value or 0.0

    assert loop.value(RESETS, endpoint="metrics") == 0
    # A steady poll is no reset.
    loop.poll_now()
    wait_for(lambda: polls() >= 2, "a second poll")
    assert loop.value(RESETS, endpoint="metrics") == 0
    assert loop.value(RESETS, endpoint="stats_app") == 0

    loop.admin("/_sim/restart")
    loop.poll_now()
    wait_for(
        lambda: (
            loop.value(RESETS, endpoint="metrics") == 1
            and loop.value(RESETS, endpoint="stats_app") == 1
        ),
        "counter resets",
    )
    # Db stats are gauges only: nothing there can reset.
    assert loop.value(RESETS, endpoint="stats_db") == 0


# -- one poller, many readers -----------------------------------------------------------------


def test_many_readers_cause_no_requests_to_the_api(make_loop: MakeLoop) -> None:
    """Probes and scrapes are answered from the state: hammering them sends nothing upstream."""
    loop = make_loop(Topology.HA)
    loop.watchdog.poller.scheduler.pause()
    time.sleep(0.05)  # let a poll that had already started finish
    before = loop.counting.snapshot()
    assert sum(before.values()) >= len(ENDPOINTS)

    paths = [f"/probe/{TARGET}/ready", f"/probe/{TARGET}/live", "/metrics"]

    def reader(index: int) -> list[int]:
        # http.client: a keep-alive connection at a fraction of httpx's cost per request.
        connection = http.client.HTTPConnection(loop.server.host, loop.server.port, timeout=10)
        statuses = []
        try:
            for i in range(50):
                connection.request("GET", paths[(index + i) % len(paths)])
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            connection.close()
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(reader, range(8)) for s in batch]
    time.sleep(0.05)

    assert len(statuses) == 400
    assert set(statuses) == {200}
    assert loop.counting.snapshot() == before


# -- promtool ---------------------------------------------------------------------------------


def _api_names() -> set[str]:
    """Every metric name the API defines, with counter pairs' `_sum`/`_count` stems."""
    names = {*catalogue.WEBAPP, *catalogue.APP, *catalogue.DB}
    return names | {re.sub(r"_(sum|count)$", "", n) for n in names}


def _contract_mandated(line: str) -> bool:
    """A lint about units in a name the contract says re-exports keep (`_ms`, `_us`).

    DESIGN.md: "Re-exported API metrics keep their names behind a prefix", so a unit the API
    abbreviates stays abbreviated. Only that message, only for names the API defines.
    """
    unit_lint = r"(whatsapp_app_|whatsapp_)(\w+) metric names should not contain abbreviated units"
    match = re.fullmatch(unit_lint, line)
    return match is not None and match.group(2) in _api_names()


def test_promtool_accepts_the_exposition(frozen: Loop) -> None:
    """`promtool check metrics` parses /metrics and reports no lint problem of the watchdog's."""
    result = run_promtool("check", "metrics", stdin=frozen.get("/metrics").text)
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if not _contract_mandated(line)]
    assert problems == []
    # 3 is promtool's exit code for lint problems; nothing else may go wrong.
    assert result.returncode == (3 if lines else 0), lines
