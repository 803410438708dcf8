"""The Prometheus collector: families and series rendered from the state, in both formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from watchdog.api.endpoints import Endpoint
from watchdog.api.gateways import Expectation
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.export.collector import GATEWAY_STATUSES, WatchdogCollector
from watchdog.export.exposition import Body, Exposition
from watchdog.export.parts import Parts
from watchdog.export.reexport import reexported_name
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import DURATION_BUCKETS, State

NOW = 1_700_000_000.0
# What Prometheus 2 sends (Prometheus 3 adds `escaping=allow-utf-8`).
OPENMETRICS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
# The OpenMetrics module carries no annotations; these give its two functions their types.
generate_openmetrics: Callable[[CollectorRegistry], bytes] = openmetrics_exposition.generate_latest
parse_openmetrics: Callable[[str], Iterable[Metric]] = (
    openmetrics_parser.text_string_to_metric_families
)
ALL: dict[str, Any] = {
    "stats_db_interval": 60.0
}  # db stats are off by default; these tests poll them


class Clock:
    """A clock the test sets by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def target(name: str = "prod", labels: Mapping[str, str] | None = None, **kw: Any) -> Target:
    return Target(name=name, url=f"https://{name}.example", labels=dict(labels or {}), **kw)


def envelope(endpoint: Endpoint, inner: Any, meta: Mapping[str, str] | None = None) -> Any:
    """The full JSON body the API sends, as `watchdog.simulator.app._render` builds it."""
    key = {Endpoint.HEALTH: "health", Endpoint.METRICS: "metrics"}.get(endpoint)
    payload = {key: inner} if key else {"stats": {endpoint.value.removeprefix("stats_"): inner}}
    body = {**payload, "meta": dict(meta or {"version": "v2.45.1", "api_status": "stable"})}
    return json.loads(json.dumps(body))  # exactly what a JSON decoder hands the client


def simulator(topology: Topology = Topology.SINGLE, scenario: Scenario = Scenario.HEALTHY) -> Any:
    return Deployment(SimulatorConfig(topology=topology, scenario=scenario), clock=lambda: NOW)


def record(
    state: State,
    name: str,
    endpoint: Endpoint,
    body: Any = None,
    *,
    at: float = NOW,
    duration: float = 0.05,
    reason: str | None = None,
    status: int | None = 200,
) -> None:
    result = PollResult(name, endpoint, at, duration, status, reason, body=body)
    assert state.record(observe(result)) is not None


def fail(state: State, name: str, endpoint: Endpoint, reason: str, status: int | None) -> None:
    record(state, name, endpoint, at=NOW, reason=reason, status=status)


def poll_simulator(
    state: State, name: str, deployment: Deployment, at: float = NOW, duration: float = 0.05
) -> None:
    """Poll every endpoint of `name` once from `deployment`, as the client would classify it."""
    answers = {
        Endpoint.HEALTH: deployment.health(at),
        Endpoint.METRICS: deployment.metrics(at),
        Endpoint.STATS_APP: deployment.stats_app(at),
        Endpoint.STATS_DB: deployment.stats_db(at),
    }
    for endpoint, answer in answers.items():
        if state.get(name, endpoint) is None:
            continue
        if isinstance(answer, ApiError):
            error = ApiErrorInfo(int(answer.code), None)
            result = PollResult(
                name, endpoint, at, duration, answer.status, "http_5xx", api_error=error
            )
            state.record(observe(result))
        else:
            record(state, name, endpoint, envelope(endpoint, answer), at=at, duration=duration)


