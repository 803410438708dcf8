"""The watchdog polling a Cloud target on the Graph simulator: the pace follows Meta's usage
header (slower from 80 %, held while throttled), and the status page and /metrics show it.

The watchdog and the simulator share one fake clock that the test moves one poll interval (the
Cloud default, 5 min) at a time; each step runs the phone number's poll job through the real
scheduler (`modify_job(next_run_time=now)`, which keeps any backoff, unlike `poll_soon`) and
waits for the job's execution event. The job's own schedule is 5 min of real time away, so
every run is one the test asked for and counts are exact. The simulator counts each request
that reaches it, refused ones included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import CountingApp, FakeClock, wait_for
from watchdog.api.results import Observation
from watchdog.app import Watchdog, build_watchdog
from watchdog.config.settings import load_settings
from watchdog.simulator import GraphConfig, GraphDeployment
from watchdog.simulator.graph_app import create_graph_app
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

TOKEN = "EAAcloud-polling-test-token-0123456789"
NUMBER = "106540352242922"
TARGET = "shop"
JOB = f"{TARGET}/phone_number"
PHONE_PATH = f"/v25.0/{NUMBER}"
INTERVAL = 300.0  # the Cloud default health interval
ALLOWANCE = 100  # calls an hour: each call is 1 % of the budget


class Runs:
    """Every execution of the watchdog's poll jobs: (job id, the job's return value); the poll
    job returns its observation, or None when a backoff held it."""

    def __init__(self, watchdog: Watchdog) -> None:
        self._scheduler = watchdog.poller.scheduler
        self.done: list[tuple[str, Observation | None]] = []
        self._lock = threading.Lock()
        self._scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _executed(self, event: JobExecutionEvent) -> None:
        with self._lock:
            self.done.append((event.job_id, getattr(event, "retval", None)))

    def of(self, job: str) -> list[Observation | None]:
        with self._lock:
            return [value for job_id, value in self.done if job_id == job]

    def run(self, job: str = JOB) -> Observation | None:
        """Run the job now through the scheduler and return what it returned."""
        before = len(self.of(job))
        self._scheduler.modify_job(job, next_run_time=datetime.now(UTC))
        wait_for(lambda: len(self.of(job)) > before, f"a run of {job}")
        return self.of(job)[before]


@dataclass
class Cloud:
    clock: FakeClock
    graph: GraphDeployment
    counting: CountingApp
    simulator: BackgroundServer
    watchdog: Watchdog
    server: BackgroundServer
    runs: Runs

    def phone_requests(self) -> int:
        return self.counting.count(PHONE_PATH)

    def tick(self) -> Observation | None:
        """One interval later, the job's next run."""
        self.clock.advance(INTERVAL)
        return self.runs.run()

    def other_caller(self, calls: int) -> None:
        """Another app of the business uses `calls` of the hourly budget."""
        with httpx.Client(base_url=self.simulator.url) as client:
            for _ in range(calls):
                response = client.get(PHONE_PATH, headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code == 200, response.text

    def status(self) -> dict[str, Any]:
        document = httpx.get(f"{self.server.url}/api/v1/status").json()
        [target] = [t for t in document["targets"] if t["name"] == TARGET]
        endpoint: dict[str, Any] = target["endpoints"]["phone_number"]
        return endpoint

    def verdict(self) -> tuple[str, str]:
        """The target's level and summary on the status page (its polls' verdict)."""
        document = httpx.get(f"{self.server.url}/api/v1/status").json()
        [target] = [t for t in document["targets"] if t["name"] == TARGET]
        return target["poll_level"], target["summary"]

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"{self.server.url}/metrics").text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    clock = FakeClock()
    graph = GraphDeployment(GraphConfig(token=TOKEN, hourly_allowance=ALLOWANCE), clock=clock)
    counting = CountingApp(create_graph_app(graph))
    config = tmp_path / "watchdog.yaml"
    with BackgroundServer(counting, name="graph-simulator") as simulator:
        target = {"name": TARGET, "kind": "cloud", "url": simulator.url, "phone_number_id": NUMBER}
        config.write_text(yaml.safe_dump({"targets": [target]}))
        settings = load_settings(
            {
                "WATCHDOG_CONFIG_FILE": str(config),
                "WA_CLOUD_ACCESS_TOKEN": TOKEN,
                "WATCHDOG_CLOUD_TOKEN_INTERVAL": "0",  # only the number's node is polled
            }
        )
        watchdog = build_watchdog(settings, clock=clock, start_spread=0.2)
        runs = Runs(watchdog)
        with BackgroundServer(create_app(watchdog), lifespan="on", name="watchdog") as server:
            # The first run, on the job's own start schedule.
            wait_for(lambda: len(runs.of(JOB)) == 1, "the first poll")
            yield Cloud(clock, graph, counting, simulator, watchdog, server, runs)


