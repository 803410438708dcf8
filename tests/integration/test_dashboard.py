"""The chart's Grafana dashboard, and the proof shared with the rule file: every metric the
dashboard's and the Prometheus rules' queries name is one the watchdog really emits.

The proof runs the simulator (HA and multiconnect, db stats on) with a watchdog polling it over
real sockets, drives it through the faults whose series exist only while or after they happen
(overloaded, rate_limited and a proxy's 502: error counters, 429s and 503s, failing polls by
diagnosis, backoff; gateways stuck connecting in HA, a lost primary master and shard in
multiconnect: degraded nodes, fewer gateways connected than expected) and back to healthy; then
the Cloud API simulator with a Cloud target (healthy: the number's health, quality, limit,
status and usage; an expiring token; a transient 503). It compares the sample names of every
`/metrics` scrape with the metric names parsed out of the queries, and the labels the Cloud
panels select and group by with the labels the watchdog puts on those series.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.integration.conftest import START, FakeClock
from tests.integration.test_prometheus_rules import CHART, rule_queries
from tests.promtool import run_promtool
from watchdog.api.endpoints import Endpoint
from watchdog.app import build_watchdog
from watchdog.config.settings import load_settings
from watchdog.export.cloud import CLOUD_FAMILIES
from watchdog.simulator import (
    Deployment,
    GraphConfig,
    GraphDeployment,
    GraphScenario,
    GraphServer,
    Scenario,
    SimulatorConfig,
    SimulatorServer,
    Topology,
)
from watchdog.simulator.graph import PHONE_NUMBER_ID, WABA_ID
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

DASHBOARD = CHART / "dashboards" / "wa-watchdog.json"
DATASOURCE = "${datasource}"

# -- reading the dashboard ----------------------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows excluded, panels inside collapsed rows included)."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            found += panel.get("panels", [])
        else:
            found.append(panel)
    return found


def panel_queries(panel: dict[str, Any]) -> list[str]:
    return [str(target["expr"]) for target in panel.get("targets", [])]


def dashboard_queries() -> list[str]:
    """Every PromQL query of the dashboard: the panels' and the template variables' (a
    `label_values(metric, label)` variable queries `metric`)."""
    dashboard = load_dashboard()
    queries = [expr for panel in panels(dashboard) for expr in panel_queries(panel)]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        text = variable_query(variable)
        match = re.fullmatch(r"label_values\(\s*(.+?)\s*,\s*\w+\s*\)", text)
        queries.append(match.group(1) if match else text)
    return queries


def variable_query(variable: dict[str, Any]) -> str:
    """A query variable's query: a string, or (Grafana 10's form) an object holding it."""
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def grafana_free(expr: str) -> str:
    """`expr` with Grafana's variables replaced, as Prometheus receives it."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h")
        .replace("$target", ".*")
    )


