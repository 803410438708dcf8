"""Scrape cost: rendering `/metrics` for many targets against prometheus_client alone.

`/metrics` is made from every target's part, encoded when its polls are recorded
(`watchdog/export/parts.py`), and joined at the scrape (`watchdog/export/exposition.py`). Three
renders of the same state are measured against one baseline, in the same run:

- baseline: prometheus_client's `generate_latest` over a registry pre-filled with exactly the
  same series (the families built once and handed back as they are);
- one pass: the collector building every family from the state, then `generate_latest` (what
  `/metrics` did before the parts, and still does for formats the parts cannot make);
- cold scrape: the parts with none encoded yet, so the scrape encodes every target's (the first
  scrape after start, or after a reload that changed every target);
- warm scrape: the parts as the polls left them, so the scrape only joins them: what a scrape
  costs in steady state.

Every body is asserted byte-identical to the baseline's. All of it under the daemon's memory
policy (`watchdog.memory`: full garbage collections on a schedule, not during renders).

With fewer than `--series` series at `--targets` (100 HA deployments give about 20,500), it
measures again with enough targets for that many (the issue's "about 30k series").

    .venv/bin/python benchmarks/scrape_cost.py [--targets 100] [--series 30000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
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
from watchdog.export.exposition import Exposition
from watchdog.export.parts import Parts
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


def joined(state: State, rounds: int, *, warm: bool) -> tuple[float, bytes]:
    """Median seconds of a scrape from the parts (slices run back to back), and its body."""
    parts = Parts(state, clock=lambda: NOW)
    exposition = Exposition(parts, CollectorRegistry(auto_describe=False), max_age=-1.0)
    if warm:  # what the poller does after each poll
        for target, endpoint, _ in state.items():
            parts.update(target.name, endpoint)

    async def scrapes() -> tuple[list[float], bytes]:
        times = []
        body = b""
        for _ in range(rounds):
            if not warm:
                exposition.parts = Parts(state, clock=lambda: NOW)
            started = time.perf_counter()
            body = (await exposition.body("")).content
            times.append(time.perf_counter() - started)
        return times, body

    times, body = asyncio.run(scrapes())
    return median(times), body


@dataclass(frozen=True)
class Measured:
    targets: int
    series: int
    size: int  # bytes per scrape
    baseline: float  # median render seconds
    one_pass: float
    cold: float
    warm: float


def measure(targets: int, rounds: int) -> Measured:
    state = filled_state(targets)
    collector = WatchdogCollector(state, clock=lambda: NOW)
    watchdog = CollectorRegistry(auto_describe=False)
    watchdog.register(collector)
    baseline = CollectorRegistry(auto_describe=False)
    baseline.register(Prebuilt(list(collector.collect())))

    base_time, base_body = timed(baseline, rounds)
    one_pass, one_pass_body = timed(watchdog, rounds)
    cold, cold_body = joined(state, rounds, warm=False)
    warm, warm_body = joined(state, rounds, warm=True)
    for body in (one_pass_body, cold_body, warm_body):
        assert body == base_body, "every render must make exactly the baseline's series"
    series = sum(1 for line in base_body.splitlines() if line and not line.startswith(b"#"))
    return Measured(targets, series, len(base_body), base_time, one_pass, cold, warm)


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
        "| one pass: collector + prometheus_client | cold scrape: every part encoded "
        "| warm scrape: parts joined | warm per 1k series |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        ms = [
            f"{t * 1000:.0f} ms ({t / run.baseline:.2f}x)"
            for t in (run.one_pass, run.cold, run.warm)
        ]
        print(
            f"| {run.targets} | {run.series} | {run.size / 1e6:.1f} MB "
            f"| {run.baseline * 1000:.0f} ms | {' | '.join(ms)} "
            f"| {run.warm * 1e6 / run.series:.1f} µs |"
        )
    print()

    def ratio(seconds: float, baseline: float) -> str:
        return f"{seconds / baseline:.2f}x ({seconds * 1000:.0f} / {baseline * 1000:.0f} ms)"

    for run in runs:
        what = f"{run.targets} targets ({run.series} series, {run.size / 1e6:.1f} MB)"
        figure(
            "scrape_cost.py",
            f"/metrics cold scrape (every part encoded), {what}, watchdog / prometheus_client",
            ratio(run.cold, run.baseline),
            f"≤ {RATIO_GOAL}x",
            run.cold / run.baseline <= RATIO_GOAL,
        )
        figure(
            "scrape_cost.py",
            f"/metrics warm scrape (parts joined), {what}, watchdog / prometheus_client",
            ratio(run.warm, run.baseline),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