def percent(observation: Observation | None) -> float | None:
    assert observation is not None
    [usage] = observation.result.usage
    return usage.call_count


def test_polls_slow_down_from_80_percent_and_hold_while_throttled(cloud: Cloud) -> None:
    [first] = cloud.runs.of(JOB)
    assert first is not None
    assert first.ok, first.result.detail
    assert percent(first) == 1
    # Below 80 %: every run polls, and nothing is held back.
    assert percent(cloud.tick()) == 2
    assert cloud.phone_requests() == 2
    assert cloud.status()["backoff_seconds"] == 0

    # Another caller takes the business to 80 %: from there, one run in two polls.
    cloud.other_caller(78)
    assert percent(cloud.tick()) == 81
    status = cloud.status()
    assert status["backoff_seconds"] == INTERVAL
    assert status["backoff_remaining_seconds"] == 2 * INTERVAL
    polled = cloud.phone_requests()
    assert cloud.tick() is None  # held
    assert cloud.phone_requests() == polled
    assert percent(cloud.tick()) == 82
    assert cloud.tick() is None
    assert cloud.phone_requests() == polled + 1

    # The budget runs out: Graph refuses with 80008 and says when access comes back (the
    # calls of the past hour leave the window); the polls hold until then.
    cloud.other_caller(ALLOWANCE - 82)
    throttled = cloud.tick()
    assert throttled is not None
    assert throttled.result.reason == "graph_throttled"
    [usage] = throttled.result.usage
    regain = usage.regain_minutes
    assert regain is not None
    assert regain > INTERVAL / 60
    status = cloud.status()
    assert status["reason"] == "graph_throttled"
    assert status["backoff_seconds"] == pytest.approx(regain * 60 - INTERVAL)
    refused = cloud.phone_requests()
    held = 0
    while cloud.clock.now + INTERVAL < throttled.result.started_at + regain * 60:
        assert cloud.tick() is None
        held += 1
        # Blind on Meta's request, not broken: the last answer stands all through the hold
        # (three intervals would have ended it), with the number's state on the page.
        level, summary = cloud.verdict()
        assert level == "warning", summary
        assert "last answer: CONNECTED, can send messages" in summary
    assert held >= 3
    assert cloud.phone_requests() == refused  # not one call while throttled

    # Access is back: polls go again, at the full pace once the usage is low.
    again = cloud.tick()
    assert again is not None
    assert again.ok, again.result.detail
    assert cloud.phone_requests() == refused + 1
    assert cloud.runs.of(JOB).count(None) == 2 + held


def series(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset({"target": TARGET, **labels}.items())


def test_metrics_carry_the_cloud_target(cloud: Cloud) -> None:
    """whatsapp_up of the number's endpoint, the usage, and the throttled polls as errors."""
    samples = cloud.samples()
    up = {labels: value for (name, labels), value in samples.items() if name == "whatsapp_up"}
    # Only the number's node: no On-Prem endpoint, no WABA without waba_id, no token polls.
    assert up == {series("whatsapp_up", endpoint="phone_number")[1]: 1}
    usage = {
        dict(labels)["dimension"]: value
        for (name, labels), value in samples.items()
        if name == "whatsapp_cloud_rate_limit_usage_percent"
    }
    assert usage == {"call_count": 1, "total_cputime": 0, "total_time": 0}

    cloud.other_caller(ALLOWANCE - 1)
    throttled = cloud.tick()
    assert throttled is not None
    assert throttled.result.reason == "graph_throttled"
    samples = cloud.samples()
    assert samples[series("whatsapp_up", endpoint="phone_number")] == 0
    errors = series("whatsapp_poll_errors_total", endpoint="phone_number", reason="graph_throttled")
    assert samples[errors] == 1
    assert samples[series("whatsapp_poll_backoff_seconds", endpoint="phone_number")] > INTERVAL
    # The refusal's header is the latest usage: the whole budget.
    assert (
        samples[
            series(
                "whatsapp_cloud_rate_limit_usage_percent",
                business_id="506914307656634",
                type="whatsapp_business_management",
                dimension="call_count",
            )
        ]
        == 100
    )
