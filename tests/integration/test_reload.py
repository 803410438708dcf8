"""Operations over real sockets: SIGHUP reloads, API key rotation, SIGTERM during delivery."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from structlog.testing import capture_logs

from tests.receivers import Received, WebhookReceiver
from watchdog.api.endpoints import Endpoint
from watchdog.app import build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, SimulatorConfig, SimulatorServer
from watchdog.simulator.auth import KeyScope

KEY = "reload-test-key-0123456789"
NEW_KEY = "reload-test-key-rotated-9876"
# Generous limits: these tests poll far more often than a real deployment allows.
LIMITS: dict[str, Any] = {"health_limit": 100_000, "request_rate": 1000.0, "request_burst": 1000.0}
# What the README promises: polls in flight get up to 10 s, then the sinks 5 s (together).
SHUTDOWN_BOUND = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not met in time"
        time.sleep(0.05)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any WA_/WATCHDOG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))}
    return {**env, **extra}


def write_atomically(path: Path, text: str) -> None:
    """Replace a file in one step, as the kubelet does with ConfigMaps and Secrets."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


class Daemon:
    """`watchdog run` as a process, its JSON log lines collected by a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        env = {**env, "WATCHDOG_LISTEN": f"127.0.0.1:{self.port}", "WATCHDOG_LOG_FORMAT": "json"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == name:
                    found.append(entry)
        return found

    def answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def status(self) -> dict[str, dict[str, Any]]:
        """`/api/v1/status` targets by name."""
        document = httpx.get(self.url + "/api/v1/status", timeout=5).json()
        return {target["name"]: target for target in document["targets"]}

    def polls(self, target: str, endpoint: str = "metrics") -> int:
        found = self.status().get(target)
        return 0 if found is None else int(found["endpoints"][endpoint]["polls"])

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(Deployment(SimulatorConfig(api_key=KEY, **LIMITS))) as server:
        yield server


def test_sighup_reloads_targets_keeping_state_and_refuses_an_invalid_file(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """SIGHUP swaps targets (the kept one keeps counting); an invalid file changes nothing."""
    config = tmp_path / "watchdog.yaml"

    def write(names: list[str], **extra: Any) -> None:
        document = {
            "health_interval": "6s",
            "metrics_interval": "1s",
            "stats_app_interval": 0,
            "targets": [{"name": name, "url": simulator.url} for name in names],
            **extra,
        }
        write_atomically(config, yaml.safe_dump(document))

    write(["kept", "dropped"])
    env = clean_env(WA_API_KEY=KEY, WATCHDOG_CONFIG_FILE=str(config))
    daemon = Daemon(env)
    try:
        wait_for(lambda: daemon.answers("/livez"), what="the daemon answering")
        wait_for(lambda: daemon.polls("kept") >= 4, what="polls of the kept target")
        write(["kept", "added"])
        before = daemon.polls("kept")
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: set(daemon.status()) == {"kept", "added"}, what="the new target set")
        assert daemon.polls("kept") >= before  # not started again from zero
        wait_for(lambda: daemon.polls("kept") > before + 1, what="the kept target polling on")
        wait_for(lambda: daemon.polls("added") >= 1, what="the added target polled")
        [reloaded] = daemon.events("config_reloaded")
        assert (reloaded["added"], reloaded["removed"], reloaded["changed"]) == (
            ["added"],
            ["dropped"],
            [],
        )

        write(["kept", "added", "third"], health_interval="2s")
        polls = daemon.polls("kept")
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: bool(daemon.events("config_reload_failed")), what="the refusal")
        [failed] = daemon.events("config_reload_failed")
        assert failed["errors"] == [
            f"health_interval in {config}: must be at least 6s, because the health endpoint "
            "allows only 10 calls per 60 s shared by all callers (got 2s)"
        ]
        assert failed["level"] == "error"
        assert set(daemon.status()) == {"kept", "added"}
        wait_for(lambda: daemon.polls("kept") > polls, what="polling under the old config")

        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.output
    finally:
        daemon.kill()
    assert len(daemon.events("reload_requested")) == 2
    assert KEY not in daemon.output


def test_rotating_the_key_and_its_file_together_costs_at_most_one_failed_poll(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """The key file is re-read on the next poll: once it is written, at most one failed poll
    per endpoint (beside those that ended while only the API had the new key)."""
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    env = {
        "WATCHDOG_TARGETS": f"sim={simulator.url}",
        "WA_API_KEY_FILE": str(key_file),
        "WATCHDOG_METRICS_INTERVAL": "1s",
        "WATCHDOG_STATS_APP_INTERVAL": "1s",
    }
    watchdog = build_watchdog(load_settings(env), start_spread=0.1)
    endpoints = (Endpoint.HEALTH, Endpoint.METRICS, Endpoint.STATS_APP)

    def polls() -> dict[Endpoint, int]:
        found = {e: watchdog.state.get("sim", e) for e in endpoints}
        return {e: 0 if s is None else s.polls for e, s in found.items()}

    # Polls per endpoint just before the API's key changed and just after the file was written.
    window: list[dict[Endpoint, int]] = []

    def rotate() -> None:
        # The API first, then the file (as fast as an operator's script does both).
        window.append(polls())
        answer = httpx.post(f"{simulator.url}/_sim/auth", json={"api_key": NEW_KEY}, timeout=5)
        assert answer.status_code == 200
        write_atomically(key_file, NEW_KEY + "\n")
        window.append(polls())

    async def scenario() -> dict[Endpoint, int]:
        poller = watchdog.poller
        poller.start()
        try:
            while min(polls().values()) < 10:  # polling continuously, all endpoints
                poller.poll_soon()
                await asyncio.sleep(0.02)
            rotation = asyncio.create_task(asyncio.to_thread(rotate))
            while not rotation.done():
                poller.poll_soon()
                await asyncio.sleep(0.005)
            await rotation
            rotated_at = polls()
            while min(n - rotated_at[e] for e, n in polls().items()) < 10:
                poller.poll_soon()
                await asyncio.sleep(0.02)
        finally:
            await poller.shutdown()
        return rotated_at

    with capture_logs() as logs:
        asyncio.run(scenario())
    before, after = window
    for endpoint in endpoints:
        state = watchdog.state.get("sim", endpoint)
        assert state is not None
        # Polls that end while the API has the new key and the file the old one fail, however
        # many the machine's timing lets in; once the file is written, at most one more does.
        between = after[endpoint] - before[endpoint]
        assert sum(state.errors.values()) <= 1 + between, (endpoint, state.errors, between)
        assert set(state.errors) <= {"http_401"}
        assert state.last is not None
        assert state.last.ok
    assert any(e["event"] == "api_key_reloaded" for e in logs)
    old = httpx.get(f"{simulator.url}/v1/health", headers={"Authorization": f"Apikey {KEY}"})
    assert old.status_code == 401  # the polls after the rotation could only use the new key


def test_a_poll_between_the_key_and_file_changes_fails_and_the_next_one_succeeds(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    """The worst case: the poll made between the two changes fails (401); the next uses the file."""
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    env = {"WATCHDOG_TARGETS": f"sim={simulator.url}", "WA_API_KEY_FILE": str(key_file)}
    watchdog = build_watchdog(load_settings(env))
    endpoints = (Endpoint.HEALTH, Endpoint.METRICS, Endpoint.STATS_APP)

    async def round_of_polls() -> list[str | None]:
        """One poll of every endpoint, each in its own task as a job runs; their reasons."""
        reasons = []
        for endpoint in endpoints:
            observation = await asyncio.create_task(watchdog.poller.poll("sim", endpoint))
            assert observation is not None
            reasons.append(observation.result.reason)
        return reasons

    async def scenario() -> list[list[str | None]]:
        try:
            rounds = [await round_of_polls()]
            async with httpx.AsyncClient(base_url=simulator.url) as admin:
                answer = await admin.post("/_sim/auth", json={"api_key": NEW_KEY})
                assert answer.status_code == 200
            rounds.append(await round_of_polls())
            write_atomically(key_file, NEW_KEY + "\n")
            rounds += [await round_of_polls() for _ in range(3)]
            return rounds
        finally:
            await watchdog.poller.shutdown()

    rounds = asyncio.run(scenario())
    assert rounds == [[None] * 3, ["http_401"] * 3] + [[None] * 3] * 3


def statuses(messages: list[Received]) -> list[str]:
    return [str(message.body["status"]) for message in messages]


class HoldResolved:
    """Holds back the receiver's answer to a resolved message for `hold` s.

    `hold=None` answers it only when released (never, as far as the watchdog's shutdown grace
    goes).
    """

    def __init__(self, hold: float | None) -> None:
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, message: Received) -> None:
        if message.body["status"] == "resolved":
            self.arrived.set()
            self.release.wait(self.hold)


@pytest.mark.parametrize(
    ("hold", "delivered"), [(1.0, True), (None, False)], ids=["within-grace", "past-grace"]
)
def test_sigterm_while_a_resolved_alert_is_being_delivered(
    hold: float | None, delivered: bool
) -> None:
    """SIGTERM during delivery: exit 0 in time; delivered within the 5 s grace, else dropped."""
    deployment = Deployment(SimulatorConfig(api_key=KEY, key_scope=KeyScope.HEALTH_ONLY, **LIMITS))
    holding = HoldResolved(hold)
    with (
        SimulatorServer(deployment) as simulator,
        WebhookReceiver(before_answer=holding) as receiver,
    ):
        env = clean_env(
            WA_API_KEY=KEY,
            WATCHDOG_TARGETS=f"sim={simulator.url}",
            WATCHDOG_METRICS_INTERVAL="1s",
            WATCHDOG_STATS_APP_INTERVAL="0",
            WATCHDOG_WEBHOOK_URLS=receiver.url + "/hook",
            WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR="0s",
        )
        daemon = Daemon(env)
        try:
            # The key opens only the health node: 403/1005 on metrics fires WhatsAppAuthRejected.
            wait_for(lambda: "firing" in statuses(receiver.answered()), what="the firing message")
            deployment.key_scope = KeyScope.ALL  # the next metrics poll succeeds: resolved
            assert holding.arrived.wait(10), "the resolved message never arrived"
            daemon.signal(signal.SIGTERM)
            asked = time.monotonic()
            code = daemon.wait()
            took = time.monotonic() - asked
            answered = statuses(receiver.answered())  # before a held answer is let go
        finally:
            daemon.kill()
            holding.release.set()
    assert code == 0, daemon.output
    assert took < SHUTDOWN_BOUND
    undelivered = daemon.events("notifications_undelivered")
    if delivered:
        assert answered == ["firing", "resolved"]
        assert undelivered == []
    else:
        assert answered == ["firing"]
        assert took >= 4.5  # the sinks' grace was used up first
        [lost] = undelivered
        assert (lost["sink"], lost["messages"]) == ("webhook", 1)
    assert daemon.events("watchdog_stopped")
