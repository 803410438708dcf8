"""Backoff: the requests an API answering 503 gets from the watchdog, against a healthy one.

One watchdog (`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s,
stats_db off) polls two simulated deployments (`watchdog simulate --deployments 2`). After a
warm-up (`--warmup` s after `/readyz`, default 70 s: by then every job is past its quick first
run and on its phase, `watchdog/poll/trigger.py`), the second deployment is switched to `overloaded`
(every endpoint answers 503, code 1016) for `--duration` s (default 120), then back to healthy.

Requests are counted where they land, from the simulator's `/_sim/arrivals`: what each
deployment received during the 503 window, per endpoint. The healthy deployment, polled by the
same watchdog over the same window, is the baseline. After a 429 or a 503 the watchdog holds an
endpoint's next poll back (`watchdog/poll/scheduler.py`): 2 intervals after the first, then 4 (the
cap), so the schedule predicts the counts, printed next to them. Goal: at most half the
baseline's requests.

Recovery: from the switch back to healthy until the watchdog's `/api/v1/status` (read every
0.1 s) shows the target's last health poll ok, with its floor, the arrival of the first health
request after the switch. The backoff's cap bounds it: goal within 4 health intervals.

    .venv/bin/python benchmarks/backoff.py [--duration 120] [--warmup 70]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

import httpx
from processes import free_port, start_simulator, stop, wait_ready, wait_simulator
from report import figure

SCRIPT = "backoff.py"
KEY = "backoff-benchmark-key-0123"
HEALTHY, OVERLOADED = "healthy", "overloaded"
DEPLOYMENTS = {HEALTHY: "wa-0", OVERLOADED: "wa-1"}
# The default intervals, by the path the simulator sees and the watchdog's endpoint name.
INTERVALS = {"/v1/health": 15.0, "/metrics": 30.0, "/v1/stats/app": 60.0}
NAMES = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "stats_app"}
# As watchdog/poll/scheduler.py: the gap after the n-th throttled answer in a row, in intervals.
MAX_BACKOFF_INTERVALS = 4
RATIO_GOAL = 0.5
RECOVERY_GOAL_INTERVALS = 4


def backed_off(duration: float, interval: float) -> tuple[int, int]:
    """Polls an endpoint answering 503 gets within `duration` s of the onset, fewest and most.

    The first comes within an interval of the onset (at `u`), then after 2 intervals, then
    every MAX_BACKOFF_INTERVALS; `u` anywhere in [0, interval).
    """

    def count(u: float) -> int:
        polls, at, gap = 0, u, 2
        while at < duration:
            polls += 1
            at += gap * interval
            gap = min(2 * gap, MAX_BACKOFF_INTERVALS)
        return polls

    early, late = count(0.0), count(interval - 1e-6)
    return min(early, late), max(early, late)


def target_status(base: str, name: str) -> dict[str, Any]:
    document = httpx.get(base + "/api/v1/status", timeout=10).json()
    found: dict[str, Any] = next(t for t in document["targets"] if t["name"] == name)
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any WA_/WATCHDOG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))}
    return {**env, **extra}


def switch(sim: str, scenario: str) -> float:
    """Switch the second deployment; the time the switch was in effect."""
    response = httpx.post(
        f"{sim}/{DEPLOYMENTS[OVERLOADED]}/_sim/scenario", json={"scenario": scenario}, timeout=10
    )
    response.raise_for_status()
    return time.time()


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of 503s")
    parser.add_argument("--warmup", type=float, default=70.0, help="seconds after /readyz")
    args = parser.parse_args()

    sim_port, watchdog_port = free_port(), free_port()
    env = clean_env(WA_API_KEY=KEY)
    simulator = start_simulator(sim_port, len(DEPLOYMENTS), env)
    sim = f"http://127.0.0.1:{sim_port}"
    base = f"http://127.0.0.1:{watchdog_port}"
    watchdog = None
    health_interval = INTERVALS["/v1/health"]
    recovery_timeout = (MAX_BACKOFF_INTERVALS + 2) * health_interval
    try:
        if wait_simulator(sim_port, len(DEPLOYMENTS), 60.0) is None:
            return 1
        targets = ",".join(f"{name}={sim}/{d}" for name, d in DEPLOYMENTS.items())
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env={**env, "WATCHDOG_TARGETS": targets, "WATCHDOG_LOG_LEVEL": "warning",
                 "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ready = wait_ready(base + "/readyz", 60.0, watchdog)
        if ready is None:
            print("the watchdog did not get ready within 60 s")
            return 1
        print(f"watchdog ready after {ready:.1f} s; warm-up {args.warmup:.0f} s", flush=True)
        time.sleep(args.warmup)

        onset = switch(sim, "overloaded")
        print(f"{DEPLOYMENTS[OVERLOADED]} answers 503 for {args.duration:.0f} s", flush=True)
        # The backoff the watchdog shows meanwhile (status, every second), per endpoint.
        most: dict[str, float] = {}
        healthy_backoff = 0.0
        while time.time() < onset + args.duration:
            time.sleep(min(1.0, max(0.0, onset + args.duration - time.time())))
            for endpoint, state in target_status(base, OVERLOADED)["endpoints"].items():
                most[endpoint] = max(most.get(endpoint, 0.0), state["backoff_seconds"])
            for state in target_status(base, HEALTHY)["endpoints"].values():
                healthy_backoff = max(healthy_backoff, state["backoff_seconds"])
        back = switch(sim, "healthy")

        seen = None
        while time.time() < back + recovery_timeout:
            health = target_status(base, OVERLOADED)["endpoints"]["health"]
            if health["ok"]:
                seen = time.time()
                break
            time.sleep(0.1)
        after = target_status(base, OVERLOADED)["endpoints"]["health"]
        arrivals: list[tuple[float, str]] = httpx.get(
            f"{sim}/_sim/arrivals", params={"since": onset - 1}, timeout=60
        ).json()["arrivals"]
    finally:
        stop(watchdog)
        stop(simulator)

    def window(deployment: str, path: str) -> int:
        full = f"/{deployment}{path}"
        return sum(1 for at, p in arrivals if p == full and onset <= at < back)

    span = back - onset
    print(f"\n{span:.0f} s of 503s; requests that reached each deployment in that window\n")
    print("| endpoint | interval | healthy (baseline) | answering 503 | expected from the backoff "
          "| most backoff shown |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    totals = {HEALTHY: 0, OVERLOADED: 0}
    low = high = 0
    for path, interval in INTERVALS.items():
        counts = {name: window(d, path) for name, d in DEPLOYMENTS.items()}
        for name, count in counts.items():
            totals[name] += count
        fewest, most_polls = backed_off(span, interval)
        low, high = low + fewest, high + most_polls
        expected = str(fewest) if fewest == most_polls else f"{fewest}-{most_polls}"
        print(f"| {NAMES[path]} | {interval:.0f} s | {counts[HEALTHY]} | {counts[OVERLOADED]} "
              f"| {expected} | {most.get(NAMES[path], 0.0):.0f} s |")  # fmt: skip
    print(f"| all | | {totals[HEALTHY]} | {totals[OVERLOADED]} | {low}-{high} | |")
    ratio = totals[OVERLOADED] / totals[HEALTHY] if totals[HEALTHY] else float("nan")
    per_minute = {name: count * 60 / span for name, count in totals.items()}
    print(
        f"\nRequests per minute: {per_minute[OVERLOADED]:.1f} to the deployment answering 503, "
        f"{per_minute[HEALTHY]:.1f} to the healthy one: {ratio:.2f}x. Backoff shown on the "
        f"healthy target meanwhile: {healthy_backoff:.0f} s."
    )

    first_health = next(
        (at for at, p in arrivals if p == f"/{DEPLOYMENTS[OVERLOADED]}/v1/health" and at >= back),
        None,
    )
    floor = None if first_health is None else first_health - back
    recovery = None if seen is None else seen - back
    print(
        "Recovery: switched back to healthy; the first health request arrived after "
        + ("(none)" if floor is None else f"{floor:.1f} s")
        + ", the status showed health ok after "
        + ("(not within the timeout)" if recovery is None else f"{recovery:.1f} s")
        + f" ({'-' if recovery is None else f'{recovery / health_interval:.1f}'} health "
        f"intervals); backoff shown then: {after['backoff_seconds']:.0f} s."
    )
    figure(
        SCRIPT,
        f"requests to an API answering 503 for {span:.0f} s / to a healthy one, "
        "same watchdog and window",
        f"{ratio:.2f}x ({totals[OVERLOADED]} / {totals[HEALTHY]})",
        f"≤ {RATIO_GOAL:g}x",
        ratio <= RATIO_GOAL,
    )
    goal = RECOVERY_GOAL_INTERVALS * health_interval
    figure(
        SCRIPT,
        "503s over to health seen ok in /api/v1/status (floor: next health request arrived)",
        "not seen"
        if recovery is None
        else f"{recovery:.1f} s ({'-' if floor is None else f'{floor:.1f} s'})",
        f"≤ {goal:.0f} s ({RECOVERY_GOAL_INTERVALS} health intervals)",
        recovery is not None and recovery <= goal,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
