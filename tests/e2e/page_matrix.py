"""The page matrix: every simulator scenario through `watchdog run` into a real Alertmanager.

Shared by `tests/e2e/test_page_matrix.py` (which asserts every row) and
`benchmarks/page_matrix.py` (which writes the table); not collected as a test itself. The rows,
their settings and bounds are in `tests/e2e/page_matrix_rows.py`.

All rows run at once: one `MultiSimulatorServer` serves one simulated deployment per On-Prem row
(each with its own topology, Webapps and credentials), one `GraphServer` per Cloud row serves
one simulated Cloud API account (the token, the WABA and the hourly allowance are an
account's), and one `watchdog run` process polls one target per row (API key and access token;
its targets in a YAML file, the Cloud ones with `kind: cloud`) and sends its alerts to one real
Alertmanager. Every deployment and account starts healthy; once the watchdog is ready (every
endpoint of every target polled once) and the endpoint that says whether each target works
(health; a Cloud target's phone number) has been polled once more with nothing pending, each
row's scenario is switched on through its `POST /_sim/scenario` and the time noted. The row
whose first login must change the password needs bearer mode, a global setting: a second
`watchdog run` (same Alertmanager, its own target name) is started at the switch, and its first
login is that row's onset.

Alertmanager's `GET /api/v2/alerts` is read every 0.2 s, so every alert that reaches it is seen
(and when), even one that resolves again before the end. A row is over once the watchdog has
polled its target after the row's quiet window: the longest any rule could take to page (the
longest `for` + 2 intervals of that endpoint, + `connecting_for` where a gateway is connecting,
+ the healthy first half of a flapping gateway, + the polls a temporary Graph failure must
repeat or the usage needs to climb). The watchdog evaluates a target's rules after each of its
polls, so that poll proves every rule had its chance; a firing alert the watchdog lists but
Alertmanager has not got yet is waited for before the run ends. What reached Alertmanager, with
the watchdog's own pending alerts at the end, is the row's observation.
"""

from __future__ import annotations

import json
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

from tests.e2e.page_matrix_rows import (
    ALERT_FOR,
    CLOUD_INTERVAL,
    CONNECTING_FOR,
    FLAP_PERIOD,
    HEALTH_INTERVAL,
    KEY,
    METRICS_INTERVAL,
    PASSWORD,
    ROWS,
    STATS_APP_INTERVAL,
    TIMEOUT,
    TOKEN,
    TRANSIENT_POLLS,
    USER,
    Row,
    settings_summary,
)
from watchdog.base.durations import format_duration
from watchdog.config.alerts import AlertSettings
from watchdog.simulator import (
    Deployment,
    GraphDeployment,
    GraphScenario,
    GraphServer,
    MultiSimulatorServer,
)

__all__ = [
    "ALERT_FOR",
    "CONNECTING_FOR",
    "FLAP_PERIOD",
    "HEALTH_INTERVAL",
    "ROWS",
    "Matrix",
    "MatrixError",
    "Observed",
    "Row",
    "RowResult",
    "run_matrix",
]

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
NULL_CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"
AM_POLL_EVERY = 0.2
STATUS_EVERY = 1.0
STARTUP_TIMEOUT = 30.0


class MatrixError(RuntimeError):
    """The matrix could not run (a process would not start, the baseline was not healthy)."""


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
    labels: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        node = f" [{self.node}]" if self.node else ""
        entity = self.labels.get("entity_type")
        if entity:
            node += f" [{entity} {self.labels.get('entity_id', '')}]"
        return f"{self.alertname} {self.severity}{node}"