SeriesKey = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Scrape:
    """Both exposition formats of one registry, parsed back."""

    text: str
    openmetrics: str
    families: dict[str, Metric]  # by name, from the OpenMetrics parse (types as OpenMetrics)
    series: dict[SeriesKey, float]

    def values(self, sample: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """Samples named `sample` whose labels include `labels`."""
        wanted = set(labels.items())
        return [
            (dict(key), value)
            for (name, key), value in self.series.items()
            if name == sample and wanted <= key
        ]

    def value(self, sample: str, **labels: str) -> float:
        [(_, value)] = self.values(sample, **labels)
        return value

    def names(self) -> set[str]:
        return {name for name, _ in self.series}


def scrape(state: State, clock: Clock | None = None) -> Scrape:
    """Register a collector on a fresh registry and render and parse both formats."""
    registry = CollectorRegistry()
    registry.register(WatchdogCollector(state, clock=clock or Clock()))
    text = generate_latest(registry).decode()
    openmetrics = generate_openmetrics(registry).decode()
    series: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in series, f"duplicate series {key}"
            series[key] = sample.value
    families = {}
    om_series: dict[SeriesKey, float] = {}
    for family in parse_openmetrics(openmetrics):
        assert family.name not in families, f"family {family.name} twice"
        families[family.name] = family
        for sample in family.samples:
            om_series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    assert om_series == series
    # What `/metrics` serves, the targets' parts joined, is byte for byte the one-pass render.
    assert joined(state, clock or Clock()) == (text, openmetrics)
    return Scrape(text, openmetrics, families, series)


def joined(state: State, clock: Callable[[], float]) -> tuple[str, str]:
    """Both formats as `/metrics` makes them from the state's parts (no global series)."""
    exposition = Exposition(Parts(state, clock), CollectorRegistry(auto_describe=False))

    async def both() -> tuple[Body, Body]:
        return await exposition.body(""), await exposition.body(OPENMETRICS_ACCEPT)

    text, openmetrics = asyncio.run(both())
    assert not text.content_type.startswith("application/openmetrics")
    assert openmetrics.content_type.startswith("application/openmetrics")
    return text.content.decode(), openmetrics.content.decode()


def healthy_state(
    topology: Topology = Topology.SINGLE,
    scenario: Scenario = Scenario.HEALTHY,
    labels: Mapping[str, str] | None = None,
) -> State:
    state = State([target(labels=labels, **ALL)])
    poll_simulator(state, "prod", simulator(topology, scenario))
    return state


# -- the watchdog's own families ----------------------------------------------------------------

HEALTHY_SINGLE_FAMILIES = {
    "whatsapp_up", "whatsapp_gateway_status", "whatsapp_poll_duration_seconds",
    "whatsapp_last_success_timestamp_seconds", "whatsapp_api", "whatsapp_poll_backoff_seconds",
    "whatsapp_gateways_connected", "whatsapp_gateways_expected",
    "watchdog_api_restarts", "watchdog_dropped_series",
    # /v1/stats/app
    "whatsapp_app_callback_queue_size", "whatsapp_app_callback_requests_duration_ms",
    "whatsapp_app_concurrent_rate_limit_triggered", "whatsapp_app_db_request_duration_us",
    "whatsapp_app_db_request_error_duration_us", "whatsapp_app_endpoint_requests_duration_ms",
    "whatsapp_app_in_message_decoded", "whatsapp_app_in_message_from_server",
    "whatsapp_app_in_message_persisted", "whatsapp_app_in_messages_pending_processing",
    "whatsapp_app_internal_server_conn_duration_ms",
    "whatsapp_app_internal_server_requests_duration_ms", "whatsapp_app_media_downloads",
    "whatsapp_app_media_uploads", "whatsapp_app_out_message_persisted",
    "whatsapp_app_out_message_sent_duration_ms", "whatsapp_app_pending_callbacks",
    "whatsapp_app_pending_messages",
    # /v1/stats/db
    "whatsapp_db_contacts", "whatsapp_db_message_receipts", "whatsapp_db_messages",
    "whatsapp_db_pending_callbacks", "whatsapp_db_pending_messages",
    # /metrics
    "whatsapp_web_uptime", "whatsapp_web_connections", "whatsapp_web_pending_connections",
    "whatsapp_web_max_pending_connections", "whatsapp_web_queue_len",
    "whatsapp_web_idle_processes", "whatsapp_web_total_processes",
    "whatsapp_web_process_limit_hit", "whatsapp_web_handled_requests", "whatsapp_web_out_kbytes",
    "whatsapp_web_requests", "whatsapp_api_requests_duration_ms",
    "whatsapp_api_requests_db_duration_ms", "whatsapp_api_requests_coreapp_duration_ms",
}  # fmt: skip


def test_healthy_single_instance_families() -> None:
    """A healthy single instance exports exactly the documented families (OpenMetrics names)."""
    result = scrape(healthy_state())
    assert set(result.families) == HEALTHY_SINGLE_FAMILIES
    assert result.families["whatsapp_web_connections"].type == "counter"
    assert result.families["whatsapp_api_requests_duration_ms"].type == "summary"
    assert result.families["whatsapp_app_pending_messages"].type == "gauge"
    assert result.families["whatsapp_api"].type == "info"
    assert result.families["whatsapp_poll_duration_seconds"].type == "histogram"


def test_describe_is_empty_and_registering_does_not_collect() -> None:
    """describe() returns nothing, so registering does not run a scrape."""

    class Counting(WatchdogCollector):
        calls = 0

        def collect(self) -> Iterator[Metric]:
            Counting.calls += 1
            yield from super().collect()

    collector = Counting(State([target()]))
    assert list(collector.describe()) == []
    registry = CollectorRegistry()
    registry.register(collector)
    assert Counting.calls == 0
    generate_latest(registry)
    assert Counting.calls == 1


def test_up_per_endpoint() -> None:
    """whatsapp_up is 1 after a success, 0 after a failure, absent before the first poll."""
    state = State([target(**ALL)])
    deployment = simulator()
    record(state, "prod", Endpoint.HEALTH, envelope(Endpoint.HEALTH, deployment.health(NOW)))
    fail(state, "prod", Endpoint.METRICS, "http_503", 503)
    result = scrape(state)
    assert result.value("whatsapp_up", target="prod", endpoint="health") == 1
    assert result.value("whatsapp_up", target="prod", endpoint="metrics") == 0
    assert result.values("whatsapp_up", endpoint="stats_app") == []
    assert result.values("whatsapp_up", endpoint="stats_db") == []


def test_disabled_endpoint_not_exported() -> None:
    """An endpoint with interval 0 (db stats by default) has no series at all."""
    state = State([target()])
    poll_simulator(state, "prod", simulator())
    result = scrape(state)
    assert not any(dict(labels).get("endpoint") == "stats_db" for _, labels in result.series)
    assert "whatsapp_db_messages" not in result.names()


def test_shape_failure_is_down() -> None:
    """A 200 answer of the wrong shape counts as down, with reason `shape`."""
    state = State([target()])
    record(state, "prod", Endpoint.METRICS, {"html": "<h1>proxy error</h1>"})
    result = scrape(state)
    assert result.value("whatsapp_up", endpoint="metrics") == 0
    assert result.value("whatsapp_poll_errors_total", endpoint="metrics", reason="shape") == 1


def gateway(result: Scrape, node: str) -> dict[str, float]:
    """The state set of one node: status -> value, checking `role` is one value per node."""
    samples = result.values("whatsapp_gateway_status", node=node)
    assert len({labels["role"] for labels, _ in samples}) == 1
    return {labels["status"]: value for labels, value in samples}


def current(result: Scrape) -> dict[tuple[str, str], str]:
    """(node, role) -> the status whose series is 1."""
    return {
        (labels["node"], labels["role"]): labels["status"]
        for labels, value in result.values("whatsapp_gateway_status")
        if value == 1
    }


def test_gateway_single_instance_state_set() -> None:
    """Single instance: node `webapp`, role "", one series per status, 1 for connected."""
    result = scrape(healthy_state())
    assert gateway(result, "webapp") == {s: float(s == "connected") for s in GATEWAY_STATUSES}
    assert set(GATEWAY_STATUSES) == {
        "connected", "connecting", "disconnected", "uninitialized", "unregistered", "error",
        "unknown",
    }  # fmt: skip
    assert current(result) == {("webapp", ""): "connected"}


def test_gateway_ha_roles() -> None:
    """HA: every node with its role; only the active coreapp is connected."""
    deployment = simulator(Topology.HA)
    state = State([target()])
    poll_simulator(state, "prod", deployment)
    result = scrape(state)
    expected = {
        (n.key, n.role.value if n.role else ""): "connected" if n.active else "disconnected"
        for n in deployment.nodes
    }
    assert current(result) == expected
    assert sorted(role for _, role in expected) == [
        "coreapp", "coreapp", "coreapp", "primary_master", "secondary_master",
    ]  # fmt: skip
    assert len(result.values("whatsapp_gateway_status")) == len(expected) * 7


def test_gateway_multiconnect_node_error() -> None:
    """Multiconnect with a coreapp down: that node's errors object becomes status `error`."""
    deployment = simulator(Topology.MULTICONNECT, Scenario.COREAPP_DOWN)
    state = State([target()])
    poll_simulator(state, "prod", deployment)
    result = scrape(state)
    statuses = current(result)
    errored = [node for (node, _), status in statuses.items() if status == "error"]
    assert errored == [deployment.nodes[2].key]  # the first active coreapp
    assert statuses[(deployment.nodes[0].key, "primary_master")] == "connected"
    assert result.value("whatsapp_up", endpoint="health") == 1


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (Scenario.GATEWAY_DISCONNECTED, "disconnected"),
        (Scenario.UNINITIALIZED, "uninitialized"),
        (Scenario.UNREGISTERED, "unregistered"),
    ],
)
def test_gateway_scenarios_single(scenario: Scenario, status: str) -> None:
    """Single instance under a gateway scenario: the reported status is the one set to 1."""
    assert current(scrape(healthy_state(scenario=scenario))) == {("webapp", ""): status}


