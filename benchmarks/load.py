"""Load on the watchdog: many clients on /metrics and /probe while it polls many targets.

One run, three processes on this machine: the simulator (`watchdog simulate --deployments N`),
the watchdog (`watchdog run`, default intervals) and this script as the load generator. First a
quiet phase (baseline), then a loaded phase of the same length with `--clients` concurrent
clients, each sending requests back to back (a fifth on `/metrics`, the rest on
`/probe/<target>/ready`). For each phase it prints requests, errors (anything but 200, or a
transport failure), request latency, and the schedule lag of the polls that started in it
(from the watchdog's own `watchdog_schedule_lag_seconds` histogram), so the loaded phase is
read against the quiet one measured in the same run.

    .venv/bin/python benchmarks/load.py [--targets 50] [--clients 200] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from processes import free_port, simulator_targets, start_simulator, wait_ready
from prometheus_client.parser import text_string_to_metric_families
from report import figure

KEY = "load-benchmark-key-0123"


def lag_buckets(base: str) -> dict[float, float]:
    """The schedule-lag histogram's cumulative buckets, by upper bound."""
    text = httpx.get(base + "/metrics", timeout=30).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "watchdog_schedule_lag_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] = sample.value
    return buckets


@dataclass
class Phase:
    name: str
    requests: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    polls: float = 0.0
    late_polls: float = 0.0  # polls that started more than 250 ms late
    lag_p99_bound: float = 0.0

    def lag(self, before: dict[float, float], after: dict[float, float]) -> None:
        delta = {bound: after.get(bound, 0.0) - before.get(bound, 0.0) for bound in after}
        self.polls = delta.get(float("inf"), 0.0)
        self.late_polls = self.polls - delta.get(0.25, 0.0)
        for bound in sorted(delta):
            if self.polls and delta[bound] >= 0.99 * self.polls:
                self.lag_p99_bound = bound
                break

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def hammer(base: str, targets: int, clients: int, duration: float, phase: Phase) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        stop = time.monotonic() + duration

        async def client(index: int) -> None:
            turn = 0
            while time.monotonic() < stop:
                if index % 5 == 0:
                    path = "/metrics"
                else:
                    path = f"/probe/wa-{(index + turn) % targets}/ready"
                turn += 1
                started = time.perf_counter()
                kind = path.split("/")[1]
                try:
                    answer = await http.get(base + path)
                    error = "" if answer.status_code == 200 else f"{kind} {answer.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{kind} {type(exc).__name__}"
                phase.latencies.append(time.perf_counter() - started)
                phase.requests += 1
                if error:
                    phase.errors += 1
                    phase.error_kinds[error] += 1

        await asyncio.gather(*(client(i) for i in range(clients)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    sim_port, watchdog_port = free_port(), free_port()
    env = {**os.environ, "WA_API_KEY": KEY, "WATCHDOG_LOG_LEVEL": "warning"}
    simulator = start_simulator(sim_port, args.targets, env)
    targets = simulator_targets(sim_port, args.targets)
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "run"],
        env={**env, "WATCHDOG_TARGETS": targets, "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{watchdog_port}"
    try:
        if wait_ready(base + "/readyz", 60.0, watchdog) is None:
            raise SystemExit("the watchdog did not get ready within 60 s")
        phases = []
        for name, clients in (("quiet (baseline)", 0), (f"{args.clients} clients", args.clients)):
            phase = Phase(name)
            before = lag_buckets(base)
            if clients:
                asyncio.run(hammer(base, args.targets, clients, args.duration, phase))
            else:
                time.sleep(args.duration)
            phase.lag(before, lag_buckets(base))
            phases.append(phase)
    finally:
        for process in (watchdog, simulator):
            process.terminate()
            process.wait(timeout=30)

    print(f"{args.targets} targets at default intervals, {args.duration:.0f} s per phase\n")
    header = (
        "| phase | requests | errors | req/s | latency p50 | latency p99 "
        "| polls | polls > 250 ms late | lag p99 at most |"
    )
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in phases:
        print(
            f"| {p.name} | {p.requests} | {p.errors} | {p.requests / args.duration:.0f} "
            f"| {p.quantile(0.5) * 1000:.0f} ms | {p.quantile(0.99) * 1000:.0f} ms "
            f"| {p.polls:.0f} | {p.late_polls:.0f} | {p.lag_p99_bound * 1000:.0f} ms |"
        )
    for p in phases:
        if p.error_kinds:
            print(f"{p.name}: errors " + ", ".join(f"{k}: {n}" for k, n in p.error_kinds.items()))
    quiet, loaded = phases
    if quiet.lag_p99_bound:
        ratio = loaded.lag_p99_bound / quiet.lag_p99_bound
        print(f"\nlag p99 bound, loaded / quiet: {ratio:.1f}x")
    where = f"{args.clients} clients on /metrics and /probe, {args.targets} targets"
    figure(
        "load.py", f"errors, {where}", f"{loaded.errors} of {loaded.requests}", "0",
        loaded.errors == 0,
    )  # fmt: skip
    figure(
        "load.py", f"polls > 250 ms late, {where} (quiet: {quiet.late_polls:.0f})",
        f"{loaded.late_polls:.0f} of {loaded.polls:.0f}", "0", loaded.late_polls == 0,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
