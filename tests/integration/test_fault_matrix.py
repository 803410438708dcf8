"""The fault matrix over real sockets: every way a target can fail, on every endpoint, at once.

One `watchdog run` process watches a healthy control target (the simulator), a simulator that
restarts mid-run, and one misbehaving target per cell: a `FaultServer` (`fault_servers.py`)
that misbehaves on one endpoint's path or, for the faults that happen before any request is
read (refused, DNS, connect timeout, TLS), on every connection. All faults are on from the
start; once every cell shows `whatsapp_up` 0 with its reason and its alert firing (and the
faults have held for a whole health interval), every fault is removed at once, and every alert
must resolve and every endpoint come back. Meanwhile the control target and the healthy
endpoints of the faulty targets must keep being polled on schedule, and the process must stay
live (a separate process: ~50 targets polled every second would compete with the fault
servers for one GIL, and a process is what "it lives" is about).

The observed matrix (cell x endpoint -> reason, alert) must equal the expected one below;
`benchmarks/fault_matrix.py` runs the same matrix (`run_matrix`) and writes it to
`benchmarks/fault_matrix.md` (tests never write it). The bearer-token cell runs its own
in-process watchdog, because the auth mode is global.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.integration.fault_servers import (
    Certificates,
    Door,
    FaultServer,
    LoopThread,
    PathFault,
)
from watchdog.app import build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, SimulatorConfig, SimulatorServer
from watchdog.simulator.app import create_app as create_simulator_app
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

# Alone, after the rest of `make test` (the Makefile): ~50 targets polled every second with a
# 0.5 s timeout, against fault servers in this process, time out when other test processes
# share the machine's cores.
pytestmark = pytest.mark.serial

KEY = "fault-matrix-key-0123456789"
ENDPOINTS = ("health", "metrics", "stats_app", "stats_db")
PATHS = {"health": "/v1/health", "metrics": "/metrics", "stats_app": "/v1/stats/app",
         "stats_db": "/v1/stats/db"}  # fmt: skip
INTERVALS = {"health": 6.0, "metrics": 1.0, "stats_app": 1.0, "stats_db": 1.0}
CONTROL = "control"
RESTART = "restart"
DNS_HOST = "wa-fault-dns.invalid"  # RFC 2606: never resolves

# A healthy endpoint's last success may be this much older than its interval (scheduling
# jitter, ~200 polls a second on a small machine) and still count as polled on time.
LATE_TOLERANCE = 1.5
# Faults stay on at least this long: the control's health (6 s) is polled on schedule meanwhile.
HOLD = 7.0
FIRE_TIMEOUT = 30.0
RESOLVE_TIMEOUT = 40.0

UNREACHABLE = "WhatsAppUnreachable"
AUTH = "WhatsAppAuthRejected"
OVERLOADED = "WhatsAppOverloaded"
RATE_LIMIT = "WhatsAppRateLimitSpike"
GATEWAY = "WhatsAppGatewayDown"
FAILING = "WhatsAppHealthFailing"

RULE_KEYS = ("OVERLOADED", "RATE_LIMIT_SPIKE", "HEALTH_FAILING", "GATEWAY_DOWN",
             "GATEWAY_DEGRADED", "UNREACHABLE", "AUTH_REJECTED", "NOT_REGISTERED",
             "QUEUE_BACKLOG")  # fmt: skip
ENV = {
    "WA_API_KEY": KEY,
    "WATCHDOG_TIMEOUT": "0.5s",
    "WATCHDOG_HEALTH_INTERVAL": "6s",
    "WATCHDOG_METRICS_INTERVAL": "1s",
    "WATCHDOG_STATS_APP_INTERVAL": "1s",
    "WATCHDOG_STATS_DB_INTERVAL": "1s",
    # Fire at once, resolve at once; 503s and 429s are counted over the shortest window.
    **{
        f"WATCHDOG_ALERT_{rule}_{param}": "0s"
        for rule in RULE_KEYS
        for param in ("FOR", "KEEP_FIRING_FOR")
    },
    "WATCHDOG_ALERT_OVERLOADED_WINDOW": "10s",
    "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW": "19s",
    # After a 429 an endpoint backs off (one extra interval, then 3), so a storm on one 6 s
    # health endpoint yields 2 polls in a 19 s window: the threshold is 2. The second poll is
    # the first job run at least 9 s after the first (backoff less half an interval of
    # tolerance), which the job's 6 s phase puts at most 15 s after it.
    # (With the defaults — 15 s, 60 s window, threshold 5 — a storm on health alone yields at
    # most 3 polls in any window and never fires from the watchdog's own polls; a health that
    # answers only 429 for a minute fires WhatsAppHealthFailing instead: the watchdog is blind.)
    "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD": "2",
}


@dataclass(frozen=True)
class Cell:
    """One row of the matrix: a fault, how it is made, and what the watchdog must make of it."""

    key: str
    title: str
    how: str
    reason: str
    # Expected alert per endpoint (None: no alert by design).
    alerts: dict[str, tuple[str, ...]]
    # A path fault hits one endpoint (one target per endpoint); a door fault hits every
    # connection of its target, so all four endpoints of one target fail at once.
    path_fault: PathFault | None = None
    door: Door = Door.OPEN
    tls: bool = False


def _health_only(*alerts: str) -> dict[str, tuple[str, ...]]:
    return {e: alerts if e == "health" else () for e in ENDPOINTS}


def _everywhere(*alerts: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(ENDPOINTS, alerts)


CELLS = (
    Cell("refused", "connection refused", "port bound but not listening (RST)", "connect",
         _health_only(UNREACHABLE), door=Door.REFUSED),
    Cell("dns", "DNS failure", f"host `{DNS_HOST}` (RFC 2606); resolvable after the fault",
         "dns", _health_only(UNREACHABLE)),
    Cell("connect_timeout", "connect timeout",
         "listen(0), accept backlog filled, never accepts: SYNs dropped", "timeout",
         _health_only(UNREACHABLE), door=Door.BACKLOG_FULL),
    Cell("tls_handshake", "TLS handshake failure", "`https://` to a server speaking plain HTTP",
         "tls", _health_only(UNREACHABLE), door=Door.PLAIN_ON_HTTPS, tls=True),
    Cell("untrusted_cert", "untrusted certificate", "TLS with a cert from a CA not trusted",
         "tls", _health_only(UNREACHABLE), door=Door.UNTRUSTED_CERT, tls=True),
    Cell("read_timeout", "read timeout", "reads the request, never answers", "timeout",
         _health_only(UNREACHABLE), path_fault=PathFault.READ_TIMEOUT),
    Cell("stalled_body", "headers, then the body stalls",
         "200 + Content-Length 4096, 32 bytes, then nothing", "timeout",
         _health_only(UNREACHABLE), path_fault=PathFault.STALLED_BODY),
    Cell("hang_up", "hang-up before answering", "reads the request, closes the connection",
         "protocol", _health_only(UNREACHABLE), path_fault=PathFault.HANG_UP),
    Cell("http_500", "500/1014", "500, errors[0].code 1014 (Coreapp unreachable)", "http_5xx",
         _health_only(GATEWAY), path_fault=PathFault.HTTP_500),
    Cell("http_503", "503/1016", "503, errors[0].code 1016 (System overloaded)", "http_503",
         _everywhere(OVERLOADED), path_fault=PathFault.HTTP_503),
    Cell("http_429", "429 storm", "429/1015 to every request", "http_429",
         # Health answering only 429 also leaves the watchdog blind: WhatsAppHealthFailing.
         {**_everywhere(RATE_LIMIT), "health": (FAILING, RATE_LIMIT)},
         path_fault=PathFault.HTTP_429),
    Cell("http_401", "401", "401/1005 Invalid credentials", "http_401", _everywhere(AUTH),
         path_fault=PathFault.HTTP_401),
    Cell("http_403", "403/1005", "403/1005 (key refused on this endpoint)", "http_403",
         _everywhere(AUTH), path_fault=PathFault.HTTP_403),
    Cell("malformed", "malformed JSON", "200, the healthy body cut in half", "decode",
         _health_only(FAILING), path_fault=PathFault.MALFORMED),
    Cell("wrong_shape", "JSON of the wrong shape", '200, `{"status": "UP", ...}`', "shape",
         _health_only(FAILING), path_fault=PathFault.WRONG_SHAPE),
    Cell("too_large", "body over the size cap", "200 announcing 16 MiB + 1 byte", "too_large",
         _health_only(FAILING), path_fault=PathFault.TOO_LARGE),
)  # fmt: skip


def target_name(cell: Cell, endpoint: str) -> str:
    """The target that carries `cell` on `endpoint` (door faults: one target per cell)."""
    return f"{cell.key}-{endpoint}" if cell.path_fault is not None else cell.key


def faulty(cell: Cell) -> list[tuple[str, str]]:
    """(target, endpoint) pairs the cell makes fail."""
    return [(target_name(cell, e), e) for e in ENDPOINTS]


SeriesKey = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[SeriesKey, float]
WANTED = ("whatsapp_up", "whatsapp_poll_errors_total", "whatsapp_last_success_timestamp_seconds",
          "whatsapp_poll_duration_seconds_count", "watchdog_api_restarts_total")  # fmt: skip


def parse(text: str) -> Samples:
    """The samples of the families the matrix reads (re-exported API series are skipped)."""
    lines = [line for line in text.splitlines() if line.startswith(WANTED)]
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families("\n".join(lines) + "\n")
        for s in family.samples
    }


@dataclass
class Snapshot:
    """What the watchdog's own server said at one moment (`samples` only when scraped)."""

    at: float  # time.time() when it was taken
    status: dict[str, dict[str, Any]]  # target -> endpoint -> /api/v1/status entry
    alerts: list[dict[str, Any]]
    samples: Samples = field(default_factory=dict)

    def value(self, name: str, target: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset({"target": target, **labels}.items())))

    def up(self, target: str, endpoint: str) -> float | None:
        return self.value("whatsapp_up", target, endpoint=endpoint)

    def reasons(self, target: str, endpoint: str) -> dict[str, float]:
        """reason -> count of `whatsapp_poll_errors_total` for one target and endpoint."""
        found = {}
        for (name, labels), value in self.samples.items():
            label = dict(labels)
            if (
                name == "whatsapp_poll_errors_total"
                and label.get("target") == target
                and label.get("endpoint") == endpoint
                and value > 0
            ):
                found[label["reason"]] = value
        return found

    def alert_states(self, target: str) -> dict[str, str]:
        """alertname -> state of the target's alerts (pending, firing, or resolved lately)."""
        return {
            a["labels"]["alertname"]: a["state"]
            for a in self.alerts
            if a["labels"].get("target") == target
        }


