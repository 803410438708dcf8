"""End-to-end fixtures: the real Prometheus and Alertmanager binaries, started on free ports and
stopped cleanly; the watchdog watching a simulator; a webhook receiver.

The binaries are not optional here: CI installs them, so a missing one fails the test with a
message saying what to install, instead of skipping it quietly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import httpx
import pytest

from tests.receivers import WebhookReceiver
from watchdog.api.endpoints import Endpoint
from watchdog.app import Watchdog, build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, SimulatorServer, Topology
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

STARTUP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    """The path of a required binary; fails the test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"the {name!r} binary is not on PATH: the end-to-end tests need it "
            f"(Debian/Ubuntu: apt-get install prometheus; CI installs it)",
            pytrace=False,
        )
    return path


class RunningBinary:
    """A server binary started by a test: its process, log file and HTTP client."""

    name = "binary"
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    client: httpx.Client
    _log: BinaryIO

    def launch(self, command: list[str]) -> None:
        """Start `command` with its output in `log_path`, and a client for `url`."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until `/-/ready` answers 200; fails with the log's tail if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, and the exit code once it has shut down (killed if it takes too long)."""
        self.client.close()
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    return self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    pytest.fail(f"{self.name} ignored SIGTERM for {timeout:g} s")
            return self.process.returncode
        finally:
            self._log.close()


