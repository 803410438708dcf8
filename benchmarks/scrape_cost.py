"""Scrape cost: rendering `/metrics` for many targets against prometheus_client alone.

The watchdog builds its families from the state on every render (collector) and prometheus_client
turns them into text. The baseline, measured in the same run, is prometheus_client's
`generate_latest` over a registry pre-filled with exactly the same series (the families built
once and handed back as they are), so the ratio is what the watchdog's collecting adds.

    .venv/bin/python benchmarks/scrape_cost.py [--targets 100] [--rounds 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from statistics import median
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from watchdog.collector import WatchdogCollector
from watchdog.results import Endpoint, PollResult, observe
from watchdog.simulator import Deployment, SimulatorConfig, Topology
from watchdog.simulator.errors import ApiError
from watchdog.state import State
from watchdog.targets import Target

NOW = 1_800_000_000.0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    state = filled_state(args.targets)
    collector = WatchdogCollector(state, clock=lambda: NOW)
    watchdog = CollectorRegistry(auto_describe=False)
    watchdog.register(collector)
    baseline = CollectorRegistry(auto_describe=False)
    baseline.register(Prebuilt(list(collector.collect())))

    base_time, base_body = timed(baseline, args.rounds)
    ours_time, ours_body = timed(watchdog, args.rounds)
    assert ours_body == base_body, "the baseline must render exactly the same series"
    series = sum(1 for line in ours_body.splitlines() if line and not line.startswith(b"#"))
    print(f"{args.targets} HA targets, {series} series, {len(ours_body) / 1e6:.1f} MB per scrape, "
          f"median of {args.rounds} renders\n")  # fmt: skip
    print("| render | median | per 1k series |")
    print("|---|---:|---:|")
    for name, seconds in (
        ("baseline: prometheus_client over pre-built families", base_time),
        ("watchdog: collector over the state + prometheus_client", ours_time),
    ):
        print(f"| {name} | {seconds * 1000:.0f} ms | {seconds * 1e6 / series:.0f} µs |")
    print(f"\nratio watchdog / baseline: {ours_time / base_time:.2f}x (target: at most 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