def test_gateway_undocumented_status_unknown() -> None:
    """A status outside the documented five is exported as `unknown`."""
    state = State([target()])
    record(state, "prod", Endpoint.HEALTH, envelope(Endpoint.HEALTH, {"gateway_status": "odd"}))
    assert current(scrape(state)) == {("webapp", ""): "unknown"}


def test_gateway_stale_health_not_exported() -> None:
    """Once the last health success is older than 3 intervals, no gateway series remain."""
    state = healthy_state()
    interval = target().health_interval
    assert scrape(state, Clock(NOW + 3 * interval)).values("whatsapp_gateway_status")
    stale = scrape(state, Clock(NOW + 3 * interval + 1))
    assert stale.values("whatsapp_gateway_status") == []
    assert stale.value("whatsapp_up", endpoint="health") == 1  # up follows the last poll


def test_gateway_after_failure_uses_last_fresh_success() -> None:
    """A failed health poll keeps exporting the last success's statuses while it is fresh."""
    state = healthy_state()
    fail(state, "prod", Endpoint.HEALTH, "http_429", 429)
    result = scrape(state)
    assert current(result) == {("webapp", ""): "connected"}
    assert result.value("whatsapp_up", endpoint="health") == 0


def test_coreapp_down_single_counts_errors() -> None:
    """Single instance with the coreapp down: health and stats fail with http_5xx."""
    result = scrape(healthy_state(scenario=Scenario.COREAPP_DOWN))
    for endpoint in ("health", "stats_app", "stats_db"):
        assert result.value("whatsapp_up", endpoint=endpoint) == 0
        assert result.value("whatsapp_poll_errors_total", endpoint=endpoint) == 1
    assert result.value("whatsapp_up", endpoint="metrics") == 1
    assert result.values("whatsapp_gateway_status") == []
    assert result.values("whatsapp_app_pending_messages") == []