class Prometheus(RunningBinary):
    """A running Prometheus server scraping the given targets every second."""

    name = "prometheus"

    def __init__(self, executable: str, workdir: Path, targets: Sequence[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        config = workdir / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: watchdog\n"
            "    static_configs:\n"
            f"      - targets: [{listed}]\n"
        )
        command = [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.launch(command)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        response = self.client.get("/api/v1/query", params={"query": promql})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


StartPrometheus = Callable[[Sequence[str]], Prometheus]


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Starts Prometheus scraping `targets` (`host:port`), waits until it is ready."""
    started: list[Prometheus] = []

    def start(targets: Sequence[str]) -> Prometheus:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        # Looked up here, in the test: a missing binary fails the test (not its setup).
        prometheus = Prometheus(binary("prometheus"), workdir, targets)
        started.append(prometheus)
        prometheus.wait_ready()
        return prometheus

    yield start
    for prometheus in started:
        if prometheus.process.poll() is None:
            prometheus.stop()


# --- Alertmanager ---------------------------------------------------------------------------

# Debian names the binary prometheus-alertmanager; upstream tarballs and images, alertmanager.
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")

# One receiver that delivers nowhere: the tests read what Alertmanager holds through its API.
NULL_CONFIG = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n"


def alertmanager_binary() -> str:
    """The Alertmanager binary; fails the test (never skips it) when it is not installed."""
    for name in ALERTMANAGER_BINARIES:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        f"no Alertmanager binary on PATH (looked for {' and '.join(ALERTMANAGER_BINARIES)}): "
        "the end-to-end tests need it (Debian/Ubuntu: apt-get install prometheus-alertmanager; "
        "CI installs it)",
        pytrace=False,
    )


class Alertmanager(RunningBinary):
    """A running Alertmanager (clustering off) with its own storage directory."""

    name = "alertmanager"

    def __init__(self, executable: str, workdir: Path, port: int, config: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.log_path = workdir / "alertmanager.log"
        config_path = workdir / "am.yml"
        config_path.write_text(config)
        command = [
            executable,
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # empty: no gossip, no peers, no port to collide on
        ]
        self.launch(command)

    def alerts(self, alertname: str | None = None) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds and has not seen resolved (`GET /api/v2/alerts`).

        Alertmanager 0.25 never lists an alert whose `endsAt` has passed, whatever the
        filters: a resolved alert disappears from this list. All state filters are on, so an
        alert still `unprocessed` (not yet routed) is listed too.
        """
        params: dict[str, str | list[str]] = {
            "active": "true",
            "silenced": "true",
            "inhibited": "true",
            "unprocessed": "true",
        }
        if alertname is not None:
            params["filter"] = [f'alertname="{alertname}"']
        response = self.client.get("/api/v2/alerts", params=params)
        assert response.status_code == 200, response.text
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def received(self, status: str) -> float:
        """`alertmanager_alerts_received_total{status,version="v2"}`: alerts POSTed to it."""
        text = self.client.get("/metrics").text
        prefix = f'alertmanager_alerts_received_total{{status="{status}",version="v2"}} '
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line[len(prefix) :])
        raise AssertionError(f"no {prefix.strip()} in Alertmanager's metrics")


class StartAlertmanager(Protocol):
    def __call__(self, *, port: int | None = None, config: str = NULL_CONFIG) -> Alertmanager: ...


@pytest.fixture
def start_alertmanager(tmp_path: Path) -> Iterator[StartAlertmanager]:
    """Starts an Alertmanager (on `port`, or a free one) with a fresh storage directory each
    time, and waits until it is ready."""
    started: list[Alertmanager] = []

    def start(*, port: int | None = None, config: str = NULL_CONFIG) -> Alertmanager:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        # Looked up here, in the test: a missing binary fails the test (not its setup).
        alertmanager = Alertmanager(
            alertmanager_binary(), workdir, free_port() if port is None else port, config
        )
        started.append(alertmanager)
        alertmanager.wait_ready()
        return alertmanager

    yield start
    for alertmanager in started:
        if alertmanager.process.poll() is None:
            alertmanager.stop()


# --- the watchdog watching a simulator ------------------------------------------------------

WATCHED_KEY = "e2e-alerting-key-0123456789"
WATCHED_TARGET = "sim"

# Fast alerting for tests: the shortest health interval the watchdog accepts, and windows and
# hysteresis short enough that an incident fires and resolves within seconds.
FAST_ALERTS = {
    "WATCHDOG_HEALTH_INTERVAL": "6s",
    "WATCHDOG_METRICS_INTERVAL": "5s",
    "WATCHDOG_STATS_DB_INTERVAL": "0",
    "WATCHDOG_TIMEOUT": "2s",
    "WATCHDOG_ALERT_OVERLOADED_WINDOW": "10s",
    "WATCHDOG_ALERT_OVERLOADED_KEEP_FIRING_FOR": "0s",
    "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW": "10s",
    "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_KEEP_FIRING_FOR": "0s",
    "WATCHDOG_ALERT_GATEWAY_DOWN_FOR": "0s",
    "WATCHDOG_ALERT_GATEWAY_DOWN_KEEP_FIRING_FOR": "0s",
}


@dataclass
class Watched:
    """A simulated deployment (target `sim`) and the watchdog polling it, both running."""

    simulator: SimulatorServer
    watchdog: Watchdog
    url: str  # the watchdog's base URL, which is also its WATCHDOG_EXTERNAL_URL

    @property
    def target(self) -> str:
        return WATCHED_TARGET

    def set_scenario(self, scenario: Scenario) -> None:
        """Switch the deployment and have the watchdog poll it right away."""
        self.simulator.deployment.set_scenario(scenario)
        self.watchdog.poller.poll_soon()

    def health_polls(self) -> int:
        state = self.watchdog.state.get(WATCHED_TARGET, Endpoint.HEALTH)
        return 0 if state is None else state.polls

    def wait_health_polls(self, count: int, timeout: float = 20.0) -> None:
        """Return once the watchdog has polled health `count` more times."""
        goal = self.health_polls() + count
        wait_for(lambda: self.health_polls() >= goal, f"{count} health polls", timeout)


class StartWatched(Protocol):
    def __call__(
        self, env: Mapping[str, str], *, topology: Topology = Topology.SINGLE
    ) -> Watched: ...


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll `check` every 50 ms until it holds; fail saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def start_watched() -> Iterator[StartWatched]:
    """Starts a healthy simulator and a watchdog polling it (settings `FAST_ALERTS` + `env`),
    with the watchdog's server on the port its WATCHDOG_EXTERNAL_URL names; waits until ready.

    The simulator's health budget is raised from 10 to 1000 calls per 60 s: the tests call
    `poll_soon()` on top of a 6 s schedule, which the real budget would answer with 429s.
    """
    with ExitStack() as stack:

        def start(env: Mapping[str, str], *, topology: Topology = Topology.SINGLE) -> Watched:
            config = SimulatorConfig(topology=topology, api_key=WATCHED_KEY, health_limit=1000)
            simulator = stack.enter_context(SimulatorServer(Deployment(config)))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            settings = load_settings(
                {
                    "WATCHDOG_TARGETS": f"{WATCHED_TARGET}={simulator.url}",
                    "WA_API_KEY": WATCHED_KEY,
                    "WATCHDOG_EXTERNAL_URL": url,
                    **FAST_ALERTS,
                    **env,
                }
            )
            watchdog = build_watchdog(settings, start_spread=0.2)
            server = BackgroundServer(create_app(watchdog), port=port, lifespan="on")
            stack.enter_context(server)
            wait_for(lambda: httpx.get(url + "/readyz").status_code == 200, "the watchdog ready")
            return Watched(simulator, watchdog, url)

        yield start


# --- a webhook receiver ---------------------------------------------------------------------


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running `WebhookReceiver` (`tests/receivers.py`) on a free loopback port."""
    with WebhookReceiver() as receiver:
        yield receiver
