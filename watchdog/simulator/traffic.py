"""Living numbers: the traffic of the deployment's other clients and the counters it moves.

Counters grow by integrating per-second rates over time; the rates depend on the scenario, so a
scenario switch changes the slope from that moment on (the caller advances the integration to
"now" before switching). Gauges are functions of time and scenario. The watchdog's own requests
are recorded on top, as the Webapp records every request it serves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from watchdog.simulator.catalogue import WEB_REQUEST_STATES
from watchdog.simulator.scenarios import PROXY_STATUS, Scenario
from watchdog.simulator.topology import Node, Role, Topology, affected_node

Labels = tuple[tuple[str, str], ...]
# (scope, metric name, labels); scope is "webapp", "db" or a node key.
SeriesKey = tuple[str, str, Labels]
Add = Callable[[str, str, Labels, float], None]

WEBAPP = "webapp"
DB_SCOPE = "db"


@dataclass(frozen=True)
class Flow:
    """One kind of request from other clients: route name, HTTP result, rate, mean latency."""

    method: str
    result: str
    rate: float
    latency_ms: float


def client_flows(scenario: Scenario, partial: bool) -> list[Flow]:
    """Other clients' request mix under `scenario`.

    `partial` is true when a single-node fault leaves other coreapps serving (multiconnect), so
    only part of the traffic fails. The mix is invented but plausible: messages dominate, a
    fraction of 400s is normal. Route names follow `<METHOD>_<path>` (reference §2.4).
    """
    healthy = [
        Flow("POST_v1_messages", "201", 6.0, 40.0),
        Flow("POST_v1_messages", "400", 0.05, 5.0),
        Flow("POST_v1_contacts", "200", 1.5, 60.0),
        Flow("POST_v1_media", "201", 0.3, 120.0),
    ]
    if scenario in (Scenario.HEALTHY, Scenario.MALFORMED, Scenario.FLAPPING,
                    Scenario.GATEWAY_DISCONNECTED, Scenario.GATEWAY_CONNECTING,
                    Scenario.MASTER_LOST, Scenario.HEALTH_UNUSABLE):  # fmt: skip
        # A disconnected gateway still accepts messages; they queue up (pending_messages).
        return healthy
    if scenario in PROXY_STATUS:
        # The proxy answers every request itself: nothing reaches the Webapp.
        return []
    if scenario is Scenario.BUSY:
        return [
            Flow("POST_v1_messages", "201", 2.0, 90.0),
            Flow("POST_v1_messages", "503", 5.0, 3.0),
            Flow("POST_v1_contacts", "200", 0.5, 120.0),
            Flow("POST_v1_contacts", "503", 1.0, 3.0),
        ]
    if scenario is Scenario.OVERLOADED:
        return [
            Flow("POST_v1_messages", "201", 0.5, 400.0),
            Flow("POST_v1_messages", "503", 8.0, 3.0),
            Flow("POST_v1_contacts", "503", 1.5, 3.0),
        ]
    if scenario is Scenario.RATE_LIMITED:
        return [
            Flow("POST_v1_messages", "201", 20.0, 45.0),
            Flow("POST_v1_messages", "429", 12.0, 1.0),
            Flow("POST_v1_contacts", "200", 1.5, 60.0),
            Flow("POST_v1_contacts", "429", 0.5, 1.0),
            # Kubelets probing /v1/health directly are what use up its global budget.
            Flow("GET_v1_health", "200", 10 / 60, 20.0),
            Flow("GET_v1_health", "429", 1.0, 1.0),
        ]
    if scenario is Scenario.SLOW:
        return [Flow(f.method, f.result, f.rate, f.latency_ms * 60) for f in healthy]
    if scenario is Scenario.COREAPP_DOWN and partial:
        return [*healthy[1:], Flow("POST_v1_messages", "201", 4.5, 40.0),
                Flow("POST_v1_messages", "500", 1.5, 2.0)]  # fmt: skip
    # coreapp_down (whole), uninitialized, unregistered, not_ready, database_down: nothing can
    # be served. The exact codes per state are UNCONFIRMED; 500 (1011/1014) is the plausible one.
    return [Flow("POST_v1_messages", "500", 6.0, 2.0), Flow("POST_v1_contacts", "500", 1.5, 2.0)]


def _labels(**kw: str) -> Labels:
    return tuple(kw.items())


class Traffic:
    """Counter rates and gauge values of one deployment, per scenario.

    Rates are split in two: each Webapp's (its `node`-labelled `/metrics` series, for its share
    of the other clients' requests) and the Coreapps' and database's (app and db stats), since
    with several Webapps each one may play its own scenario.
    """

    def __init__(self, topology: Topology, nodes: list[Node]) -> None:
        self.topology = topology
        self.nodes = nodes
        self._core_cache: dict[Scenario, dict[SeriesKey, float]] = {}
        self._webapp_cache: dict[tuple[Scenario, str, float], dict[SeriesKey, float]] = {}

    def serving(self, scenario: Scenario) -> list[Node]:
        """The coreapps that send messages under `scenario` (FLAPPING resolved by the caller)."""
        active = [n for n in self.nodes if n.active and n.role in (Role.COREAPP, None)]
        multi = self.topology is Topology.MULTICONNECT
        if scenario in (Scenario.UNINITIALIZED, Scenario.UNREGISTERED, Scenario.NOT_READY,
                        Scenario.DATABASE_DOWN, Scenario.GATEWAY_CONNECTING):  # fmt: skip
            return []
        if scenario is Scenario.MASTER_LOST and not multi:
            return active
        if scenario in (Scenario.GATEWAY_DISCONNECTED, Scenario.COREAPP_DOWN, Scenario.MASTER_LOST):
            if scenario is not Scenario.GATEWAY_DISCONNECTED or multi:
                return [n for n in active if n is not affected_node(self.nodes)]
            return []
        return active

    def webapp_rates(self, scenario: Scenario, host: str, share: float) -> dict[SeriesKey, float]:
        """Per-second growth of one Webapp's counters: it serves `share` of the requests."""
        cache_key = (scenario, host, share)
        if cache_key in self._webapp_cache:
            return self._webapp_cache[cache_key]
        rates: dict[SeriesKey, float] = {}

        def add(scope: str, name: str, labels: Labels, rate: float) -> None:
            key = (scope, name, labels)
            rates[key] = rates.get(key, 0.0) + rate

        flows = client_flows(scenario, partial=bool(self.serving(scenario)))
        coreapps = [n for n in self.nodes if n.active and n.role in (Role.COREAPP, None)]
        down = affected_node(self.nodes)
        db_down = scenario is Scenario.DATABASE_DOWN
        total = sum(f.rate for f in flows) * share
        for f in flows:
            rate = f.rate * share
            lab = _labels(node=host, result=f.result, method=f.method)
            add(WEBAPP, "api_requests_duration_ms_count", lab, rate)
            add(WEBAPP, "api_requests_duration_ms_sum", lab, rate * f.latency_ms)
            # The `result` of a failed DB call is `<SQLSTATE>/<driver code>` (reference §2.4);
            # HY000/2002 is MySQL's "can't connect through socket".
            query, result = ("connect", "HY000/2002") if db_down else ("fetchAssoc", "ok")
            db = _labels(node=host, query=query, result=result, method=f.method)
            add(WEBAPP, "api_requests_db_duration_ms_count", db, rate)
            add(WEBAPP, "api_requests_db_duration_ms_sum", db, rate * 1.5)
            if db_down:
                continue  # the bearer token check fails first: no call reaches a Coreapp
            for node in coreapps:
                ok = not (scenario is Scenario.COREAPP_DOWN and node is down)
                core = _labels(node=host, coreapp=f"{node.host}:6250", result="ok" if ok else
                               "failed_to_connect", method=f.method)  # fmt: skip
                per_node = rate / len(coreapps)
                add(WEBAPP, "api_requests_coreapp_duration_ms_count", core, per_node)
                add(WEBAPP, "api_requests_coreapp_duration_ms_sum", core,
                    per_node * (f.latency_ms * 0.8 if ok else 1.0))  # fmt: skip
        add(WEBAPP, "web_connections", (("node", host),), total)
        add(WEBAPP, "web_handled_requests", (("node", host),), total)
        add(WEBAPP, "web_out_kbytes", (("node", host),), total * 1.7)
        overloaded = scenario in (Scenario.OVERLOADED, Scenario.BUSY)
        add(WEBAPP, "web_process_limit_hit", (("node", host),), 0.5 if overloaded else 0.0)
        self._webapp_cache[cache_key] = rates
        return rates

    def core_rates(self, scenario: Scenario) -> dict[SeriesKey, float]:
        """Per-second growth of the Coreapps' and the database's counters under `scenario`."""
        if scenario in self._core_cache:
            return self._core_cache[scenario]
        rates: dict[SeriesKey, float] = {}

        def add(scope: str, name: str, labels: Labels, rate: float) -> None:
            key = (scope, name, labels)
            rates[key] = rates.get(key, 0.0) + rate

        serving = self.serving(scenario)
        flows = client_flows(scenario, partial=bool(serving))
        overloaded = scenario in (Scenario.OVERLOADED, Scenario.BUSY)
        sent = sum(f.rate for f in flows if f.method == "POST_v1_messages" and f.result == "201")
        for node in serving:
            self._node_rates(add, node.key, sent / len(serving), overloaded)
        # Standby masters still hold connections to the internal server.
        for node in self.nodes:
            if node not in serving and node.role is not Role.COREAPP:
                add(node.key, "internal_server_conn_duration_ms_count", (), 0.05)
                add(node.key, "internal_server_conn_duration_ms_sum", (), 0.05 * 2.0)
        add(DB_SCOPE, "messages_stored", (), sent + 1.0)
        add(DB_SCOPE, "receipts_stored", (), sent * 2.0)
        add(DB_SCOPE, "contacts_stored", (), 0.01)
        self._core_cache[scenario] = rates
        return rates

    @staticmethod
    def _node_rates(add: Add, scope: str, sent: float, overloaded: bool) -> None:
        inbound = 1.0
        add(scope, "out_message_persisted", (), sent)
        lab = _labels(retry="0", type="undefined")
        add(scope, "out_message_sent_duration_ms_count", lab, sent)
        add(scope, "out_message_sent_duration_ms_sum", lab, sent * 180.0)
        for kind, rate in (("inbound_message", inbound), ("status_change", sent * 2)):
            lab = _labels(result="success", type=kind)
            add(scope, "callback_requests_duration_ms_count", lab, rate)
            add(scope, "callback_requests_duration_ms_sum", lab, rate * 85.0)
        for name in ("in_message_from_server", "in_message_decoded", "in_message_persisted"):
            add(scope, name, (), inbound)
        for endpoint, rate in (("messages", sent), ("contacts", sent / 4)):
            lab = _labels(endpoint=endpoint, result="ok")
            add(scope, "endpoint_requests_duration_ms_count", lab, rate)
            add(scope, "endpoint_requests_duration_ms_sum", lab, rate * 30.0)
        for operation, rate in (("insert", sent + inbound), ("select", sent * 3)):
            lab = _labels(db="messages", operation=operation)
            add(scope, "db_request_duration_us_count", lab, rate)
            add(scope, "db_request_duration_us_sum", lab, rate * 900.0)
            add(scope, "db_request_error_duration_us_count", lab, rate * 0.0005)
            add(scope, "db_request_error_duration_us_sum", lab, rate * 0.0005 * 5000.0)
        add(scope, "internal_server_conn_duration_ms_count", (), 0.2)
        add(scope, "internal_server_conn_duration_ms_sum", (), 0.2 * 2.0)
        add(scope, "internal_server_requests_duration_ms_count", (), sent + inbound)
        add(scope, "internal_server_requests_duration_ms_sum", (), (sent + inbound) * 12.0)
        add(scope, "media_uploads", (), 0.3)
        add(scope, "media_downloads", (), 0.2)
        add(scope, "concurrent_rate_limit_triggered", (), 4.0 if overloaded else 0.0)

    @staticmethod
    def webapp_gauges(
        scenario: Scenario, host: str, uptime: float, t: float
    ) -> Iterator[tuple[str, Labels, float]]:
        web = (("node", host),)
        overloaded = scenario in (Scenario.OVERLOADED, Scenario.BUSY)
        yield "web_uptime", web, uptime
        yield "web_pending_connections", web, 40.0 if overloaded else 0.0
        yield "web_queue_len", web, 128.0
        yield "web_total_processes", web, 10.0
        yield "web_idle_processes", web, 0.0 if overloaded else round(7 + 2 * math.sin(t / 17))
        for i, state in enumerate(WEB_REQUEST_STATES):
            busy = 6.0 if overloaded and state == "handle-request" else 0.0
            wobble = max(0.0, round(math.sin(t / 11 + i) * 2))
            yield "web_requests", (("node", host), ("state", state)), busy + wobble

    @staticmethod
    def node_gauges(
        scenario: Scenario, since_switch: float, t: float, *, standby: bool, serving: bool
    ) -> Iterator[tuple[str, Labels, float]]:
        """Queue gauges of one node; `since_switch` is how long the scenario has lasted."""
        stalled = not standby and not serving
        if standby:
            pending, callbacks = 0.0, 0.0
        elif scenario is Scenario.OVERLOADED:
            # 1016 is tied to the outgoing queue nearing full (reference §5.3).
            pending, callbacks = 95_000.0, 60_000.0
        elif scenario is Scenario.BUSY:
            pending, callbacks = 40_000.0 + 100 * since_switch, 20_000.0
        elif stalled:
            # Accepted messages pile up while nothing sends them.
            pending, callbacks = min(100_000.0, 20 + 6.0 * since_switch), 0.0
        else:
            pending = float(max(0, round(20 + 10 * math.sin(t / 23))))
            callbacks = float(max(0, round(5 + 4 * math.sin(t / 29))))
        yield "pending_messages", (), pending
        yield "callback_queue_size", (), callbacks
        yield "pending_callbacks", (), callbacks
        yield "in_messages_pending_processing", (), 3.0 if stalled else 0.0