def test_errors_counted_by_reason() -> None:
    """Each failure reason has its own counter series per endpoint."""
    state = healthy_state(scenario=Scenario.RATE_LIMITED)
    for _ in range(3):
        fail(state, "prod", Endpoint.HEALTH, "http_429", 429)
    fail(state, "prod", Endpoint.HEALTH, "timeout", None)
    fail(state, "prod", Endpoint.METRICS, "http_429", 429)
    result = scrape(state)
    assert result.value("whatsapp_poll_errors_total", endpoint="health", reason="http_429") == 3
    assert result.value("whatsapp_poll_errors_total", endpoint="health", reason="timeout") == 1
    assert result.value("whatsapp_poll_errors_total", endpoint="metrics", reason="http_429") == 1
    assert len(result.values("whatsapp_poll_errors_total")) == 3
    assert result.families["whatsapp_poll_errors"].type == "counter"


def test_backoff_is_exported() -> None:
    """The extra wait after 429/503 answers is a gauge per endpoint, 0 on schedule."""
    state = healthy_state()
    endpoint_state = state.get("prod", Endpoint.HEALTH)
    assert endpoint_state is not None
    endpoint_state.backoff_seconds = 45.0
    result = scrape(state)
    assert result.value("whatsapp_poll_backoff_seconds", endpoint="health") == 45.0
    assert result.value("whatsapp_poll_backoff_seconds", endpoint="metrics") == 0.0


def test_failing_polls_say_what_the_answer_shows() -> None:
    """whatsapp_poll_failing carries the diagnosis of each failing endpoint, none when ok."""
    state = healthy_state()
    fail(state, "prod", Endpoint.HEALTH, "http_5xx", 502)
    result = scrape(state)
    assert result.values("whatsapp_poll_failing") == [
        ({"target": "prod", "endpoint": "health", "diagnosis": "proxy"}, 1.0)
    ]


def test_gateway_verdict_is_exported() -> None:
    """Connected and expected gateways, and degraded nodes, as the alerts and probes see them."""
    nodes = {
        "m0:1": {"gateway_status": "disconnected", "role": "primary_master"},
        "c0:1": {"gateway_status": "connected", "role": "coreapp"},
        "c1:1": {"gateway_status": "disconnected", "role": "coreapp"},
    }
    state = State([target()], expectation=Expectation(shards=2))
    record(state, "prod", Endpoint.HEALTH, {"health": nodes, "meta": {}})
    result = scrape(state)
    assert result.value("whatsapp_gateways_connected") == 1
    assert result.value("whatsapp_gateways_expected") == 2
    assert result.values("whatsapp_gateway_degraded") == [
        ({"target": "prod", "node": "m0:1", "problem": "primary_master"}, 1.0)
    ]


def test_webapps_behind_one_url_are_all_exported() -> None:
    """Series of several Webapps answering in turn are exported together, each with its
    latest value, so Prometheus' rate() sees no gaps."""
    state = State([target()])
    for node, value in (("web-a", 10), ("web-b", 20), ("web-a", 11)):
        body = {"connections": family("counter", {"labels": {"node": node}, "value": value})}
        record(state, "prod", Endpoint.METRICS, envelope(Endpoint.METRICS, body))
    result = scrape(state)
    values = {labels["node"]: v for labels, v in result.values("whatsapp_connections_total")}
    assert values == {"web-a": 11.0, "web-b": 20.0}


def test_poll_duration_histogram() -> None:
    """Durations land in cumulative buckets with +Inf, _count and _sum."""
    state = State([target()])
    for duration in (0.005, 0.3, 0.3, 20.0):
        record(state, "prod", Endpoint.HEALTH, reason="timeout", status=None, duration=duration)
    result = scrape(state)
    buckets = {
        labels["le"]: value
        for labels, value in result.values(
            "whatsapp_poll_duration_seconds_bucket", endpoint="health"
        )
    }
    assert list(buckets) == [*(repr(b) for b in DURATION_BUCKETS), "+Inf"]
    assert buckets["0.01"] == 1
    assert buckets["0.25"] == 1
    assert buckets["0.5"] == 3
    assert buckets["10.0"] == 3
    assert buckets["+Inf"] == 4
    assert result.value("whatsapp_poll_duration_seconds_count", endpoint="health") == 4
    assert result.value("whatsapp_poll_duration_seconds_sum", endpoint="health") == pytest.approx(
        20.605
    )


def test_last_success_timestamp() -> None:
    """whatsapp_last_success_timestamp_seconds is the start of the last success; failures
    after it leave it unchanged, and an endpoint that never succeeded has none."""
    state = State([target()])
    deployment = simulator()
    body = envelope(Endpoint.HEALTH, deployment.health(NOW))
    record(state, "prod", Endpoint.HEALTH, body, at=NOW - 20)
    record(state, "prod", Endpoint.HEALTH, at=NOW - 5, reason="timeout", status=None)
    fail(state, "prod", Endpoint.METRICS, "connect", None)
    result = scrape(state)
    assert result.value("whatsapp_last_success_timestamp_seconds", endpoint="health") == NOW - 20
    assert result.values("whatsapp_last_success_timestamp_seconds", endpoint="metrics") == []