@dataclass
class RowResult:
    """What one row showed: the alerts that reached Alertmanager and the evidence of the end."""

    row: Row
    switched_at: float  # epoch seconds, just before the switch was sent (or the bearer start)
    alerts: list[Observed] = field(default_factory=list)
    # The watchdog's own alerts for this target at the end that were pending, not firing.
    pending: list[str] = field(default_factory=list)
    # Nodes reporting each status at the end (for per-node pages).
    node_statuses: Counter[str] = field(default_factory=Counter)
    # Polls of the row's primary endpoint (health; a Cloud target's phone number).
    polls_at_switch: int = 0
    polls_at_end: int = 0
    # Its failed polls before the switch, and when each one after it started (epoch seconds,
    # at the earliest: the status is read every second, the polls come 10 s apart or more).
    failures_at_switch: int = 0
    failures_after_switch: list[float] = field(default_factory=list)
    # Seconds after the switch that the last poll of the target (any endpoint) started.
    last_poll_after_switch: float | None = None
    level_at_end: str = ""
    summary_at_end: str = ""

    @property
    def proven(self) -> bool:
        """Whether the target was polled after its quiet window (so silence means something)."""
        last = self.last_poll_after_switch
        return last is not None and last >= self.row.quiet

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
        for page in self.row.pages:
            for alert in self.alerts:
                wrong = {k: alert.labels.get(k) for k, v in page.labels if alert.labels.get(k) != v}
                if alert.alertname == page.alertname and wrong:
                    problems.append(f"{alert.text()}: {wrong}, expected {dict(page.labels)}")
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

    def early(self) -> list[str]:
        """Alerts that became pending before the failing poll their page waits for."""
        problems = []
        for page in self.row.pages:
            if not page.after_failures:
                continue
            failed = self.failures_after_switch
            for alert in self.alerts:
                if alert.alertname != page.alertname:
                    continue
                if len(failed) < page.after_failures:
                    problems.append(
                        f"{alert.text()}: only {len(failed)} failing {self.row.primary} polls "
                        f"seen, {page.after_failures} expected first"
                    )
                    continue
                nth = failed[page.after_failures - 1] - self.switched_at
                active = alert.active_since
                if active is None:
                    problems.append(f"{alert.text()}: the watchdog no longer lists it")
                elif active - self.switched_at < nth - _CLOCK_SLACK:
                    problems.append(
                        f"{alert.text()} pending from {active - self.switched_at:.1f} s, before "
                        f"failing poll {page.after_failures} at {nth:.1f} s"
                    )
        return problems

    def problems(self) -> list[str]:
        """Everything that is not as expected; [] when the row is."""
        found = self.wrong_alerts() + self.phrase_misses() + self.late() + self.early()
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
            f"  {self.row.primary} polls: {self.polls_at_switch} at the switch, "
            f"{self.polls_at_end} at the end, failing ones after the switch at "
            f"{[round(t - self.switched_at, 1) for t in self.failures_after_switch]} s; last poll "
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


# The ages in the status are rounded to the millisecond.
_CLOCK_SLACK = 0.01


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


def watchdog_env(port: int, am_url: str) -> dict[str, str]:
    """The settings every watchdog of the matrix runs with (the rules' `for` capped), but
    its targets and credentials."""
    cloud_interval = format_duration(CLOUD_INTERVAL)
    env = {
        **base_env(),
        "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
        "WATCHDOG_EXTERNAL_URL": f"http://127.0.0.1:{port}",
        "WATCHDOG_ALERTMANAGER_URLS": am_url,
        "WATCHDOG_HEALTH_INTERVAL": format_duration(HEALTH_INTERVAL),
        "WATCHDOG_METRICS_INTERVAL": format_duration(METRICS_INTERVAL),
        "WATCHDOG_STATS_APP_INTERVAL": format_duration(STATS_APP_INTERVAL),
        "WATCHDOG_STATS_DB_INTERVAL": "0",
        "WATCHDOG_CLOUD_HEALTH_INTERVAL": cloud_interval,
        "WATCHDOG_CLOUD_WABA_INTERVAL": cloud_interval,
        "WATCHDOG_CLOUD_TOKEN_INTERVAL": cloud_interval,
        "WATCHDOG_TIMEOUT": format_duration(TIMEOUT),
        "WATCHDOG_LOG_FORMAT": "json",
        "WATCHDOG_ALERT_GATEWAY_DEGRADED_CONNECTING_FOR": format_duration(CONNECTING_FOR),
        "PYTHONUNBUFFERED": "1",
    }
    defaults = AlertSettings().rules()
    for rule, rule_for in ALERT_FOR.items():
        if rule_for != defaults[rule].for_:
            env[f"WATCHDOG_ALERT_{rule.upper()}_FOR"] = format_duration(rule_for)
    for rule, polls in TRANSIENT_POLLS.items():
        if polls != defaults[rule].params["transient_polls"]:
            env[f"WATCHDOG_ALERT_{rule.upper()}_TRANSIENT_POLLS"] = str(polls)
    return env


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