@dataclass
class MatrixRun:
    """Everything observed in one run of the matrix."""

    fired: Snapshot  # at the end of the fault phase
    healed: Snapshot  # once every alert resolved and every endpoint was up again
    late: list[str]  # healthy endpoints found polled late, with when and how late
    live: list[int]  # every /livez status seen
    control_polls: dict[str, float]  # endpoint -> polls during the fault phase
    fault_phase: float  # seconds
    running: bool  # the process was still running once every fault had come and gone
    exit_code: int  # after SIGTERM
    log: str  # the process's whole output

    def detail(self, target: str, endpoint: str) -> str:
        return str(self.fired.status[target][endpoint]["detail"])


class Observer:
    """Watches the watchdog's status; at every look, healthy endpoints must be on time.

    Looks use `/api/v1/status` and `/api/v1/alerts` (cheap); `/metrics` (large with ~50
    targets) is scraped only for the snapshots the tests assert on.
    """

    def __init__(
        self,
        url: str,
        healthy: Callable[[], list[tuple[str, str]]],
        process: subprocess.Popen[bytes],
    ) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)
        self.healthy = healthy
        self.process = process
        self.late: list[str] = []
        self.live: list[int] = []
        self.started = time.time()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, "watchdog run exited"
            try:
                # Ready once every health answered; the matrix reads every endpoint's first poll.
                ready = self.client.get("/readyz").status_code == 200
                if ready and self.client.get("/api/v1/status?history=0").json()["polled_once"]:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "watchdog run did not get ready"
            time.sleep(0.1)

    def look(self, *, scrape: bool = False) -> Snapshot:
        assert self.process.poll() is None, "watchdog run exited"
        at = time.time()
        self.live.append(self.client.get("/livez").status_code)
        document = self.client.get("/api/v1/status").json()
        status = {t["name"]: t["endpoints"] for t in document["targets"]}
        alerts = self.client.get("/api/v1/alerts").json()["alerts"]
        samples = parse(self.client.get("/metrics").text) if scrape else {}
        for target, endpoint in self.healthy():
            age = status[target][endpoint]["last_success_age_seconds"]
            interval = INTERVALS[endpoint]
            # After the quick first run a job moves to its phase: the second run comes one to
            # two intervals later (`watchdog/poll/trigger.py`); from then on, every interval.
            settling = at - self.started < 3 * interval
            if age is None or age > interval * (2 if settling else 1) + LATE_TOLERANCE:
                self.late.append(
                    f"{target}/{endpoint} at +{at - self.started:.1f}s: last success "
                    f"{'never' if age is None else f'{age:.1f}s ago'}"
                )
        return Snapshot(at, status, alerts, samples)

    def until(self, missing: Callable[[Snapshot], list[str]], what: str, timeout: float) -> None:
        """Look until `missing` finds nothing missing; fail listing what still is."""
        deadline = time.monotonic() + timeout
        while True:
            problems = missing(self.look())
            if not problems:
                return
            assert time.monotonic() < deadline, (
                f"timed out after {timeout:g}s waiting for {what}; still: {problems[:25]}"
            )
            time.sleep(0.25)