# -- metric names in PromQL ---------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGES = re.compile(r"\[[^\]]*\]")
_MATCHERS = re.compile(r"\{[^}]*\}")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A whole identifier not called as a function (nor part of a number, a duration or a $variable).
_IDENTIFIER = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "atan2"}
)
# Series Prometheus itself writes for its alerting rules, not the watchdog.
PROMETHEUS_OWN = frozenset({"ALERTS", "ALERTS_FOR_STATE"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: no functions, keywords or label names."""
    text = _STRINGS.sub('""', expr)
    text = _RANGES.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def test_metric_names_finds_selectors_only() -> None:
    """The PromQL name parser keeps metric names and drops functions, keywords and labels."""
    expr = (
        'histogram_quantile(0.95, sum by (le, target) (rate(a_bucket{target=~"$target"}'
        "[$__rate_interval]))) > 1e3 or max without (node) (b offset 5m) / on (target)"
        ' group_left (node) sum(c{reason="x or y"}) and ignoring (reason) d unless'
        ' max_over_time(e[1h:1m]) == bool 0 and ALERTS{alertname=~"WhatsApp.*"} or time()'
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d", "e", "ALERTS"}


# -- the dashboard itself ------------------------------------------------------------------------


def test_dashboard_identity_and_schema() -> None:
    """The dashboard JSON loads, with uid wa-watchdog, its title and schemaVersion >= 36."""
    dashboard = load_dashboard()
    assert dashboard["uid"] == "wa-watchdog"
    assert dashboard["title"] == "WhatsApp Business API (wa-watchdog)"
    assert dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_variables() -> None:
    """A prometheus `datasource` variable and a `target` variable from whatsapp_up's targets."""
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    target = variables["target"]
    assert target["type"] == "query"
    assert target["datasource"]["uid"] == DATASOURCE
    assert target["definition"] == "label_values(whatsapp_up, target)"
    assert variable_query(target) == "label_values(whatsapp_up, target)"
    assert target["multi"] is True
    assert target["includeAll"] is True


def test_every_panel_queries_prometheus_through_the_datasource_variable() -> None:
    """Every panel and each of its queries use the `datasource` variable, never a fixed uid."""
    shown = panels(load_dashboard())
    assert shown
    for panel in shown:
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": DATASOURCE}
            assert target["expr"].strip(), panel["title"]


def test_every_query_of_a_target_metric_filters_by_the_target_variable() -> None:
    """Each selector of a `whatsapp_*` metric (labelled by target) honours `$target`."""
    for panel in panels(load_dashboard()):
        for expr in panel_queries(panel):
            for selector in re.findall(r"\b(whatsapp_\w+)(\{[^}]*\})?", expr):
                assert 'target=~"$target"' in selector[1], (panel["title"], selector)


def _panel_with(dashboard: dict[str, Any], *fragments: str) -> dict[str, Any]:
    """The panel with a query containing every fragment."""
    for panel in panels(dashboard):
        for expr in panel_queries(panel):
            if all(fragment in expr for fragment in fragments):
                return panel
    raise AssertionError(f"no panel queries {fragments}")


def test_dashboard_has_the_panels() -> None:
    """Gateways per node, polls, latency, failing polls by diagnosis, backoff, 429/503 (polls,
    API), queues, alerts each have a panel."""
    dashboard = load_dashboard()
    gateway = _panel_with(dashboard, "whatsapp_gateway_status", "node")
    assert gateway["type"] in ("state-timeline", "table")
    assert _panel_with(dashboard, "whatsapp_up")["type"] in ("state-timeline", "timeseries")
    _panel_with(dashboard, "histogram_quantile(", "whatsapp_poll_duration_seconds_bucket")
    _panel_with(dashboard, "whatsapp_poll_errors_total", "http_429", "http_503")
    _panel_with(dashboard, "whatsapp_poll_failing", "diagnosis")
    _panel_with(dashboard, "whatsapp_poll_backoff_seconds")
    _panel_with(dashboard, "whatsapp_api_requests_duration_ms_count", 'result=~"429|503"')
    _panel_with(dashboard, "whatsapp_app_callback_queue_size")
    _panel_with(dashboard, "whatsapp_app_pending_messages")
    _panel_with(dashboard, 'watchdog_alerts{state="firing"}')
    _panel_with(dashboard, "ALERTS{", 'alertname=~"WhatsApp.*"')
    _panel_with(dashboard, "watchdog_notifications_total", "failure")


def test_dashboard_has_the_cloud_row() -> None:
    """A "Cloud API" row with can-send per entity, quality, messaging limit, phone status,
    rate-limit usage with its 80 % threshold, and the token's expiry in days (7 days red, as
    WhatsAppTokenExpiring's default)."""
    dashboard = load_dashboard()
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert "Cloud API" in rows
    can_send = _panel_with(dashboard, "whatsapp_cloud_can_send_message", "entity_type", "entity_id")
    assert can_send["type"] == "state-timeline"
    mapped = can_send["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {m["text"] for m in mapped.values()} >= {"AVAILABLE", "LIMITED", "BLOCKED"}
    _panel_with(dashboard, "whatsapp_cloud_quality_rating", 'rating="RED"')
    _panel_with(dashboard, "whatsapp_cloud_messaging_limit", "tier")
    _panel_with(dashboard, "whatsapp_cloud_phone_status", 'status="CONNECTED"')
    usage = _panel_with(dashboard, "whatsapp_cloud_rate_limit_usage_percent", "dimension")
    assert usage["fieldConfig"]["defaults"]["unit"] == "percent"
    steps = usage["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert 80 in [step["value"] for step in steps]
    assert usage["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
    token = _panel_with(dashboard, "whatsapp_cloud_token_expiry_timestamp_seconds", "time()")
    assert "/ 86400" in panel_queries(token)[0]
    assert [s["value"] for s in token["fieldConfig"]["defaults"]["thresholds"]["steps"]][1] == 7
    # Every Cloud family has a panel.
    queried = {name for panel in panels(dashboard) for q in panel_queries(panel) for name in
               metric_names(q)}  # fmt: skip
    assert set(CLOUD_FAMILIES) <= queried


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (Grafana's variables filled in)."""
    queries = [q for panel in panels(load_dashboard()) for q in panel_queries(panel)]
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_free(expr)}
        for i, expr in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- every queried metric is emitted --------------------------------------------------------------

KEY = "rules-and-dashboard-key-0123456789"
GRAPH_TOKEN = "EAArules-and-dashboard-token-0123456789"
TARGET = "sim"
ENDPOINTS = tuple(e for e in Endpoint if e.spec.kind == "onprem")
CLOUD_ENDPOINTS = tuple(e for e in Endpoint if e.spec.kind == "cloud")
# Polls happen at start and when asked (`poll_soon`), never by surprise.
QUIET = {
    "WATCHDOG_HEALTH_INTERVAL": "60s",
    "WATCHDOG_METRICS_INTERVAL": "60s",
    "WATCHDOG_STATS_APP_INTERVAL": "60s",
    "WATCHDOG_STATS_DB_INTERVAL": "60s",
    # A gateway connecting for a second is stuck: whatsapp_gateway_degraded{problem="connecting"}
    # shows without waiting the default 5 minutes.
    "WATCHDOG_ALERT_GATEWAY_DEGRADED_CONNECTING_FOR": "1s",
}


@dataclass(frozen=True)
class Expect:
    """A series a scrape must show once the scenario's polls are recorded: `name` with these
    label values (`value` too, when given)."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    value: float | None = None

    def found(self, samples: list[Sample]) -> bool:
        return any(
            s.name == self.name
            and all(s.labels.get(k) == v for k, v in self.labels)
            and (self.value is None or s.value == self.value)
            for s in samples
        )


def failing(diagnosis: str) -> Expect:
    return Expect("whatsapp_poll_failing", (("endpoint", "health"), ("diagnosis", diagnosis)))


def degraded(problem: str) -> Expect:
    return Expect("whatsapp_gateway_degraded", (("problem", problem),))


HEALTHY = (Expect("whatsapp_gateways_connected"), Expect("whatsapp_gateways_expected"))
# From healthy, the faults whose series exist only while or after they happen, each with what a
# scrape shows once its polls are recorded, then healthy again (fresh stats and gateways).
FAULTS = (
    (Scenario.OVERLOADED, (failing("overloaded"),)),
    (Scenario.RATE_LIMITED, (failing("rate_limited"),)),
    (Scenario.PROXY_502, (failing("proxy"),)),
)
SCENARIOS: dict[Topology, tuple[tuple[Scenario, tuple[Expect, ...]], ...]] = {
    Topology.HA: (
        *FAULTS,
        (Scenario.GATEWAY_CONNECTING, (degraded("connecting"),)),
        (Scenario.HEALTHY, HEALTHY),
    ),
    Topology.MULTICONNECT: (
        *FAULTS,
        # The primary master and a shard lost: 1 of the 2 shards seen at the first answer.
        (
            Scenario.MASTER_LOST,
            (
                degraded("primary_master"),
                Expect("whatsapp_gateways_connected", value=1.0),
                Expect("whatsapp_gateways_expected", value=2.0),
            ),
        ),
        (Scenario.HEALTHY, HEALTHY),
    ),
}


def cloud_failing(diagnosis: str) -> Expect:
    return Expect("whatsapp_poll_failing", (("endpoint", "phone_number"), ("diagnosis", diagnosis)))


CLOUD_HEALTHY = tuple(
    Expect(name, (("target", TARGET),))
    for name in CLOUD_FAMILIES
    if name != "whatsapp_cloud_token_expiry_timestamp_seconds"
)
# From healthy (every Cloud family but the token's expiry, which a never-expiring token has
# not), to an expiring token, a transient 503 on every call, and back.
CLOUD_SCENARIOS = (
    (GraphScenario.HEALTHY, CLOUD_HEALTHY),
    (
        GraphScenario.TOKEN_EXPIRING,
        (Expect("whatsapp_cloud_token_expiry_timestamp_seconds", (("target", TARGET),)),),
    ),
    (GraphScenario.TRANSIENT_503, (cloud_failing("transient"),)),
    (GraphScenario.HEALTHY, CLOUD_HEALTHY),
)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# Sample name -> the label names seen on it, over every scrape of a run.
Emitted = dict[str, set[str]]


class _Run:
    """A watchdog polling one simulator over real sockets; remembers what its scrapes showed."""

    def __init__(
        self, stack: ExitStack, environ: dict[str, str], endpoints: tuple[Endpoint, ...]
    ) -> None:
        self.watchdog = build_watchdog(load_settings(environ), start_spread=0.2)
        server = stack.enter_context(BackgroundServer(create_app(self.watchdog), lifespan="on"))
        self.client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        self.endpoints = endpoints
        self.emitted: Emitted = {}
        wait_for(
            lambda: (
                self.client.get("/readyz").status_code == 200 and self.watchdog.state.polled_once()
            ),
            "the first polls",
        )

    def polls(self) -> dict[Endpoint, int]:
        states = {e: self.watchdog.state.get(TARGET, e) for e in self.endpoints}
        return {e: s.polls if s is not None else 0 for e, s in states.items()}

    def poll_now(self, before: dict[Endpoint, int], what: str) -> None:
        """Poll every endpoint now, and wait until each has polled since `before`."""
        self.watchdog.poller.poll_soon()
        wait_for(
            lambda: all(count > before[e] for e, count in self.polls().items()),
            f"every endpoint polled under {what}",
        )

    def scrape(self) -> list[Sample]:
        text = self.client.get("/metrics").text
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        for sample in samples:
            self.emitted.setdefault(sample.name, set()).update(sample.labels)
        return samples

    def show(self, expected: tuple[Expect, ...], what: str) -> None:
        """Scrape until a scrape shows every expected series."""

        def shown() -> bool:
            samples = self.scrape()
            return all(expect.found(samples) for expect in expected)

        wait_for(shown, f"{expected} on /metrics under {what}")


def _emitted_by_one_deployment(stack: ExitStack, topology: Topology) -> Emitted:
    clock = FakeClock(START)
    deployment = Deployment(SimulatorConfig(topology=topology, api_key=KEY), clock=clock)
    clock.advance(3600)  # an hour of other clients' traffic: counters with values
    simulator = stack.enter_context(SimulatorServer(deployment))
    environ = {"WATCHDOG_TARGETS": f"{TARGET}={simulator.url}", "WA_API_KEY": KEY, **QUIET}
    run = _Run(stack, environ, ENDPOINTS)
    backoff = 0.0
    for scenario, expected in SCENARIOS[topology]:
        before = run.polls()
        # Refills the simulator's health budget and request buckets (its own clock). The
        # watchdog backs off after 429s and 503s in real time; `poll_soon` clears that.
        clock.advance(4 * 60 + 1)
        deployment.set_scenario(scenario)
        run.poll_now(before, scenario)
        # Until a scrape shows the scenario's series (a gateway is stuck connecting only after
        # WATCHDOG_ALERT_GATEWAY_DEGRADED_CONNECTING_FOR).
        run.show(expected, scenario)
        backoff = max(
            [backoff] + [s.value for s in run.scrape() if s.name == "whatsapp_poll_backoff_seconds"]
        )
    samples = run.scrape()
    # The run went where it had to: the faults were counted, the watchdog backed off, and it
    # ended healthy with no poll failing and no gateway degraded.
    reasons = {s.labels["reason"] for s in samples if s.name == "whatsapp_poll_errors_total"}
    assert {"http_503", "http_429"} <= reasons
    assert backoff > 0
    assert not [s for s in samples if s.name == "whatsapp_poll_failing"]
    assert not [s for s in samples if s.name == "whatsapp_gateway_degraded"]
    up = {s.labels["endpoint"]: s.value for s in samples if s.name == "whatsapp_up"}
    assert up == {endpoint.value: 1.0 for endpoint in ENDPOINTS}
    return run.emitted


def _emitted_by_a_cloud_target(stack: ExitStack, directory: Path) -> Emitted:
    clock = FakeClock(START)
    graph = GraphDeployment(GraphConfig(token=GRAPH_TOKEN), clock=clock)
    simulator = stack.enter_context(GraphServer(graph))
    target = {"name": TARGET, "kind": "cloud", "url": simulator.url,
              "phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID}  # fmt: skip
    config = directory / "cloud.yaml"
    config.write_text(yaml.safe_dump({"targets": [target]}))
    # Cloud intervals are minutes to a day by default: nothing polls but `poll_soon`.
    environ = {"WATCHDOG_CONFIG_FILE": str(config), "WA_CLOUD_ACCESS_TOKEN": GRAPH_TOKEN}
    run = _Run(stack, environ, CLOUD_ENDPOINTS)
    for scenario, expected in CLOUD_SCENARIOS:
        before = run.polls()
        graph.set_scenario(scenario)
        run.poll_now(before, scenario)
        run.show(expected, scenario)
    samples = run.scrape()
    # It ended healthy: every Cloud endpoint up, no poll failing, the number can send.
    assert not [s for s in samples if s.name == "whatsapp_poll_failing"]
    up = {s.labels["endpoint"]: s.value for s in samples if s.name == "whatsapp_up"}
    assert up == {endpoint.value: 1.0 for endpoint in CLOUD_ENDPOINTS}
    can_send = [s for s in samples if s.name == "whatsapp_cloud_can_send_message" and s.value]
    assert {s.labels["status"] for s in can_send} == {"AVAILABLE"}
    return run.emitted


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emitted]:
    """Sample names, with their label names, of every scrape of HA and multiconnect deployments
    and of a Cloud target through their scenarios."""
    runs: Emitted = {}
    with ExitStack() as stack:
        for found in (
            _emitted_by_one_deployment(stack, Topology.HA),
            _emitted_by_one_deployment(stack, Topology.MULTICONNECT),
            _emitted_by_a_cloud_target(stack, tmp_path_factory.mktemp("cloud")),
        ):
            for name, labels in found.items():
                runs.setdefault(name, set()).update(labels)
        yield runs


QUERY_SOURCES: dict[str, Callable[[], list[str]]] = {
    "rules": rule_queries,
    "dashboard": dashboard_queries,
}


@pytest.mark.parametrize("source", QUERY_SOURCES)
def test_every_queried_metric_is_emitted_by_the_watchdog(emitted: Emitted, source: str) -> None:
    """Every metric name in the rules' / dashboard's queries is a sample name on /metrics."""
    queries = QUERY_SOURCES[source]()
    assert queries
    names = set().union(*(metric_names(expr) for expr in queries)) - PROMETHEUS_OWN
    assert {"whatsapp_up", "whatsapp_gateway_status", "whatsapp_poll_errors_total"} <= names
    missing = sorted(names - set(emitted))
    assert not missing, f"queried by the {source} but not emitted by the watchdog: {missing}"


# The label names a selector matches on and an aggregation groups by.
_SELECTOR = re.compile(r"\b(whatsapp_cloud_\w+)\{([^}]*)\}")
_GROUPING = re.compile(r"\bby\s*\(([^)]*)\)")
_LABEL_MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"')


def test_cloud_panels_use_the_labels_the_watchdog_puts_on_cloud_series(emitted: Emitted) -> None:
    """Each label a Cloud panel matches on or groups by is on the series it queries: a panel
    grouping by a label the series do not have would draw one merged line."""
    checked = 0
    for panel in panels(load_dashboard()):
        for expr in panel_queries(panel):
            names = {n for n in metric_names(expr) if n.startswith("whatsapp_cloud_")}
            if not names:
                continue
            labels = set().union(*(emitted[name] for name in names))
            grouped = {
                label.strip() for group in _GROUPING.findall(expr) for label in group.split(",")
            }
            matched = {
                m.group(1)
                for _, matchers in _SELECTOR.findall(expr)
                for m in _LABEL_MATCHER.finditer(matchers)
            }
            assert grouped | matched <= labels, (panel["title"], (grouped | matched) - labels)
            checked += 1
    assert checked >= len(CLOUD_FAMILIES)