def _polls(target: dict[str, Any], endpoint: str) -> int:
    state = target["endpoints"].get(endpoint)
    return 0 if state is None else int(state["polls"])


def _failures(target: dict[str, Any], endpoint: str) -> int:
    state = target["endpoints"].get(endpoint)
    return 0 if state is None else sum(state["errors"].values())


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
        self.cloud_rows = [row for row in rows if row.cloud]
        self.deployments = {row.target: Deployment(row.config()) for row in rows if not row.cloud}
        self.server: MultiSimulatorServer | None = None
        # Cloud row's target -> its simulated Graph account.
        self.graphs: dict[str, GraphServer] = {}
        self.processes: list[Process] = []
        # Watchdog name -> its process and a client of its API.
        self.watchdogs: dict[str, tuple[Process, httpx.Client]] = {}
        self.results: dict[str, RowResult] = {}
        self.exit_codes: dict[str, int | None] = {}
        # The watchdogs' own alerts at the end, by label set.
        self.own: dict[frozenset[tuple[str, str]], dict[str, Any]] = {}

    def start(self, stack: ExitStack) -> None:
        """The simulators, Alertmanager and the main watchdog; healthy for one interval."""
        if self.deployments:
            self.server = stack.enter_context(MultiSimulatorServer(self.deployments))
        for row in self.cloud_rows:
            graph = GraphServer(GraphDeployment(row.graph_config()))
            self.graphs[row.target] = stack.enter_context(graph)
        am_process, self.am_url = stack.enter_context(alertmanager(self.workdir))
        self.processes.append(am_process)
        stack.callback(self.stop)
        self.progress(
            f"simulator {self.server.url if self.server else '-'} ({len(self.deployments)} "
            f"deployments), {len(self.graphs)} Graph accounts, Alertmanager {self.am_url}"
        )
        self.alertmanager = _AlertmanagerReader(self.am_url)
        stack.callback(self.alertmanager.client.close)
        port = free_port()
        config = self.workdir / "watchdog.yaml"
        # JSON is YAML: the targets of both kinds, each with its own URL.
        targets = [row.target_entry(self._url(row)) for row in self.apikey_rows]
        config.write_text(json.dumps({"targets": targets}, indent=2))
        env = {
            **watchdog_env(port, self.am_url),
            "WATCHDOG_CONFIG_FILE": str(config),
            "WA_API_KEY": KEY,
            "WA_CLOUD_ACCESS_TOKEN": TOKEN,
        }
        main = self._start_watchdog(stack, "watchdog", env, port)
        main.wait_answering(f"http://127.0.0.1:{port}/readyz")
        self.progress(f"watchdog ready ({len(self.apikey_rows)} targets); one poll more each")
        _wait_polled_after(self.watchdogs["watchdog"][1], self.apikey_rows, time.time())
        _check_baseline(self.alertmanager, self.watchdogs["watchdog"][1], self.apikey_rows)

    def switch(self, stack: ExitStack) -> None:
        """Each row's scenario on, its time noted; the bearer watchdog started (its onset)."""
        _, statuses = _status(self.watchdogs["watchdog"][1])
        with httpx.Client(timeout=5) as sim:
            for row in self.apikey_rows:
                switched_at = time.time()
                self._post(sim, row, "scenario", row.switch_body())
                if row.scenario is GraphScenario.THROTTLING:
                    # The allowance empty again, so the usage climbs from the switch on
                    # whatever the baseline's polls used of it.
                    self._post(sim, row, "restart", {})
                status = statuses[row.target]
                self.results[row.target] = RowResult(
                    row,
                    switched_at,
                    polls_at_switch=_polls(status, row.primary),
                    failures_at_switch=_failures(status, row.primary),
                )
        if self.bearer_rows:
            port = free_port()
            targets = ",".join(f"{r.target}={self._url(r)}" for r in self.bearer_rows)
            env = {
                **watchdog_env(port, self.am_url),
                "WATCHDOG_TARGETS": targets,
                "WATCHDOG_AUTH_MODE": "bearer",
                "WA_WEB_USERNAME": USER,
                "WA_WEB_PASSWORD": PASSWORD,
            }
            switched_at = time.time()
            self._start_watchdog(stack, "watchdog-bearer", env, port)
            for row in self.bearer_rows:
                self.results[row.target] = RowResult(row, switched_at)
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

    def _url(self, row: Row) -> str:
        """The row's target URL: its Graph account, or its deployment's prefix."""
        if row.cloud:
            return self.graphs[row.target].url
        assert self.server is not None
        return self.server.target_url(row.target)

    def _post(self, sim: httpx.Client, row: Row, action: str, body: dict[str, Any]) -> None:
        response = sim.post(f"{self._url(row)}/_sim/{action}", json=body)
        if response.status_code != 200:
            raise MatrixError(f"{action} of {row.name}: {response.text}")

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
                result.polls_at_end = _polls(status, result.row.primary)
                primary = status["endpoints"].get(result.row.primary)
                failures = _failures(status, result.row.primary) - result.failures_at_switch
                while primary is not None and len(result.failures_after_switch) < failures:
                    age = primary["last_poll_age_seconds"]
                    result.failures_after_switch.append(before - age)
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
                labels=labels,
            )
        )


