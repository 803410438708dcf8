"""The page matrix: every simulator scenario through `watchdog run` into a real Alertmanager.

Shared by `tests/e2e/test_page_matrix.py` (which asserts every row) and
`benchmarks/page_matrix.py` (which writes the table); not collected as a test itself.

All rows run at once: one `MultiSimulatorServer` serves one simulated deployment per row (each
with its own topology, Webapps and credentials), one `watchdog run` process polls one target per
row with the API key and sends its alerts to one real Alertmanager. Every deployment starts
healthy; once the watchdog is ready (every endpoint of every target polled once) and one more
health interval has passed with nothing pending, each row's scenario is switched on through its
`POST /_sim/scenario` and the time noted. The row whose first login must change the password
needs bearer mode, a global setting: a second `watchdog run` (same Alertmanager, its own target
name) is started at the switch, and its first login is that row's onset.

Alertmanager's `GET /api/v2/alerts` is read every 0.2 s, so every alert that reaches it is seen
(and when), even one that resolves again before the end. A row is over once the watchdog has
polled its target after the row's quiet window: the longest any rule could take to page (the
longest `for` + 2 health intervals, + `connecting_for` where a gateway is connecting, + the
healthy first half of a flapping gateway). The watchdog evaluates a target's rules after each of
its polls, so that poll proves every rule had its chance; a firing alert the watchdog lists but
Alertmanager has not got yet is waited for before the run ends. What reached Alertmanager, with
the watchdog's own pending alerts at the end, is the row's observation.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from watchdog.base.durations import format_duration
from watchdog.config.alerts import ALERT_RULES, AlertSettings
from watchdog.simulator import (
    Deployment,
    MultiSimulatorServer,
    Scenario,
    SimulatorConfig,
    Topology,
)

KEY = "page-matrix-key-0123456789"
USER = "admin"
PASSWORD = "Page-matrix-passw0rd!"

# The API allows 10 health calls per 60 s per deployment; 6 s would use the whole budget.
HEALTH_INTERVAL = 8.0
METRICS_INTERVAL = 2.0
STATS_APP_INTERVAL = 2.0
TIMEOUT = 5.0
# Every rule's `for` is capped here (the defaults run to 60 s), and so is how long a gateway may
# stay `connecting` before it counts as degraded (default 5 min), so the matrix takes ~1.5 min.
FOR_CAP = 20.0
CONNECTING_FOR = 20.0
# Flapping: healthy for this long, then disconnected as long, and so on. A health poll sees the
# disconnected half within 8 s of its start, and `for` (20 s) later a poll of metrics or stats
# (every 2 s) fires the alert: 30 s into the half at the latest, 10 s before it ends. So it
# pages, deterministically, once (`keep_firing_for` holds it through the next healthy half).
FLAP_PERIOD = 40.0
# The `slow` scenario's delay, below the watchdog's timeout.
SLOW_DELAY = 3.0
# How long the proxy of `proxy_504` takes to give up. Shorter than `slow`'s: its 504 is seen only
# once it arrives, so a 3 s delay would put the worst case (next health poll 8 s after the
# switch, + 3 s, + `for` 20 s, + up to 4 s until the next evaluation) within 1 s of the bound.
PROXY_504_DELAY = 1.0

ALERT_FOR: dict[str, float] = {
    rule: min(settings.for_, FOR_CAP) for rule, settings in AlertSettings().rules().items()
}
RULE_OF: dict[str, str] = {alertname: rule for rule, alertname in ALERT_RULES.items()}

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
NULL_CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
AM_POLL_EVERY = 0.2
STATUS_EVERY = 1.0
STARTUP_TIMEOUT = 30.0


class MatrixError(RuntimeError):
    """The matrix could not run (a process would not start, the baseline was not healthy)."""


# --- the rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """An alert a row must raise: name, severity, and a phrase of its summary or description.

    `per_node`: one alert per node that reports the scenario's status (`node` label), instead
    of one for the target.
    """

    alertname: str
    severity: str
    phrase: str
    per_node: bool = False

    def text(self) -> str:
        each = " per node" if self.per_node else ""
        return f'{self.alertname} {self.severity}{each} "{self.phrase}"'


@dataclass(frozen=True)
class Row:
    """One deployment of the matrix: what it goes through, and what must page."""

    name: str  # the row's name (test id); its target is `target`
    scenario: Scenario
    pages: tuple[Page, ...] = ()
    topology: Topology = Topology.SINGLE
    webapps: int = 1
    webapp: int | None = None  # the scenario hits this Webapp only
    password_change: bool = False  # the first login must change the password (bearer watchdog)
    slow_delay: float = SLOW_DELAY  # how long `slow` and `proxy_504` take to answer

    @property
    def target(self) -> str:
        """The target's name and the simulator's path prefix: prefixed, so that no phrase an
        alert must carry can hide in it (a target named "overloaded" says "overloaded")."""
        return f"pm-{self.name}"

    @property
    def title(self) -> str:
        if self.password_change:
            return "first login needs a password change"
        if self.webapp is not None:
            return f"{self.scenario.value} on Webapp {self.webapp}"
        return self.scenario.value

    @property
    def setup(self) -> str:
        parts = [self.topology.value]
        if self.webapps > 1:
            parts.append(f"{self.webapps} Webapps")
        if self.password_change:
            parts.append("bearer")
        if self.scenario is Scenario.FLAPPING:
            parts.append(f"flap period {format_duration(FLAP_PERIOD)}")
        if self.scenario in (Scenario.SLOW, Scenario.PROXY_504):
            parts.append(f"answers after {format_duration(self.slow_delay)}")
        return ", ".join(parts)

    @property
    def onset(self) -> float:
        """Seconds from the switch until the fault shows: a flapping gateway is healthy first."""
        return FLAP_PERIOD if self.scenario is Scenario.FLAPPING else 0.0

    def delay(self, alertname: str) -> float:
        """How long the condition takes to hold after the onset: `connecting_for` for a
        gateway that must stay connecting that long first."""
        connecting = self.scenario is Scenario.GATEWAY_CONNECTING
        return CONNECTING_FOR if connecting and alertname == "WhatsAppGatewayDegraded" else 0.0

    def bound(self, alertname: str) -> float:
        """Seconds from the switch within which `alertname` must reach Alertmanager."""
        rule_for = ALERT_FOR[RULE_OF[alertname]]
        return self.onset + self.delay(alertname) + rule_for + 2 * HEALTH_INTERVAL

    def bound_text(self, alertname: str) -> str:
        parts = []
        if self.onset:
            parts.append(f"first disconnected half at {self.onset:g}")
        if self.delay(alertname):
            parts.append(f"connecting_for {self.delay(alertname):g}")
        parts.append(f"for {ALERT_FOR[RULE_OF[alertname]]:g}")
        parts.append(f"2 x {HEALTH_INTERVAL:g}")
        return " + ".join(parts)

    @property
    def quiet(self) -> float:
        """Seconds after the switch by which any rule would have paged: a poll of the target
        after this proves an alert that did not come will not (within the bounds)."""
        connecting = CONNECTING_FOR if self.scenario is Scenario.GATEWAY_CONNECTING else 0.0
        return self.onset + connecting + max(ALERT_FOR.values()) + 2 * HEALTH_INTERVAL

    def config(self) -> SimulatorConfig:
        return SimulatorConfig(
            topology=self.topology,
            api_key=KEY,
            users={USER: PASSWORD},
            password_change_required=self.password_change,
            webapps=self.webapps,
            slow_delay=self.slow_delay,
            flap_period=FLAP_PERIOD,
        )

    def switch_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"scenario": self.scenario.value}
        if self.webapp is not None:
            body["webapp"] = self.webapp
        return body


def _down(phrase: str) -> Page:
    return Page("WhatsAppGatewayDown", "critical", phrase)


def _failing(phrase: str) -> Page:
    return Page("WhatsAppHealthFailing", "critical", phrase)


def _proxy(status: int) -> Page:
    return Page(
        "WhatsAppUnreachable",
        "critical",
        f"unavailable behind its proxy/load balancer (HTTP {status})",
    )


OVERLOADED = Page("WhatsAppOverloaded", "critical", "overloaded (503, code 1016)")
HA, MC = Topology.HA, Topology.MULTICONNECT
# HA: one coreapp of three connected when healthy. Multiconnect: three coreapps, two of them
# connected shards (`expected_shards` 0: the count seen at the first health answer).
HA_DOWN = "0 of 3 coreapps connected (ha, 1 expected)"
MC_DOWN = "1 of 3 coreapps connected (multiconnect, 2 expected)"

ROWS: tuple[Row, ...] = (
    Row("healthy", Scenario.HEALTHY),
    Row("overloaded", Scenario.OVERLOADED, (OVERLOADED,)),
    # Only the API's counters show the 503s: none of the watchdog's own polls got one.
    Row("busy", Scenario.BUSY,
        (Page("WhatsAppOverloaded", "critical", "0 of the watchdog's polls got 503"),)),
    Row("rate-limited", Scenario.RATE_LIMITED,
        (Page("WhatsAppRateLimitSpike", "warning", "rate limiting requests (429)"),
         _failing("rate limits the watchdog (429)"))),
    Row("gw-disconnected", Scenario.GATEWAY_DISCONNECTED, (_down("gateway disconnected"),)),
    Row("gw-disconnected-ha", Scenario.GATEWAY_DISCONNECTED, (_down(HA_DOWN),), HA),
    Row("gw-disconnected-mc", Scenario.GATEWAY_DISCONNECTED, (_down(MC_DOWN),), MC),
    Row("coreapp-down", Scenario.COREAPP_DOWN, (_down("Coreapp unreachable"),)),
    Row("coreapp-down-ha", Scenario.COREAPP_DOWN, (_down(HA_DOWN),), HA),
    Row("uninitialized", Scenario.UNINITIALIZED,
        (Page("WhatsAppNotRegistered", "warning", "is uninitialized", per_node=True),)),
    Row("unregistered", Scenario.UNREGISTERED,
        (Page("WhatsAppNotRegistered", "warning", "is unregistered", per_node=True),)),
    Row("slow", Scenario.SLOW),
    Row("malformed", Scenario.MALFORMED, (_failing("unusable answer (decode)"),)),
    Row("not-ready", Scenario.NOT_READY, (_failing("is not ready (500, code 1011)"),)),
    Row("proxy-502", Scenario.PROXY_502, (_proxy(502),)),
    Row("proxy-503", Scenario.PROXY_503, (_proxy(503),)),
    Row("proxy-504", Scenario.PROXY_504, (_proxy(504),), slow_delay=PROXY_504_DELAY),
    Row("database-down", Scenario.DATABASE_DOWN, (_failing("database error"),)),
    Row("health-unusable", Scenario.HEALTH_UNUSABLE, (_failing("unusable answer (shape)"),)),
    Row("gw-connecting", Scenario.GATEWAY_CONNECTING,
        (Page("WhatsAppGatewayDegraded", "warning", "connecting for"),)),
    Row("master-lost-mc", Scenario.MASTER_LOST,
        (_down(MC_DOWN),
         Page("WhatsAppGatewayDegraded", "warning", "primary master")), MC),
    Row("webapps3-healthy", Scenario.HEALTHY, webapps=3),
    Row("webapps3-one-overloaded", Scenario.OVERLOADED, (OVERLOADED,), webapps=3, webapp=1),
    Row("first-login", Scenario.HEALTHY,
        (Page("WhatsAppAuthRejected", "critical", "password"),), password_change=True),
    Row("flapping", Scenario.FLAPPING, (_down("gateway disconnected"),)),
)  # fmt: skip


# --- what was observed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """An alert that reached Alertmanager, with its times (epoch seconds)."""

    alertname: str
    severity: str
    node: str
    summary: str
    description: str
    first_seen: float  # this harness first saw it in Alertmanager's API
    starts_at: float  # Alertmanager's `startsAt`: when the watchdog fired it
    active_since: float | None  # the watchdog's: when its condition began (pending)
    listed_at_end: bool  # still listed (not resolved) when the run ended

    def text(self) -> str:
        node = f" [{self.node}]" if self.node else ""
        return f"{self.alertname} {self.severity}{node}"


@dataclass
class RowResult:
    """What one row showed: the alerts that reached Alertmanager and the evidence of the end."""

    row: Row
    switched_at: float  # epoch seconds, just before the switch was sent (or the bearer start)
    health_interval: float
    alerts: list[Observed] = field(default_factory=list)
    # The watchdog's own alerts for this target at the end that were pending, not firing.
    pending: list[str] = field(default_factory=list)
    # Nodes reporting each status at the end (for per-node pages).
    node_statuses: Counter[str] = field(default_factory=Counter)
    health_polls_at_switch: int = 0
    health_polls_at_end: int = 0
    # Seconds after the switch that the last poll of the target (any endpoint) started.
    last_poll_after_switch: float | None = None
    level_at_end: str = ""
    summary_at_end: str = ""

    @property
    def proven(self) -> bool:
        """Whether the target was polled after its quiet window (so silence means something)."""
        last = self.last_poll_after_switch
        return last is not None and last >= self.row.quiet

    def rule_for(self, alertname: str) -> float:
        return ALERT_FOR[RULE_OF[alertname]]

    def expected(self) -> Counter[tuple[str, str]]:
        """(alertname, severity) -> how many alerts of it must reach Alertmanager."""
        wanted: Counter[tuple[str, str]] = Counter()
        for page in self.row.pages:
            count = 1
            if page.per_node:
                # Per-node scenarios (uninitialized, unregistered) are the status nodes report.
                count = self.node_statuses[self.row.scenario.value]
            wanted[(page.alertname, page.severity)] += count
        return wanted

    def observed(self) -> Counter[tuple[str, str]]:
        return Counter((a.alertname, a.severity) for a in self.alerts)

    def since_switch(self, alert: Observed) -> float:
        return alert.first_seen - self.switched_at

    def wrong_alerts(self) -> list[str]:
        """Alerts missing or extra (by name and severity); [] when exactly as expected."""
        wanted, got = self.expected(), self.observed()
        problems = [f"missing {n} {s} x{c}" for (n, s), c in (wanted - got).items()]
        problems += [f"unexpected {n} {s} x{c}" for (n, s), c in (got - wanted).items()]
        nodes = [a.node for a in self.alerts if any(p.per_node for p in self.row.pages)]
        if len(set(nodes)) != len(nodes):
            problems.append(f"per-node alerts with repeated node labels: {nodes}")
        return problems

    def phrase_misses(self) -> list[str]:
        """Alerts whose summary and description lack their page's phrase (the target's name,
        which they carry too, does not count)."""
        misses = []
        for page in self.row.pages:
            for alert in self.alerts:
                if alert.alertname != page.alertname:
                    continue
                texts = (alert.summary, alert.description)
                if not any(page.phrase in t.replace(self.row.target, "") for t in texts):
                    misses.append(
                        f"{alert.text()}: no {page.phrase!r} in summary {alert.summary!r} "
                        f"or description {alert.description!r}"
                    )
        return misses

    def late(self) -> list[str]:
        """Alerts that reached Alertmanager after their bound (or before the switch)."""
        problems = []
        for alert in self.alerts:
            took = self.since_switch(alert)
            bound = self.row.bound(alert.alertname)
            if not 0 <= took <= bound:
                problems.append(
                    f"{alert.text()} arrived {took:.1f} s after the switch; bound {bound:g} s "
                    f"({self.row.bound_text(alert.alertname)})"
                )
        return problems

    def problems(self) -> list[str]:
        """Everything that is not as expected; [] when the row is."""
        found = self.wrong_alerts() + self.phrase_misses() + self.late()
        if not self.proven:
            found.append(f"not polled after its quiet window ({self.row.quiet:g} s)")
        if self.pending:
            found.append(f"pending at the end: {self.pending}")
        return found

    def describe(self) -> str:
        """Everything about the row, for failure messages."""
        lines = [
            f"row {self.row.name} (target {self.row.target}): {self.row.title} ({self.row.setup})",
            f"  expected: {[p.text() for p in self.row.pages] or 'nothing'}",
            f"  watchdog at the end: {self.level_at_end}: {self.summary_at_end}",
            f"  health polls: {self.health_polls_at_switch} at the switch, "
            f"{self.health_polls_at_end} at the end; last poll "
            f"{_seconds(self.last_poll_after_switch)} after the switch "
            f"(quiet window {self.row.quiet:g} s)",
            f"  pending at the end: {self.pending or 'none'}",
        ]
        for alert in self.alerts:
            active = (
                "?"
                if alert.active_since is None
                else f"{alert.active_since - self.switched_at:.1f}"
            )
            lines.append(
                f"  - {alert.text()}: seen {self.since_switch(alert):.1f} s after the switch "
                f"(pending from {active} s, startsAt {alert.starts_at - self.switched_at:.1f} s)"
                f"{'' if alert.listed_at_end else ', resolved before the end'}\n"
                f"    summary: {alert.summary}\n    description: {alert.description}"
            )
        return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


@dataclass
class Matrix:
    """The whole run: per-row results and how the run went."""

    rows: dict[str, RowResult]
    settings: dict[str, str]
    duration: float  # seconds, start to end of the run
    exit_codes: dict[str, int | None]
    logs: dict[str, Path]


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def epoch(text: str) -> float:
    """An RFC 3339 time as Alertmanager and the watchdog write it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Process:
    """A started server process with its output in a log file."""

    def __init__(self, name: str, command: list[str], log_path: Path, env: Mapping[str, str]):
        self.name = name
        self.log_path = log_path
        self._log: BinaryIO = log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=dict(env)
        )
        self.exit_code: int | None = None

    def wait_answering(self, url: str, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until `url` answers 200; MatrixError (with the log's tail) if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise MatrixError(
                    f"{self.name} exited with {self.process.returncode}:\n{_tail(self.log_path)}"
                )
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise MatrixError(
                    f"{self.name}: {url} not 200 after {timeout:g} s:\n{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit code of the SIGTERM (None if killed)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.exit_code = self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    self.exit_code = None
            else:
                self.exit_code = self.process.returncode
            return self.exit_code
        finally:
            self._log.close()


def alertmanager_binary() -> str:
    for name in ALERTMANAGER_BINARIES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise MatrixError(
        f"no Alertmanager binary on PATH (looked for {' and '.join(ALERTMANAGER_BINARIES)}); "
        "Debian/Ubuntu: apt-get install prometheus-alertmanager"
    )


@contextmanager
def alertmanager(workdir: Path) -> Iterator[tuple[Process, str]]:
    """A real Alertmanager (clustering off, one null receiver); its process and base URL."""
    home = workdir / "alertmanager"
    home.mkdir()
    config = home / "am.yml"
    config.write_text(NULL_CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        alertmanager_binary(),
        f"--config.file={config}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    process = Process("alertmanager", command, home / "alertmanager.log", os.environ)
    try:
        process.wait_answering(url + "/-/ready")
        yield process, url
    finally:
        process.stop()


def base_env() -> dict[str, str]:
    """This process's environment without any WA_/WATCHDOG_ setting of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))}


def watchdog_env(targets: str, port: int, am_url: str) -> dict[str, str]:
    """The settings every watchdog of the matrix runs with (the rules' `for` capped)."""
    env = {
        **base_env(),
        "WATCHDOG_TARGETS": targets,
        "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
        "WATCHDOG_EXTERNAL_URL": f"http://127.0.0.1:{port}",
        "WATCHDOG_ALERTMANAGER_URLS": am_url,
        "WATCHDOG_HEALTH_INTERVAL": format_duration(HEALTH_INTERVAL),
        "WATCHDOG_METRICS_INTERVAL": format_duration(METRICS_INTERVAL),
        "WATCHDOG_STATS_APP_INTERVAL": format_duration(STATS_APP_INTERVAL),
        "WATCHDOG_STATS_DB_INTERVAL": "0",
        "WATCHDOG_TIMEOUT": format_duration(TIMEOUT),
        "WATCHDOG_LOG_FORMAT": "json",
        "WATCHDOG_ALERT_GATEWAY_DEGRADED_CONNECTING_FOR": format_duration(CONNECTING_FOR),
        "PYTHONUNBUFFERED": "1",
    }
    defaults = AlertSettings().rules()
    for rule, rule_for in ALERT_FOR.items():
        if rule_for != defaults[rule].for_:
            env[f"WATCHDOG_ALERT_{rule.upper()}_FOR"] = format_duration(rule_for)
    return env


def settings_summary() -> dict[str, str]:
    """The settings that shape the matrix, for the report."""
    defaults = AlertSettings().rules()
    return {
        "health interval": format_duration(HEALTH_INTERVAL),
        "metrics / stats_app interval": (
            f"{format_duration(METRICS_INTERVAL)} / {format_duration(STATS_APP_INTERVAL)}"
        ),
        "timeout": format_duration(TIMEOUT),
        "for (default → used)": ", ".join(
            f"{rule} {format_duration(defaults[rule].for_)}"
            + (f" → {format_duration(v)}" if v != defaults[rule].for_ else "")
            for rule, v in ALERT_FOR.items()
        ),
        "gateway_degraded connecting_for": format_duration(CONNECTING_FOR),
        "flap period": format_duration(FLAP_PERIOD),
        "slow delay (slow / proxy_504)": (
            f"{format_duration(SLOW_DELAY)} / {format_duration(PROXY_504_DELAY)}"
        ),
    }


# --- the run --------------------------------------------------------------------------------


class _AlertmanagerReader:
    """Every alert Alertmanager lists, remembered with when it was first listed."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=5)
        # Alertmanager's fingerprint -> (first seen, the latest listing of it).
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self.listed: set[str] = set()

    def read(self) -> None:
        params: dict[str, str] = {
            "active": "true",
            "silenced": "true",
            "inhibited": "true",
            "unprocessed": "true",
        }
        response = self.client.get("/api/v2/alerts", params=params)
        response.raise_for_status()
        now = time.time()
        alerts: list[dict[str, Any]] = response.json()
        self.listed = set()
        for alert in alerts:
            fp = alert["fingerprint"]
            first = self.seen[fp][0] if fp in self.seen else now
            self.seen[fp] = (first, alert)
            self.listed.add(fp)

    def labelsets(self) -> set[frozenset[tuple[str, str]]]:
        return {frozenset(a["labels"].items()) for _, a in self.seen.values()}


def _status(client: httpx.Client) -> tuple[float, dict[str, dict[str, Any]]]:
    """(time before the request, target name -> its status)."""
    before = time.time()
    response = client.get("/api/v1/status")
    response.raise_for_status()
    return before, {t["name"]: t for t in response.json()["targets"]}


def _last_poll_start(before: float, target: dict[str, Any]) -> float | None:
    """When the target's latest poll (any endpoint) started, at the earliest."""
    ages = [
        e["last_poll_age_seconds"]
        for e in target["endpoints"].values()
        if e["last_poll_age_seconds"] is not None
    ]
    return before - min(ages) if ages else None


def _health_polls(target: dict[str, Any]) -> int:
    health = target["endpoints"].get("health")
    return 0 if health is None else int(health["polls"])


def _own_alerts(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/v1/alerts")
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return alerts


def run_matrix(
    workdir: Path,
    rows: Sequence[Row] = ROWS,
    progress: Callable[[str], None] = lambda _: None,
) -> Matrix:
    """Run every row at once (see the module's docstring) and return what each showed."""
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise MatrixError(f"row names must be unique: {names}")
    started = time.monotonic()
    run = _Run(workdir, rows, progress)
    with ExitStack() as stack:
        run.start(stack)
        run.switch(stack)
        run.watch_until_quiet()
        run.collect()
        run.stop()
    return Matrix(
        {row.name: run.results[row.target] for row in rows},
        settings_summary(),
        time.monotonic() - started,
        run.exit_codes,
        {p.name: p.log_path for p in run.processes},
    )


class _Run:
    """One run of the matrix, step by step."""

    def __init__(self, workdir: Path, rows: Sequence[Row], progress: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.rows = rows
        self.progress = progress
        self.apikey_rows = [row for row in rows if not row.password_change]
        self.bearer_rows = [row for row in rows if row.password_change]
        self.deployments = {row.target: Deployment(row.config()) for row in rows}
        self.processes: list[Process] = []
        # Watchdog name -> its process and a client of its API.
        self.watchdogs: dict[str, tuple[Process, httpx.Client]] = {}
        self.results: dict[str, RowResult] = {}
        self.exit_codes: dict[str, int | None] = {}
        # The watchdogs' own alerts at the end, by label set.
        self.own: dict[frozenset[tuple[str, str]], dict[str, Any]] = {}

    def start(self, stack: ExitStack) -> None:
        """The simulator, Alertmanager and the API-key watchdog; healthy for one interval."""
        self.server = stack.enter_context(MultiSimulatorServer(self.deployments))
        am_process, self.am_url = stack.enter_context(alertmanager(self.workdir))
        self.processes.append(am_process)
        stack.callback(self.stop)
        self.progress(
            f"simulator {self.server.url} ({len(self.rows)} deployments), "
            f"Alertmanager {self.am_url}"
        )
        self.alertmanager = _AlertmanagerReader(self.am_url)
        stack.callback(self.alertmanager.client.close)
        port = free_port()
        env = {
            **watchdog_env(self._targets(self.apikey_rows), port, self.am_url),
            "WA_API_KEY": KEY,
        }
        main = self._start_watchdog(stack, "watchdog", env, port)
        main.wait_answering(f"http://127.0.0.1:{port}/readyz")
        self.progress(f"watchdog ready ({len(self.apikey_rows)} targets); one health poll more")
        _wait_health_polled_after(self.watchdogs["watchdog"][1], self.apikey_rows, time.time())
        _check_baseline(self.alertmanager, self.watchdogs["watchdog"][1], self.apikey_rows)

    def switch(self, stack: ExitStack) -> None:
        """Each row's scenario on, its time noted; the bearer watchdog started (its onset)."""
        _, statuses = _status(self.watchdogs["watchdog"][1])
        with httpx.Client(timeout=5) as sim:
            for row in self.apikey_rows:
                switched_at = time.time()
                url = f"{self.server.target_url(row.target)}/_sim/scenario"
                response = sim.post(url, json=row.switch_body())
                if response.status_code != 200:
                    raise MatrixError(f"switching {row.name}: {response.text}")
                polls = _health_polls(statuses[row.target])
                self.results[row.target] = RowResult(
                    row, switched_at, HEALTH_INTERVAL, health_polls_at_switch=polls
                )
        if self.bearer_rows:
            port = free_port()
            env = {
                **watchdog_env(self._targets(self.bearer_rows), port, self.am_url),
                "WATCHDOG_AUTH_MODE": "bearer",
                "WA_WEB_USERNAME": USER,
                "WA_WEB_PASSWORD": PASSWORD,
            }
            switched_at = time.time()
            self._start_watchdog(stack, "watchdog-bearer", env, port)
            for row in self.bearer_rows:
                self.results[row.target] = RowResult(row, switched_at, HEALTH_INTERVAL)
        self.progress(f"switched {len(self.results)} rows; watching until every quiet window")

    def watch_until_quiet(self) -> None:
        """Read Alertmanager every 0.2 s until every row's target was polled after its quiet
        window (or 30 s past the longest one)."""
        deadline = time.monotonic() + max(r.quiet for r in self.rows) + 30.0
        next_status = 0.0
        while True:
            self.alertmanager.read()
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + STATUS_EVERY
                self._read_statuses()
                if all(r.proven for r in self.results.values()):
                    return
            if time.monotonic() > deadline:
                return
            time.sleep(AM_POLL_EVERY)

    def collect(self) -> None:
        """What reached Alertmanager, per row, once every alert the watchdogs fired is there
        (a POST may still be on its way); the watchdogs' pending alerts; the nodes' status."""
        for _, client in self.watchdogs.values():
            for alert in _own_alerts(client):
                self.own[frozenset(alert["labels"].items())] = alert
        fired = {k for k, a in self.own.items() if a["state"] in ("firing", "resolved")}
        settle = time.monotonic() + 5.0
        while not fired <= self.alertmanager.labelsets() and time.monotonic() < settle:
            time.sleep(AM_POLL_EVERY)
            self.alertmanager.read()
        now = time.time()
        for name, deployment in self.deployments.items():
            self.results[name].node_statuses = Counter(
                deployment.node_status(node, now) for node in deployment.nodes
            )
        for key, alert in self.own.items():
            if alert["state"] == "pending":
                labels = dict(key)
                node = f" [{labels['node']}]" if "node" in labels else ""
                self.results[labels["target"]].pending.append(labels["alertname"] + node)
        for fingerprint, (first_seen, alert) in self.alertmanager.seen.items():
            self._add_observed(fingerprint, first_seen, alert)
        for result in self.results.values():
            result.alerts.sort(key=lambda a: (a.first_seen, a.alertname, a.node))

    def stop(self) -> None:
        """Every process stopped (SIGTERM), newest first; their exit codes kept."""
        for process in reversed(self.processes):
            if process.name not in self.exit_codes:
                self.exit_codes[process.name] = process.stop()

    def _targets(self, rows: Sequence[Row]) -> str:
        return ",".join(f"{r.target}={self.server.target_url(r.target)}" for r in rows)

    def _start_watchdog(
        self, stack: ExitStack, name: str, env: Mapping[str, str], port: int
    ) -> Process:
        command = [sys.executable, "-m", "watchdog", "run"]
        process = Process(name, command, self.workdir / f"{name}.log", env)
        self.processes.append(process)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        stack.callback(client.close)
        self.watchdogs[name] = (process, client)
        return process

    def _read_statuses(self) -> None:
        for name, (process, client) in self.watchdogs.items():
            if process.process.poll() is not None:
                raise MatrixError(
                    f"{name} exited with {process.process.returncode}:\n{_tail(process.log_path)}"
                )
            try:
                before, statuses = _status(client)
            except httpx.TransportError:
                continue  # the bearer watchdog may still be starting
            for target, status in statuses.items():
                result = self.results[target]
                last = _last_poll_start(before, status)
                if last is not None:
                    result.last_poll_after_switch = last - result.switched_at
                result.health_polls_at_end = _health_polls(status)
                result.level_at_end = status["level"]
                result.summary_at_end = status["summary"]

    def _add_observed(self, fingerprint: str, first_seen: float, alert: dict[str, Any]) -> None:
        labels: dict[str, str] = alert["labels"]
        result = self.results.get(labels.get("target", ""))
        if result is None:
            raise MatrixError(f"an alert for no row reached Alertmanager: {labels}")
        mine = self.own.get(frozenset(labels.items()))
        active = mine.get("activeSince") if mine else None
        result.alerts.append(
            Observed(
                alertname=labels["alertname"],
                severity=labels.get("severity", ""),
                node=labels.get("node", ""),
                summary=alert["annotations"].get("summary", ""),
                description=alert["annotations"].get("description", ""),
                first_seen=first_seen,
                starts_at=epoch(alert["startsAt"]),
                active_since=epoch(active) if active else None,
                listed_at_end=fingerprint in self.alertmanager.listed,
            )
        )


def _wait_health_polled_after(client: httpx.Client, rows: Sequence[Row], since: float) -> None:
    """Until every target's health poll has started again after `since`, so the baseline is
    read after a poll that came after readiness, not after a guessed wait."""
    deadline = time.monotonic() + 3 * HEALTH_INTERVAL
    while True:
        before, statuses = _status(client)
        health = [statuses[row.target]["endpoints"]["health"] for row in rows]
        ages = [endpoint["last_poll_age_seconds"] for endpoint in health]
        if all(age is not None and before - age > since for age in ages):
            return
        if time.monotonic() > deadline:
            raise MatrixError(f"no health poll after readiness within {3 * HEALTH_INTERVAL:.0f} s")
        time.sleep(0.5)


def _check_baseline(watch: _AlertmanagerReader, client: httpx.Client, rows: Sequence[Row]) -> None:
    """Before the switch: every target answered its last health poll, nothing is pending or
    firing, and Alertmanager holds nothing."""
    watch.read()
    _, statuses = _status(client)
    problems = []
    for row in rows:
        health = statuses[row.target]["endpoints"]["health"]
        if health["ok"] is not True:
            problems.append(f"{row.name}: health {health['reason']} ({health['detail']})")
    own = _own_alerts(client)
    if own:
        problems.append(f"the watchdog has alerts: {[a['labels'] for a in own]}")
    if watch.seen:
        problems.append(f"Alertmanager has alerts: {[a['labels'] for _, a in watch.seen.values()]}")
    if problems:
        raise MatrixError("the baseline is not healthy:\n" + "\n".join(problems))