def unfired(snap: Snapshot) -> list[str]:
    """What the fault phase still waits for: cells not yet down with their reason and alert."""
    missing = []
    for cell in CELLS:
        for target, endpoint in faulty(cell):
            entry = snap.status[target][endpoint]
            if entry["ok"] is not False or cell.reason not in entry["errors"]:
                missing.append(f"{target}/{endpoint}: ok {entry['ok']} {entry['errors']}")
            for alert in cell.alerts[endpoint]:
                if snap.alert_states(target).get(alert) != "firing":
                    missing.append(f"{target}: {alert} not firing {snap.alert_states(target)}")
    return missing


def unhealed(snap: Snapshot) -> list[str]:
    """What the heal phase still waits for: alerts not resolved, endpoints not answering."""
    problems = [
        f"{a['labels']['target']}: {a['labels']['alertname']} {a['state']}"
        for a in snap.alerts
        if a["state"] != "resolved"
    ]
    problems += [
        f"{target}/{endpoint}: {entry['reason']}"
        for target, endpoints in snap.status.items()
        for endpoint, entry in endpoints.items()
        if entry["ok"] is not True
    ]
    return problems


# `watchdog run` with one change: once the marker file exists, the `.invalid` name resolves to
# loopback, as if its DNS record had been published. A real name cannot start resolving on
# cue, and the machine's resolver configuration is not the test's to change.
DNS_SHIM = """
import os, socket, sys
from pathlib import Path

marker = Path(os.environ["FAULT_MATRIX_DNS_MARKER"])
host = os.environ["FAULT_MATRIX_DNS_HOST"]
real_getaddrinfo = socket.getaddrinfo

def getaddrinfo(name, *args, **kwargs):
    # anyio passes the name IDNA-encoded, as bytes.
    text = name.decode("ascii") if isinstance(name, bytes) else name
    if text == host and marker.exists():
        name = "127.0.0.1"
    return real_getaddrinfo(name, *args, **kwargs)

socket.getaddrinfo = getaddrinfo
from watchdog.cli import main
sys.exit(main(["run"]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_servers(
    stack: ExitStack, certificates: Certificates
) -> tuple[dict[str, FaultServer], dict[str, SimulatorServer], dict[str, str]]:
    """Every faulty target's server, the control and restart simulators; name -> URL."""
    loops = LoopThread()
    stack.callback(loops.stop)
    servers: dict[str, FaultServer] = {}
    urls: dict[str, str] = {}
    for index, cell in enumerate(CELLS):
        for offset, endpoint in enumerate(ENDPOINTS if cell.path_fault else ("",)):
            name = target_name(cell, endpoint)
            faults = {PATHS[endpoint]: cell.path_fault} if cell.path_fault else None
            server = FaultServer(
                loops,
                Deployment(SimulatorConfig(api_key=KEY, seed=index * 4 + offset)),
                KEY,
                door=cell.door,
                faults=faults,
                certificates=certificates if cell.tls else None,
            ).start()
            stack.callback(server.stop)
            servers[name] = server
            urls[name] = server.url
    urls["dns"] = f"http://{DNS_HOST}:{servers['dns'].port}"
    simulators = {}
    for name in (CONTROL, RESTART):
        config = SimulatorConfig(api_key=KEY, health_limit=1000)
        simulators[name] = stack.enter_context(SimulatorServer(Deployment(config)))
        urls[name] = simulators[name].url
    return servers, simulators, urls