def _wait_polled_after(client: httpx.Client, rows: Sequence[Row], since: float) -> None:
    """Until every target's primary endpoint (health; a Cloud target's phone number) has been
    polled again after `since`, so the baseline is read after a poll that came after readiness,
    not after a guessed wait."""
    wait = 3 * max(row.interval for row in rows)
    deadline = time.monotonic() + wait
    while True:
        before, statuses = _status(client)
        primary = [statuses[row.target]["endpoints"][row.primary] for row in rows]
        ages = [endpoint["last_poll_age_seconds"] for endpoint in primary]
        if all(age is not None and before - age > since for age in ages):
            return
        if time.monotonic() > deadline:
            raise MatrixError(f"not every target polled again after readiness within {wait:g} s")
        time.sleep(0.5)


def _check_baseline(watch: _AlertmanagerReader, client: httpx.Client, rows: Sequence[Row]) -> None:
    """Before the switch: every target answered its last poll of every endpoint, nothing is
    pending or firing, and Alertmanager holds nothing."""
    watch.read()
    _, statuses = _status(client)
    problems = []
    for row in rows:
        for name, endpoint in statuses[row.target]["endpoints"].items():
            if endpoint["ok"] is False:
                problems.append(f"{row.name}: {name} {endpoint['reason']} ({endpoint['detail']})")
    own = _own_alerts(client)
    if own:
        problems.append(f"the watchdog has alerts: {[a['labels'] for a in own]}")
    if watch.seen:
        problems.append(f"Alertmanager has alerts: {[a['labels'] for _, a in watch.seen.values()]}")
    if problems:
        raise MatrixError("the baseline is not healthy:\n" + "\n".join(problems))