def test_api_info() -> None:
    """whatsapp_api_info carries version and api_status of the last successful health answer."""
    state = State([target()])
    meta = {"version": "v2.53.2", "api_status": "deprecated"}
    record(state, "prod", Endpoint.HEALTH, envelope(Endpoint.HEALTH, {"gateway_status": "x"}, meta))
    result = scrape(state)
    [(labels, value)] = result.values("whatsapp_api_info")
    assert (labels, value) == (
        {"target": "prod", "version": "v2.53.2", "api_status": "deprecated"},
        1,
    )


def test_api_info_skipped_without_meta() -> None:
    """No meta in the health answer: no whatsapp_api_info series."""
    state = State([target()])
    record(state, "prod", Endpoint.HEALTH, {"health": {"gateway_status": "connected"}})
    assert scrape(state).values("whatsapp_api_info") == []


def test_counter_resets() -> None:
    """A restart of the API (counters going backwards) increments watchdog_api_restarts."""
    clock = Clock()
    deployment = Deployment(SimulatorConfig(), clock=clock)
    state = State([target()])
    clock.now = NOW + 300
    poll_simulator(state, "prod", deployment, at=clock.now)
    clock.now += 10
    poll_simulator(state, "prod", deployment, at=clock.now)
    before = scrape(state, Clock(clock.now))
    assert before.value("watchdog_api_restarts_total", endpoint="metrics") == 0
    deployment.restart()
    clock.now += 10
    poll_simulator(state, "prod", deployment, at=clock.now)
    result = scrape(state, Clock(clock.now))
    assert result.value("watchdog_api_restarts_total", endpoint="metrics") == 1
    assert result.value("watchdog_api_restarts_total", endpoint="stats_app") == 1
    assert result.values("watchdog_api_restarts_total", endpoint="health") == []


# -- re-exported API metrics --------------------------------------------------------------------


def test_naming_rule() -> None:
    """/metrics -> whatsapp_<name>, stats app -> whatsapp_app_<name>, stats db -> whatsapp_<name>;
    _sum/_count pairs become summaries, other counters get _total, gauges stay."""
    deployment = simulator()
    state = State([target(**ALL)])
    poll_simulator(state, "prod", deployment, at=NOW + 60)  # a minute of traffic counted
    result = scrape(state, Clock(NOW + 60))
    web = deployment.webapp_host
    count = result.value(
        "whatsapp_api_requests_duration_ms_count",
        node=web, method="POST_v1_messages", result="201",
    )  # fmt: skip
    assert count > 0
    assert result.value(
        "whatsapp_api_requests_duration_ms_sum", node=web, method="POST_v1_messages", result="201"
    ) == pytest.approx(count * 40, rel=0.01)
    assert result.value("whatsapp_web_connections_total", node=web) > 0
    assert result.values("whatsapp_app_callback_queue_size")
    assert result.value("whatsapp_db_messages", type="template") > 0
    assert result.values("whatsapp_app_pending_messages")
    assert result.families["whatsapp_app_callback_requests_duration_ms"].type == "summary"
    for name in result.names():
        assert not name.endswith("_total_total")
        # Pairs are summaries, never counters named ..._sum_total / ..._count_total.
        assert not name.endswith(("_sum_total", "_count_total"))


def test_reexported_name() -> None:
    """reexported_name applies the prefix per endpoint and drops a counter's _total."""
    assert reexported_name(Endpoint.METRICS, "web_connections", "counter") == (
        "whatsapp_web_connections"
    )
    assert reexported_name(Endpoint.METRICS, "hits_total", "counter") == "whatsapp_hits"
    assert reexported_name(Endpoint.METRICS, "hits_total", "gauge") == "whatsapp_hits_total"
    assert reexported_name(Endpoint.STATS_APP, "pending_messages", "gauge") == (
        "whatsapp_app_pending_messages"
    )
    assert reexported_name(Endpoint.STATS_DB, "db_messages", "gauge") == "whatsapp_db_messages"


def family(kind: str, *data: dict[str, Any], help_text: str = "Some help") -> dict[str, Any]:
    return {"type": kind, "help": help_text, "data": list(data)}


def metrics_state(
    families: Mapping[str, Any], labels: Mapping[str, str] | None = None, **kw: Any
) -> State:
    state = State([target(labels=labels, **kw)])
    record(state, "prod", Endpoint.METRICS, envelope(Endpoint.METRICS, dict(families)))
    return state


def test_counter_total_not_doubled_and_untyped() -> None:
    """A counter already named *_total keeps one _total; unknown types become untyped."""
    state = metrics_state(
        {
            "hits_total": family("counter", {"value": 3}),
            "mystery": family("histogram", {"value": 1.5}),
            "lonely_sum": family("counter", {"value": 9}),
        }
    )
    result = scrape(state)
    assert result.value("whatsapp_hits_total") == 3
    assert result.families["whatsapp_hits"].type == "counter"
    assert result.value("whatsapp_mystery") == 1.5
    assert result.families["whatsapp_mystery"].type == "unknown"
    assert "# TYPE whatsapp_mystery untyped" in result.text
    # Without its _count, a _sum counter is a plain counter.
    assert result.value("whatsapp_lonely_sum_total") == 9


