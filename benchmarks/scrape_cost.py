"""Scrape cost: rendering `/metrics` for many targets against prometheus_client alone.

The watchdog builds its families from the state on every render (collector) and prometheus_client
turns them into text, under the daemon's memory policy (`watchdog.memory`: full garbage
collections on a schedule, not during renders). The baseline, measured in the same run, is
prometheus_client's `generate_latest` over a registry pre-filled with exactly the same series
(the families built once and handed back as they are), so the ratio is what the watchdog's
collecting adds.

With fewer than `--series` series at `--targets` (100 HA deployments give about 20,500), it
measures again with enough targets for that many (the issue's "about 30k series").

    .venv/bin/python benchmarks/scrape_cost.py [--targets 100] [--series 30000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from report import figure

from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult, observe
from watchdog.base.targets import Target
from watchdog.export.collector import WatchdogCollector
from watchdog.memory import defer_full_collections
from watchdog.simulator import Deployment, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import State

NOW = 1_800_000_000.0
RATIO_GOAL = 1.5


def filled_state(targets: int) -> State:
    """`targets` HA deployments, every endpoint polled once with the simulator's answers."""
    names = [Target(name=f"wa-{i}", url=f"http://wa-{i}.test", stats_db_interval=300)
             for i in range(targets)]  # fmt: skip
    state = State(names, clock=lambda: NOW)
    for i, target in enumerate(names):
        d = Deployment(SimulatorConfig(topology=Topology.HA, seed=i), clock=lambda: NOW)
        d.metrics(NOW - 3600)  # an hour of traffic, so counters and summaries have values
        answers: dict[Endpoint, Any] = {
            Endpoint.HEALTH: {"health": d.health(NOW)},
            Endpoint.METRICS: {"metrics": d.metrics(NOW)},
            Endpoint.STATS_APP: {"stats": {"app": d.stats_app(NOW)}},
            Endpoint.STATS_DB: {"stats": {"db": d.stats_db(NOW)}},
        }
        for endpoint, body in answers.items():
            assert not any(isinstance(v, ApiError) for v in body.values())
            result = PollResult(target.name, endpoint, NOW, 0.02, 200, None, body=body)
            state.record(observe(result))
    return state


class Prebuilt(Collector):
    """The baseline: families built once, handed back on every collect."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def timed(registry: CollectorRegistry, rounds: int) -> tuple[float, bytes]:
    times = []
    body = b""
    for _ in range(rounds):
        started = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - started)
    return median(times), body


@dataclass(frozen=True)
class Measured:
    targets: int
    series: int
    size: int  # bytes per scrape
    baseline: float  # median render seconds
    watchdog: float

    @property
    def ratio(self) -> float:
        return self.watchdog / self.baseline


def measure(targets: int, rounds: int) -> Measured:
    state = filled_state(targets)
    collector = WatchdogCollector(state, clock=lambda: NOW)
    watchdog = CollectorRegistry(auto_describe=False)
    watchdog.register(collector)
    baseline = CollectorRegistry(auto_describe=False)
    baseline.register(Prebuilt(list(collector.collect())))

    base_time, base_body = timed(baseline, rounds)
    ours_time, ours_body = timed(watchdog, rounds)
    assert ours_body == base_body, "the baseline must render exactly the same series"
    series = sum(1 for line in ours_body.splitlines() if line and not line.startswith(b"#"))
    return Measured(targets, series, len(ours_body), base_time, ours_time)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument(
        "--series", type=int, default=30_000,
        help="also measure with enough targets for this many series, if --targets has fewer",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    # The memory policy of `watchdog run`: no full collection starts in the middle of a render
    # (with CPython's own thresholds they did, more often the larger the state, and cost the
    # collector up to a fifth more at 30,000 series).
    defer_full_collections()

    runs = [measure(args.targets, args.rounds)]
    if runs[0].series < args.series:
        per_target = runs[0].series / args.targets
        runs.append(measure(math.ceil(args.series / per_target), args.rounds))
    print(f"HA targets, median of {args.rounds} renders each\n")
    print(
        "| targets | series | per scrape | baseline: prometheus_client over pre-built families "
        "| watchdog: collector over the state + prometheus_client | per 1k series | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(
            f"| {run.targets} | {run.series} | {run.size / 1e6:.1f} MB "
            f"| {run.baseline * 1000:.0f} ms | {run.watchdog * 1000:.0f} ms "
            f"| {run.watchdog * 1e6 / run.series:.1f} µs | {run.ratio:.2f}x |"
        )
    print()
    for run in runs:
        figure(
            "scrape_cost.py",
            f"/metrics render, {run.targets} targets ({run.series} series, "
            f"{run.size / 1e6:.1f} MB), watchdog / prometheus_client",
            f"{run.ratio:.2f}x ({run.watchdog * 1000:.0f} / {run.baseline * 1000:.0f} ms)",
            f"≤ {RATIO_GOAL}x",
            run.ratio <= RATIO_GOAL,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