def healthy_during_faults() -> list[tuple[str, str]]:
    """(target, endpoint) pairs no fault touches: they must stay up and on time."""
    pairs = [(n, e) for n in (CONTROL, RESTART) for e in ENDPOINTS]
    for cell in CELLS:
        if cell.path_fault is not None:
            pairs += [
                (target_name(cell, faulty_endpoint), e)
                for faulty_endpoint in ENDPOINTS
                for e in ENDPOINTS
                if e != faulty_endpoint
            ]
    return pairs


def run_matrix(workdir: Path) -> MatrixRun:
    """Runs the whole matrix once against `watchdog run`: faults on, observed, removed.

    Everything it started is stopped when it returns. Also run by `benchmarks/fault_matrix.py`,
    which writes the table.
    """
    certificates = Certificates.create(workdir)
    marker = workdir / "dns-published"
    with ExitStack() as stack:
        servers, simulators, urls = start_servers(stack, certificates)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))},
            **ENV,
            "WATCHDOG_TARGETS": ",".join(f"{n}={u}" for n, u in urls.items()),
            "WATCHDOG_TLS_CA_FILE": str(certificates.ca_file),
            "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
            "WATCHDOG_LOG_FORMAT": "json",
            "FAULT_MATRIX_DNS_MARKER": str(marker),
            "FAULT_MATRIX_DNS_HOST": DNS_HOST,
        }
        log_path = workdir / "watchdog.base.log"
        log_file = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen(
            [sys.executable, "-c", DNS_SHIM], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        stack.callback(_kill, process)
        healthy = healthy_during_faults()
        phase = ["fault"]

        def check() -> list[tuple[str, str]]:
            return healthy if phase[0] == "fault" else healthy[: 2 * len(ENDPOINTS)]

        observer = Observer(f"http://127.0.0.1:{port}", check, process)
        stack.callback(observer.client.close)
        observer.wait_ready(20)
        httpx.post(f"{simulators[RESTART].url}/_sim/restart").raise_for_status()
        began = time.monotonic()
        polls_before = observer.look(scrape=True)

        def held(snap: Snapshot) -> list[str]:
            return unfired(snap) or (["the hold time"] if time.monotonic() - began < HOLD else [])

        observer.until(held, "every fault to show and fire", FIRE_TIMEOUT)
        fired = observer.look(scrape=True)
        fault_phase = time.monotonic() - began
        control_polls = {
            e: (fired.value("whatsapp_poll_duration_seconds_count", CONTROL, endpoint=e) or 0)
            - (polls_before.value("whatsapp_poll_duration_seconds_count", CONTROL, endpoint=e)
               or 0)
            for e in ENDPOINTS
        }  # fmt: skip

        # Remove every fault at once (and publish the DNS record).
        marker.touch()
        for server in servers.values():
            server.heal()
        phase[0] = "heal"
        observer.until(unhealed, "every alert resolved and every endpoint up", RESOLVE_TIMEOUT)
        healed = observer.look(scrape=True)
        running = process.poll() is None
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
        log_file.flush()
        return MatrixRun(
            fired=fired,
            healed=healed,
            late=observer.late,
            live=observer.live,
            control_polls=control_polls,
            fault_phase=fault_phase,
            running=running,
            exit_code=exit_code,
            log=log_path.read_text(errors="replace"),
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> MatrixRun:
    return run_matrix(tmp_path_factory.mktemp("fault-matrix"))


IDS = [cell.key for cell in CELLS]


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_fault_sets_up_0_with_its_reason_on_every_endpoint(matrix: MatrixRun, cell: Cell) -> None:
    """Each fault, on each endpoint, makes whatsapp_up 0 and counts exactly its reason."""
    for target, endpoint in faulty(cell):
        assert matrix.fired.up(target, endpoint) == 0, (target, endpoint)
        reasons = matrix.fired.reasons(target, endpoint)
        assert set(reasons) == {cell.reason}, (target, endpoint, reasons)


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_fault_fires_its_alert_and_it_resolves_once_removed(matrix: MatrixRun, cell: Cell) -> None:
    """Each fault fires exactly its expected alert (or none) and it resolves after the fault."""
    for target, endpoint in faulty(cell):
        expected = cell.alerts[endpoint]
        if cell.path_fault is None and endpoint != "health":
            continue  # the same target as the health column: its alerts are checked there
        fired = {name for name, state in matrix.fired.alert_states(target).items()
                 if state == "firing"}  # fmt: skip
        assert fired == set(expected), (target, endpoint)
        # Every alert the target ever had is resolved now, and no other one came up.
        final = matrix.healed.alert_states(target)
        assert final == dict.fromkeys(expected, "resolved"), (target, endpoint)
        assert matrix.healed.up(target, endpoint) == 1


def test_other_targets_and_endpoints_keep_being_polled_on_time(matrix: MatrixRun) -> None:
    """While faults hold, the control target and every healthy endpoint stay up and on time."""
    assert matrix.late == []
    for endpoint in ENDPOINTS:
        assert matrix.fired.up(CONTROL, endpoint) == 1
        assert matrix.fired.reasons(CONTROL, endpoint) == {}
        # One poll per interval over the fault phase (the first may fall just outside it).
        expected = matrix.fault_phase / INTERVALS[endpoint]
        assert matrix.control_polls[endpoint] >= int(expected) - 1, (endpoint, expected)
    for cell in CELLS:
        if cell.path_fault is None:
            continue
        for target, endpoint in faulty(cell):
            for other in ENDPOINTS:
                if other != endpoint:
                    assert matrix.fired.up(target, other) == 1, (target, other)
                    assert matrix.fired.reasons(target, other) == {}, (target, other)
    assert matrix.healed.alert_states(CONTROL) == {}


def test_the_process_lives_through_every_fault(matrix: MatrixRun) -> None:
    """`watchdog run` stays up with /livez 200 throughout, logs no error, and exits 0."""
    assert matrix.live
    assert set(matrix.live) == {200}
    assert matrix.running
    assert matrix.exit_code == 0, matrix.log[-2000:]
    for (name, labels), value in matrix.healed.samples.items():
        if name == "whatsapp_poll_errors_total" and value > 0:
            assert dict(labels)["reason"] != "internal", dict(labels)
    events = [json.loads(line) for line in matrix.log.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "watchdog_started" in names
    assert "shutdown_requested" in names
    # Up to SIGTERM: what happens at shutdown is test_daemon's business.
    running = events[: names.index("shutdown_requested")]
    assert [e for e in running if e["level"] in ("error", "critical")] == []
    assert [e for e in running if "exception" in e] == []
    assert not {e["event"] for e in running} & {
        "poll_crashed", "poll_internal_error", "change_listener_failed", "alert_rule_failed",
        "alert_notify_failed",
    }  # fmt: skip


def test_api_restart_counts_a_counter_reset_and_alerts_nothing(matrix: MatrixRun) -> None:
    """/_sim/restart mid-run: watchdog_api_restarts_total goes up, no poll fails, no alert."""
    for endpoint in ("metrics", "stats_app"):
        restarts = matrix.fired.value("watchdog_api_restarts_total", RESTART, endpoint=endpoint)
        assert restarts == 1, endpoint
    for endpoint in ENDPOINTS:
        assert matrix.healed.up(RESTART, endpoint) == 1
        assert matrix.healed.reasons(RESTART, endpoint) == {}
    assert matrix.healed.alert_states(RESTART) == {}


def test_failure_details_name_the_fault(matrix: MatrixRun) -> None:
    """The status detail says what happened: refused, deadline, TLS cause, size cap."""
    details = {(t, e): matrix.detail(t, e) for c in CELLS for t, e in faulty(c)}
    assert details[("refused", "health")] == "connection refused"
    assert details[("dns", "health")].startswith(f"DNS: cannot resolve {DNS_HOST}")
    assert details[("read_timeout-health", "health")] == "timed out after 500ms"
    assert details[("stalled_body-metrics", "metrics")] == "timed out after 500ms"
    assert details[("connect_timeout", "health")].startswith("timed out after 500ms")
    assert "plain HTTP" in details[("tls_handshake", "health")]
    assert "certificate verify failed" in details[("untrusted_cert", "health")]
    assert details[("too_large-stats_app", "stats_app")] == "answer larger than 16 MiB"
    assert details[("http_503-health", "health")] == (
        "HTTP 503 System overloaded (1016): System overloaded. Please retry later"
    )
    assert KEY not in " ".join(details.values())


# -- the matrix as a whole -------------------------------------------------------------------


def expected_matrix() -> dict[tuple[str, str], tuple[set[str], str | None]]:
    return {
        (c.key, e): ({c.reason}, ", ".join(sorted(c.alerts[e])) or None)
        for c in CELLS
        for e in ENDPOINTS
    }


def observed_matrix(run: MatrixRun) -> dict[tuple[str, str], tuple[set[str], str | None]]:
    observed: dict[tuple[str, str], tuple[set[str], str | None]] = {}
    for cell in CELLS:
        for target, endpoint in faulty(cell):
            alerts = sorted(run.healed.alert_states(target))
            if cell.path_fault is None and endpoint != "health":
                alerts = []  # shown under health: the same target
            observed[(cell.key, endpoint)] = (
                set(run.fired.reasons(target, endpoint)),
                ", ".join(alerts) or None,
            )
    return observed


def test_the_observed_matrix_is_the_expected_one(matrix: MatrixRun) -> None:
    """The observed cell x endpoint -> (reason, alert) matrix is the expected one."""
    # The details depend on the platform (resolver, OpenSSL): shown with -s or -rP.
    for cell in CELLS:
        for target, endpoint in faulty(cell):
            print(f"{cell.key} / {endpoint}: {matrix.detail(target, endpoint)}")
    assert observed_matrix(matrix) == expected_matrix()


# -- bearer tokens expiring mid-run -----------------------------------------------------------


class CountingApp:
    """Counts requests by path and answers by status, for the simulator behind it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: dict[str, int] = {}
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    status = int(message["status"])
                    self.statuses[status] = self.statuses.get(status, 0) + 1
            await send(message)

        with self._lock:
            self.paths[scope["path"]] = self.paths.get(scope["path"], 0) + 1
        await self.app(scope, receive, counted)


@dataclass
class BearerRun:
    samples: Samples = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    logins: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0


TOKEN_LIFETIME = 3.0


def test_bearer_token_expiring_mid_run_is_renewed_without_a_failed_poll() -> None:
    """Tokens living 3 s (then 2 s) are renewed in time: no failed poll, no 401, no alert."""
    user, password = "monitor", "Fault-matrix-passw0rd!"
    deployment = Deployment(
        SimulatorConfig(
            users={user: password},
            token_lifetime=TOKEN_LIFETIME,
            token_leeway=0.0,
            health_limit=1000,
        )
    )
    counting = CountingApp(create_simulator_app(deployment))
    run = BearerRun()
    with ExitStack() as stack:
        simulator = stack.enter_context(BackgroundServer(counting, name="wa-simulator"))
        settings = load_settings(
            {
                **{k: v for k, v in ENV.items() if k != "WA_API_KEY"},
                "WATCHDOG_TARGETS": f"bearer={simulator.url}",
                "WATCHDOG_AUTH_MODE": "bearer",
                "WA_WEB_USERNAME": user,
                "WA_WEB_PASSWORD": password,
            }
        )
        watchdog = build_watchdog(settings, start_spread=0.2)
        app = stack.enter_context(BackgroundServer(create_app(watchdog), lifespan="on"))
        client = stack.enter_context(httpx.Client(base_url=app.url, timeout=10))
        began = time.monotonic()
        deadline = began + 15
        while client.get("/readyz").status_code != 200 or not watchdog.state.polled_once():
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        time.sleep(TOKEN_LIFETIME * 1.5)
        # Tokens issued from now on live shorter: the watchdog follows each token's expiry.
        httpx.post(f"{simulator.url}/_sim/auth", json={"token_lifetime": 2.0}).raise_for_status()
        watchdog.poller.poll_soon()
        time.sleep(TOKEN_LIFETIME * 1.5)
        run.samples = parse(client.get("/metrics").text)
        run.alerts = client.get("/api/v1/alerts").json()["alerts"]
        run.elapsed = time.monotonic() - began
        with counting._lock:
            run.logins = counting.paths.get("/v1/users/login", 0)
            run.statuses = dict(counting.statuses)

    errors = {dict(k[1])["endpoint"]: v for k, v in run.samples.items()
              if k[0] == "whatsapp_poll_errors_total" and v > 0}  # fmt: skip
    assert errors == {}
    for endpoint in ENDPOINTS:
        key = ("whatsapp_up", frozenset({"target": "bearer", "endpoint": endpoint}.items()))
        assert run.samples[key] == 1, endpoint
    assert run.alerts == []
    # Several tokens expired during the run, and each was replaced before it did.
    assert run.elapsed > 2 * TOKEN_LIFETIME
    assert run.logins >= 4, run.logins
    assert 401 not in run.statuses, run.statuses