def test_summary_pairs_by_labels() -> None:
    """_sum and _count pair by labels; a series with only one of them keeps that one."""
    state = metrics_state(
        {
            "req_ms_sum": family(
                "counter",
                {"labels": {"result": "200"}, "value": 500},
                {"labels": {"result": "503"}, "value": 7},
            ),
            "req_ms_count": family(
                "counter",
                {"labels": {"result": "200"}, "value": 10},
                {"labels": {"result": "429"}, "value": 4},
            ),
        }
    )
    result = scrape(state)
    assert result.value("whatsapp_req_ms_sum", result="200") == 500
    assert result.value("whatsapp_req_ms_count", result="200") == 10
    assert result.value("whatsapp_req_ms_sum", result="503") == 7
    assert result.values("whatsapp_req_ms_count", result="503") == []
    assert result.value("whatsapp_req_ms_count", result="429") == 4
    assert result.families["whatsapp_req_ms"].type == "summary"


def test_stale_values_not_exported() -> None:
    """Re-exported values older than 3 poll intervals disappear; the watchdog's own stay."""
    state = healthy_state()
    interval = target().metrics_interval  # 30 s; stats app 60 s
    fresh = scrape(state, Clock(NOW + 3 * interval))
    assert fresh.values("whatsapp_web_connections_total")
    assert fresh.values("whatsapp_app_pending_messages")
    stale = scrape(state, Clock(NOW + 3 * interval + 1))
    assert stale.values("whatsapp_web_connections_total") == []
    assert stale.values("whatsapp_app_pending_messages")  # stats app: 60 s interval
    assert stale.values("watchdog_dropped_series", endpoint="metrics") == []
    assert stale.value("whatsapp_up", endpoint="metrics") == 1
    assert stale.value("whatsapp_last_success_timestamp_seconds", endpoint="metrics") == NOW
    gone = scrape(state, Clock(NOW + 3 * 60 + 1))
    assert gone.values("whatsapp_app_pending_messages") == []


def test_failure_keeps_exporting_fresh_success() -> None:
    """After a failed poll, the previous success is exported until it goes stale."""
    state = healthy_state()
    fail(state, "prod", Endpoint.METRICS, "http_503", 503)
    result = scrape(state, Clock(NOW + 10))
    assert result.values("whatsapp_web_connections_total")
    assert result.value("whatsapp_up", endpoint="metrics") == 0


def test_user_labels_on_every_series() -> None:
    """Every series carries the target name and the target's user labels."""
    state = healthy_state(Topology.MULTICONNECT, labels={"env": "prod", "region": "eu"})
    fail(state, "prod", Endpoint.HEALTH, "http_429", 429)
    result = scrape(state)
    assert len(result.series) > 200
    for _, labels in result.series:
        assert {("target", "prod"), ("env", "prod"), ("region", "eu")} <= labels


def test_several_targets_share_families() -> None:
    """Two targets with different user labels and topologies land in the same families."""
    state = State([target("a", {"env": "prod"}, **ALL), target("b", {"team": "x"})])
    poll_simulator(state, "a", simulator(Topology.SINGLE))
    poll_simulator(state, "b", simulator(Topology.HA))
    result = scrape(state)
    [(a, _)] = result.values("whatsapp_up", target="a", endpoint="health")
    assert a == {"target": "a", "env": "prod", "endpoint": "health"}
    assert result.values("whatsapp_app_pending_messages", target="a")
    assert len(result.values("whatsapp_app_pending_messages", target="b")) == 5  # per node
    assert len(result.values("whatsapp_up", target="b")) == 3  # no db stats for b


def test_label_collisions_renamed() -> None:
    """API labels named `target` or like a user label become exported_<name>; node is kept."""
    labels = {"target": "x", "env": "api-env", "exported_target": "y", "node": "n1"}
    state = metrics_state(
        {"thing": family("gauge", {"labels": labels, "value": 1})}, {"env": "prod"}
    )
    result = scrape(state)
    [(got, _)] = result.values("whatsapp_thing")
    assert got == {
        "target": "prod",
        "env": "prod",
        "exported_target": "y",
        "exported_exported_target": "x",
        "exported_env": "api-env",
        "node": "n1",
    }


