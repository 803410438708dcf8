"""One simulated WhatsApp Business API deployment: its nodes, scenario, counters and limits.

The HTTP layer (`app.py`) asks it for answers; everything time-dependent takes `now` from the
injected clock, so tests can move time without sleeping.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from watchdog.simulator import catalogue
from watchdog.simulator.auth import Credentials, KeyScope
from watchdog.simulator.errors import ApiError, coreapp_unreachable
from watchdog.simulator.limits import ConcurrencyGate, SlidingWindow, TokenBucket
from watchdog.simulator.scenarios import COREAPP_SCENARIOS, Scenario
from watchdog.simulator.topology import (
    Node,
    Role,
    Topology,
    affected_node,
    build_nodes,
    gateway_status,
)
from watchdog.simulator.traffic import DB_SCOPE, WEBAPP, Labels, SeriesKey, Traffic
from watchdog.simulator.webapps import LoadBalancer, Webapp

Clock = Callable[[], float]
Families = dict[str, dict[str, Any]]

SEVEN_DAYS = 7 * 24 * 3600.0


@dataclass
class SimulatorConfig:
    """How the simulated deployment is built and how strict it is. Defaults follow the reference."""

    topology: Topology = Topology.SINGLE
    coreapps: int = 3
    shards: int = 2
    scenario: Scenario = Scenario.HEALTHY
    api_key: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    token_lifetime: float = SEVEN_DAYS
    token_leeway: float = 600.0
    key_scope: KeyScope = KeyScope.ALL
    password_change_required: bool = False
    webapps: int = 1
    version: str = "v2.45.1"
    slow_delay: float = 3.0
    flap_period: float = 30.0
    max_concurrency: int = 32
    health_limit: int = 10
    health_window: float = 60.0
    request_rate: float = 20.0
    request_burst: float = 60.0
    login_failures: int = 30
    login_window: float = 3600.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.flap_period <= 0 or self.slow_delay < 0:
            raise ValueError("flap_period must be positive and slow_delay not negative")
        if min(self.coreapps, self.shards, self.max_concurrency, self.webapps) < 1:
            raise ValueError("coreapps, shards, max_concurrency and webapps must be at least 1")


class Deployment:
    """The state of one deployment; thread-safe, since uvicorn and tests may share it."""

    def __init__(self, config: SimulatorConfig, clock: Clock = time.time) -> None:
        self.config = config
        self.clock = clock
        rng = random.Random(config.seed)
        now = clock()
        self.nodes: list[Node] = build_nodes(config.topology, config.coreapps, config.shards, rng)
        # Drawn right after the nodes, so one Webapp has the host name it always had per seed.
        self.balancer = LoadBalancer(config.webapps, rng, now)
        self.webapps: list[Webapp] = self.balancer.webapps
        self.traffic = Traffic(config.topology, self.nodes)
        self.credentials = Credentials(
            api_key=config.api_key,
            users=config.users,
            token_lifetime=config.token_lifetime,
            token_leeway=config.token_leeway,
            password_change_required=config.password_change_required,
        )
        self.key_scope = config.key_scope
        self.health_budget = SlidingWindow(config.health_limit, config.health_window)
        self._buckets: dict[str, TokenBucket] = {}
        self._bad_logins: dict[str, SlidingWindow] = {}
        self.gate = ConcurrencyGate(config.max_concurrency)
        self._coin = random.Random(config.seed + 1)
        self._lock = threading.RLock()
        self._scenario = config.scenario
        self._switched_at = now
        # The Coreapps' and the database's counters; each Webapp keeps its own.
        self._counters: dict[SeriesKey, float] = {}
        self._last = now

    # -- scenario and time ------------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def webapp_host(self) -> str:
        """The first Webapp's host name (the only one by default)."""
        return self.webapps[0].host

    def set_scenario(self, scenario: Scenario, webapp: int | None = None) -> None:
        """Switch the deployment's scenario (clearing every Webapp's own), or one Webapp's.

        Raises ValueError for a Webapp that does not exist or a scenario of the Coreapps, which
        every Webapp reports alike.
        """
        if webapp is not None:
            if not 0 <= webapp < len(self.webapps):
                raise ValueError(f"webapp must be 0 to {len(self.webapps) - 1}")
            if scenario in COREAPP_SCENARIOS:
                raise ValueError(f"{scenario.value} is the Coreapps' state: set it without webapp")
        with self._lock:
            self._advance(self.clock())
            if webapp is not None:
                self.webapps[webapp].override = scenario
                return
            self._scenario = scenario
            self._switched_at = self.clock()
            for each in self.webapps:
                each.override = None

    def effective_scenario(self, now: float) -> Scenario:
        """The scenario in force at `now`, with FLAPPING resolved to one of its two halves."""
        if self._scenario is not Scenario.FLAPPING:
            return self._scenario
        half = int((now - self._switched_at) // self.config.flap_period)
        return Scenario.HEALTHY if half % 2 == 0 else Scenario.GATEWAY_DISCONNECTED

    def webapp_scenario(self, webapp: Webapp, now: float) -> Scenario:
        """What `webapp` plays: its own scenario, else the deployment's."""
        return self.effective_scenario(now) if webapp.override is None else webapp.override

    def next_webapp(self) -> Webapp:
        """The Webapp the load balancer sends the next API request to."""
        return self.balancer.next()

    def restart(self, webapp: int | None = None) -> None:
        """A Webapp restarts: the counters it keeps in APCu start again from zero (§2.4).

        Without `webapp`, the whole deployment restarts: every counter, the Coreapps' too, and
        the health budget. One Webapp alone leaves the health budget as it is, since that is
        one global key for the deployment.
        """
        with self._lock:
            now = self.clock()
            self._advance(now)
            if webapp is not None:
                self.webapps[webapp].restart(now)
                return
            self._counters.clear()
            for each in self.webapps:
                each.restart(now)
            self.health_budget.reset()

    def _advance(self, now: float) -> None:
        dt = max(0.0, now - self._last)
        self._last = max(self._last, now)
        for key, rate in self.traffic.core_rates(self._scenario).items():
            self._counters[key] = self._counters.get(key, 0.0) + rate * dt
        share = 1.0 / len(self.webapps)
        for webapp in self.webapps:
            scenario = self._scenario if webapp.override is None else webapp.override
            for key, rate in self.traffic.webapp_rates(scenario, webapp.host, share).items():
                webapp.add(key, rate * dt)

    def record(self, method: str, result: int, duration_ms: float, webapp: int = 0) -> None:
        """Count one request a Webapp served, as the Webapp counts every request."""
        host = self.webapps[webapp].host
        labels = (("node", host), ("result", str(result)), ("method", method))
        with self._lock:
            for name, amount in (("count", 1.0), ("sum", duration_ms)):
                self.webapps[webapp].add(
                    (WEBAPP, f"api_requests_duration_ms_{name}", labels), amount
                )

    # -- limits -----------------------------------------------------------------------------

    def allow_request(self, endpoint: str, now: float) -> bool:
        """Request-rate limiting per endpoint, shared by every caller (reference §5.3)."""
        with self._lock:
            bucket = self._buckets.get(endpoint)
            if bucket is None:
                bucket = TokenBucket(self.config.request_rate, self.config.request_burst, now)
                self._buckets[endpoint] = bucket
        return bucket.allow(now)

    def login_blocked(self, client: str, now: float) -> bool:
        with self._lock:
            window = self._bad_logins.get(client)
        return window is not None and window.full(now)

    def count_bad_login(self, client: str, now: float) -> None:
        with self._lock:
            window = self._bad_logins.setdefault(
                client, SlidingWindow(self.config.login_failures, self.config.login_window)
            )
        window.allow(now)

    def coin(self) -> bool:
        """A seeded coin flip, for the requests the rate-limited scenario refuses."""
        with self._lock:
            return self._coin.random() < 0.5

    # -- answers ----------------------------------------------------------------------------

    @property
    def meta(self) -> dict[str, str]:
        return {"version": self.config.version, "api_status": "stable"}

    @property
    def single(self) -> bool:
        return self.config.topology is Topology.SINGLE

    def node_status(self, node: Node, now: float) -> str:
        return gateway_status(self.config.topology, self.nodes, node, self.effective_scenario(now))

    def health(self, now: float) -> dict[str, Any] | ApiError:
        """The `health` object, or the error the whole request fails with."""
        scenario = self.effective_scenario(now)
        down = affected_node(self.nodes) if scenario is Scenario.COREAPP_DOWN else None
        if self.single:
            if down is not None:
                return coreapp_unreachable(down.address)
            return {"gateway_status": self.node_status(self.nodes[0], now)}
        health: dict[str, Any] = {}
        for node in self.nodes:
            if node is down:
                # Multiconnect assembles per-node answers; a failed node becomes an errors
                # object while the response stays 200 (reference §1.2).
                health[node.key] = {"errors": [coreapp_unreachable(node.address).as_json()]}
            else:
                assert node.role is not None
                health[node.key] = {
                    "gateway_status": self.node_status(node, now),
                    "role": node.role.value,
                }
        return health

    def metrics(self, now: float, webapp: int = 0) -> Families:
        """The metrics of the Webapp that answers, and of no other (reference §2.1, §2.2)."""
        with self._lock:
            self._advance(now)
            web = self.webapps[webapp]
            scenario = self.webapp_scenario(web, now)
            gauges = list(self.traffic.webapp_gauges(scenario, web.host, now - web.started_at, now))
            pending = next(v for n, _, v in gauges if n == "web_pending_connections")
            web.max_pending = max(web.max_pending, pending)
            gauges.append(("web_max_pending_connections", (("node", web.host),), web.max_pending))
            counters = [(name, labels, value) for (_, name, labels), value in web.counters.items()]
        return _families(catalogue.WEBAPP, [*counters, *gauges])

    def stats_app(self, now: float) -> Families | dict[str, Families] | ApiError:
        """App stats: one family set (single) or one per reachable node (HA, multiconnect)."""
        with self._lock:
            self._advance(now)
            scenario = self.effective_scenario(now)
            serving = self.traffic.serving(scenario)
            since = now - self._switched_at
            per_node: dict[str, Families] = {}
            for node in self._reachable(scenario):
                # Masters never send messages, so their queues stay empty even where the
                # multiconnect primary master is connected (active).
                standby = not node.active or node.role not in (Role.COREAPP, None)
                samples = [
                    *self._scope_counters(node.key),
                    *self.traffic.node_gauges(
                        scenario, since, now, standby=standby, serving=node in serving
                    ),
                ]
                per_node[node.key] = _families(catalogue.APP, samples)
        return self._shape(per_node, scenario)

    def stats_db(self, now: float) -> Families | dict[str, Families] | ApiError:
        """Db stats: only the primary master answers; every other node gives `{}` (§3.2)."""
        with self._lock:
            self._advance(now)
            scenario = self.effective_scenario(now)
            per_node: dict[str, Families] = {}
            for node in self._reachable(scenario):
                holder = node.role in (Role.PRIMARY_MASTER, None)
                per_node[node.key] = _families(catalogue.DB, self._db_samples()) if holder else {}
        return self._shape(per_node, scenario)

    def _reachable(self, scenario: Scenario) -> list[Node]:
        # An unreachable node is silently left out of stats answers (reference §3.2).
        down = affected_node(self.nodes) if scenario is Scenario.COREAPP_DOWN else None
        return [n for n in self.nodes if n is not down]

    def _shape(
        self, per_node: dict[str, Families], scenario: Scenario
    ) -> Families | dict[str, Families] | ApiError:
        if not self.single:
            return per_node
        if not per_node:
            return coreapp_unreachable(self.nodes[0].address)
        return per_node[self.nodes[0].key]

    def _scope_counters(self, scope: str) -> Iterable[tuple[str, Labels, float]]:
        for (s, name, labels), value in self._counters.items():
            if s == scope:
                yield name, labels, value

    def _db_samples(self) -> list[tuple[str, Labels, float]]:
        def total(name: str) -> float:
            return self._counters.get((DB_SCOPE, name, ()), 0.0)

        stored = total("messages_stored")
        return [
            ("db_contacts", (("type", "whatsapp_user"),), 4_200 + total("contacts_stored")),
            ("db_contacts", (("type", "non_whatsapp_user"),), 310.0),
            ("db_messages", (("type", "undefined"),), 120_000 + stored * 0.9),
            ("db_messages", (("type", "system"),), 800 + stored * 0.01),
            ("db_messages", (("type", "template"),), 30_000 + stored * 0.09),
            ("db_message_receipts", (), 250_000 + total("receipts_stored")),
            ("db_pending_callbacks", (), 0.0),
            ("db_pending_messages", (), 0.0),
        ]


def _families(
    definitions: dict[str, catalogue.Definition], samples: Iterable[tuple[str, Labels, float]]
) -> Families:
    """Group samples into the API's JSON metric families, in catalogue order.

    Values are whole numbers as the API reports them; label-less samples have no `labels` key,
    as in the docs' `callback_queue_size` example (reference §3.2).
    """
    data: dict[str, list[dict[str, Any]]] = {}
    for name, labels, value in samples:
        entry: dict[str, Any] = {"value": int(value)}
        if labels:
            entry = {"labels": dict(labels), "value": int(value)}
        data.setdefault(name, []).append(entry)
    return {
        name: {"type": d.kind, "help": d.help, "data": data[name]}
        for name, d in definitions.items()
        # Metrics with no data are omitted (reference §2.2).
        if data.get(name)
    }