def test_help_says_cached() -> None:
    """Every re-exported family's HELP says the values are cached from the last poll."""
    result = scrape(healthy_state())
    paths = {"whatsapp_app_": "/v1/stats/app", "whatsapp_db_": "/v1/stats/db"}
    own = {
        "whatsapp_up", "whatsapp_gateway_status", "whatsapp_poll_duration_seconds",
        "whatsapp_last_success_timestamp_seconds", "whatsapp_api", "whatsapp_poll_errors",
        "whatsapp_poll_backoff_seconds", "whatsapp_gateways_connected",
        "whatsapp_gateways_expected",
    }  # fmt: skip
    checked = 0
    for name, metric in result.families.items():
        if name in own or name.startswith("watchdog_"):
            continue
        path = next((p for prefix, p in paths.items() if name.startswith(prefix)), "/metrics")
        assert metric.documentation.endswith(f"(cached from the last poll of {path})"), name
        checked += 1
    assert checked == len(HEALTHY_SINGLE_FAMILIES) - 10
    assert (
        "# HELP whatsapp_app_pending_messages Messages waiting to be sent "
        "(cached from the last poll of /v1/stats/app)"
    ) in result.text


def test_help_missing() -> None:
    """An API metric without help still gets a HELP line saying it is cached."""
    state = metrics_state({"thing": {"type": "gauge", "data": [{"value": 1}]}})
    assert scrape(state).families["whatsapp_thing"].documentation == (
        "Cached from the last poll of /metrics"
    )


def test_cross_endpoint_collision_first_wins() -> None:
    """A db_* name from both /v1/stats/db and /metrics: stats db owns it, /metrics' is dropped."""
    deployment = simulator()
    state = State([target(**ALL)])
    poll_simulator(state, "prod", deployment)
    body = envelope(Endpoint.METRICS, {"db_messages": family("gauge", {"value": 1})})
    record(state, "prod", Endpoint.METRICS, body)
    result = scrape(state)
    assert {labels["type"] for labels, _ in result.values("whatsapp_db_messages")} == {
        "undefined", "system", "template",
    }  # fmt: skip
    assert result.value("watchdog_dropped_series", endpoint="metrics") == 1
    assert result.value("watchdog_dropped_series", endpoint="stats_db") == 0


def test_collision_with_own_family_dropped() -> None:
    """An API metric that would shadow one of the watchdog's own families is dropped."""
    state = metrics_state(
        {
            "up": family("gauge", {"value": 0}),
            "api_info": family("gauge", {"value": 5}),
            "poll_errors_total": family("counter", {"value": 5}),
        }
    )
    result = scrape(state)
    assert result.values("whatsapp_up") == [({"target": "prod", "endpoint": "metrics"}, 1.0)]
    assert result.values("whatsapp_api_info") == []
    assert result.values("whatsapp_poll_errors_total") == []
    assert result.value("watchdog_dropped_series", endpoint="metrics") == 3


def test_type_clashes_within_one_endpoint() -> None:
    """Names whose exposed samples would clash (summary x vs gauge x_count, counter x vs
    gauge x_total) keep the first family and drop the other; the scrape still parses."""
    state = metrics_state(
        {
            "x_sum": family("counter", {"value": 1}),
            "x_count": family("counter", {"value": 1}),
            "x": family("gauge", {"value": 2}),
            "y": family("counter", {"value": 3}),
            "y_total": family("gauge", {"value": 4}),
            "z": family("counter", {"value": 5}),
            "z_total": family("counter", {"value": 6}),
        }
    )
    result = scrape(state)
    assert result.families["whatsapp_x"].type == "summary"
    assert result.value("whatsapp_y_total") == 3
    assert result.value("whatsapp_z_total") == 5
    assert result.value("watchdog_dropped_series", endpoint="metrics") == 3


def test_duplicate_and_invalid_series_dropped() -> None:
    """Duplicate label sets, negative counters and fractional summary counts are dropped."""
    state = metrics_state(
        {
            "g": family(
                "gauge",
                {"labels": {"a": "1", "b": "2"}, "value": 1},
                {"labels": {"b": "2", "a": "1"}, "value": 2},
                {"labels": {"a": 1, "b": 2}, "value": 3},
                {"value": -4},
            ),
            "c": family("counter", {"labels": {"k": "neg"}, "value": -1}, {"value": 2}),
            "s_sum": family("counter", {"labels": {"k": "1"}, "value": -3}, {"value": 4}),
            "s_count": family("counter", {"labels": {"k": "1"}, "value": 2.5}, {"value": 2}),
        }
    )
    result = scrape(state)
    assert sorted(v for _, v in result.values("whatsapp_g")) == [-4, 1]
    assert result.values("whatsapp_c_total") == [({"target": "prod"}, 2.0)]
    assert result.values("whatsapp_s_sum") == [({"target": "prod"}, 4.0)]
    assert result.values("whatsapp_s_count") == [({"target": "prod"}, 2.0)]
    assert result.value("watchdog_dropped_series", endpoint="metrics") == 5


def test_per_node_type_disagreement() -> None:
    """Per-node stats that disagree on a metric's type keep the first node's type."""
    stats = {
        "a:1": {"q": family("gauge", {"value": 1})},
        "b:2": {"q": family("counter", {"value": 2})},
    }
    state = State([target()])
    record(state, "prod", Endpoint.STATS_APP, envelope(Endpoint.STATS_APP, stats))
    result = scrape(state)
    assert result.values("whatsapp_app_q") == [({"target": "prod", "node": "a:1"}, 1.0)]
    assert result.value("watchdog_dropped_series", endpoint="stats_app") == 1


def test_special_values_exported() -> None:
    """Infinite gauge and counter values and odd label text render and parse in both formats."""
    state = metrics_state(
        {
            "g": family("gauge", {"labels": {"v": 'quote " back \\ nl \n'}, "value": "-inf"}),
            "c": family("counter", {"labels": {"v": "\u00e9\u4e2d\U0001f600"}, "value": "inf"}),
        }
    )
    result = scrape(state)
    assert result.value("whatsapp_g") == float("-inf")
    assert result.value("whatsapp_c_total") == float("inf")


def test_nothing_kept_between_scrapes() -> None:
    """A removed target and its families vanish from the next scrape."""
    state = State([target("a"), target("b")])
    poll_simulator(state, "a", simulator())
    poll_simulator(state, "b", simulator())
    collector = WatchdogCollector(state, clock=Clock())
    first = {m.name for m in collector.collect()}
    state.set_targets([target("b")])
    samples = [s for m in collector.collect() for s in m.samples]
    assert {s.labels["target"] for s in samples} == {"b"}
    assert {m.name for m in collector.collect()} == first


def test_webapps_disagreeing_on_a_summary_halfs_type_drop_it_and_the_scrape_renders() -> None:
    """Two Webapps behind one URL: one sends `up_sum`/`up_count` as counters, the other `up_sum`
    as a gauge. Whichever family gets the name, the scrape renders and counts what it drops."""
    state = State([target("a")])

    def answer(kind: str, node: str, *names: str) -> Any:
        family = {"type": kind, "help": "h", "data": [{"labels": {"node": node}, "value": 1}]}
        return envelope(Endpoint.METRICS, dict.fromkeys(names, family))

    record(state, "a", Endpoint.METRICS, answer("counter", "n1", "up_sum", "up_count"), at=NOW - 5)
    record(state, "a", Endpoint.METRICS, answer("gauge", "n2", "up_sum"), at=NOW)
    result = scrape(state)
    assert result.value("watchdog_dropped_series", target="a", endpoint="metrics") >= 1


def test_empty_state() -> None:
    """With no targets, the scrape is empty and still valid."""
    result = scrape(State([]))
    assert result.series == {}


@pytest.mark.parametrize("topology", list(Topology))
@pytest.mark.parametrize("scenario", [s for s in Scenario if s is not Scenario.MALFORMED])
def test_every_scenario_exposes_cleanly(topology: Topology, scenario: Scenario) -> None:
    """Every topology and scenario, polled twice, renders both formats without duplicates."""
    clock = Clock()
    deployment = Deployment(SimulatorConfig(topology=topology, scenario=scenario), clock=clock)
    state = State([target("a", {"env": "prod"}, **ALL), target("b", stats_db_interval=300.0)])
    for at in (NOW + 30, NOW + 60):
        clock.now = at
        poll_simulator(state, "a", deployment, at=at)
        poll_simulator(state, "b", deployment, at=at)
    result = scrape(state, clock)
    assert result.values("whatsapp_up", target="a")


def test_many_targets() -> None:
    """A realistic load (many multiconnect targets) renders and parses in both formats."""
    deployment = simulator(Topology.MULTICONNECT)
    names = [f"t{i:03d}" for i in range(40)]
    state = State([target(n, {"env": "prod"}, **ALL) for n in names])
    for name in names:
        poll_simulator(state, name, deployment)
    result = scrape(state)
    assert len(result.series) > 40 * 200
    assert {dict(labels)["target"] for _, labels in result.series} == set(names)


# -- arbitrary answers --------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
_names = st.sampled_from(
    ["up", "x", "x_sum", "x_count", "x_total", "db_x", "app_x", "api", "api_info", "poll_errors"]
) | st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
_label_names = st.sampled_from(["target", "env", "node", "exported_target", "le", "a-b", "1"])
_entry = st.fixed_dictionaries(
    {
        "labels": st.dictionaries(_label_names, st.text(max_size=4) | _json, max_size=4),
        "value": st.integers(-3, 3) | st.floats() | st.sampled_from(["2", "1.5", "x"]),
    }
)
_family = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["counter", "gauge", "untyped", "summary"]),
        "help": st.text(max_size=6),
        "data": st.lists(_entry, max_size=4),
    }
)
_families = st.dictionaries(_names, _family | _json, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metrics=_families,
    app=_families | st.dictionaries(st.sampled_from(["n:1", "n:2"]), _families, max_size=2),
    db=_families,
)
def test_arbitrary_answers_never_break_the_scrape(
    metrics: dict[str, Any], app: dict[str, Any], db: dict[str, Any]
) -> None:
    """Whatever the API answers, both exposition formats render and parse without duplicates."""
    state = State([target("a", {"env": "e"}, **ALL), target("b", **ALL)])
    for name in ("a", "b"):
        record(state, name, Endpoint.METRICS, envelope(Endpoint.METRICS, metrics))
        record(state, name, Endpoint.STATS_APP, envelope(Endpoint.STATS_APP, app))
        record(state, name, Endpoint.STATS_DB, envelope(Endpoint.STATS_DB, db))
    result = scrape(state)
    assert result.value("whatsapp_up", target="a", endpoint="metrics") in (0, 1)
