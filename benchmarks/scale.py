"""Scale: CPU per poll, schedule lag, detection and /metrics scrapes with many targets.

One run, on a two-core machine: the simulator (`watchdog simulate --deployments N`) pinned to
one core, and on the other core, one after the other,

1. the watchdog (`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s,
   stats_db off), its time to `/readyz` (goal: within a health interval, 15 s), then after a
   warm-up of two stats_app intervals (120 s; a job's quick first run is followed by its runs
   on its phase one to two intervals later) two windows of `--duration` s, one after the other:
   a. without scrapes. During it, `--incidents` times one after the other, a random target's
      simulator is switched to `overloaded` (every endpoint answers 503) and the script's
      webhook receiver waits for the watchdog's `WhatsAppOverloaded` message for it: the
      detection latency, to be within a health interval + 1 s. Its floor, the wait for that
      target's next poll, is known exactly from the schedule (`watchdog.poll.trigger`), so what
      the watchdog adds is printed too. The incidents run in this window only (the next one
      starts once the last has ended), so the two windows differ by the scrapes alone;
   b. with a `/metrics` scrape every 15 s, as Prometheus does (`scraper.py`: Prometheus's
      `Accept` asking for OpenMetrics, `Accept-Encoding: gzip`, the whole body read, never more
      than one scrape in flight; its thread on the simulator's core, where a Prometheus server
      elsewhere would not take the watchdog's CPU). Each scrape is timed from the request to
      the last byte (goal: p50 ≤ 1 s) and checked afterwards: 200, gzip that decompresses,
      OpenMetrics ending in `# EOF`. The schedule lag p99 in this window is held against the
      first window's (goal ≤ 1.25x), and its CPU per poll, renders included, against the
      baseline's like the first window's;
2. the baseline: a bare asyncio loop (this script with `--baseline-worker`) with one
   `httpx.AsyncClient` per target sending the same GETs with `Authorization: Apikey` on the
   same schedule (the jobs' phases), reading each body and nothing more, measured over a
   window of the same length.

Every window is measured the same way, from outside: CPU seconds are utime + stime (from
/proc/<pid>/stat for the watchdog, `os.times()` in the baseline) read at the window's ends;
polls and their lag come from the simulator's `/_sim/arrivals`, which says when each request
arrived. A request's lag is how long after its due time on the phase it arrived; a due time
with no request for its job within its interval is a missed poll. The watchdog's own metrics
are not used for this: reading them is exactly what the second window measures.

    .venv/bin/python benchmarks/scale.py [--targets 2000] [--duration 120] [--incidents 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import httpx
from incidents import Incident, WebhookReceiver, detection_table, incidents
from processes import (
    cpu_seconds,
    free_port,
    simulator_targets,
    start_simulator,
    wait_ready,
    wait_simulator,
)
from report import figure
from scraper import Scraper, scrape_figures, scrape_table

from watchdog.poll.transport import KEEPALIVE_EXPIRY
from watchdog.poll.trigger import next_on_phase, phase

KEY = "scale-benchmark-key-0123"
INTERVALS = {"/v1/health": 15.0, "/metrics": 30.0, "/v1/stats/app": 60.0}
ENDPOINT_NAMES = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "stats_app"}
LAG_GOAL = 0.25
DETECTION_SLACK = 1.0  # goal: a 503 alerted within a health interval + this
CPU_RATIO_GOAL = 1.5
SCRAPE_INTERVAL = 15.0  # Prometheus's usual scrape interval
SCRAPE_GOAL = 1.0  # p50 seconds, request to last byte
SCRAPED_LAG_GOAL = 1.25  # lag p99 while scraped / without scrapes
READY_GOAL = INTERVALS["/v1/health"]  # /readyz within one health interval of the start
# A due time this close to the window's end is not judged missed: its request may come after.
MISS_MARGIN = 5.0


@dataclass(frozen=True)
class Schedule:
    """What the simulator saw of a poller between `start` and `end` (epoch seconds)."""

    start: float
    end: float
    polls: int  # poll requests that arrived
    expected: int  # due times early enough in the window to be judged
    missed: int  # of those, due times with no request for that job within the interval
    lags: list[float]  # per request: how long after its due time it arrived, sorted
    missed_jobs: list[str]  # the job of each missed due time

    def lag(self, q: float) -> float:
        return self.lags[min(len(self.lags) - 1, int(q * len(self.lags)))] if self.lags else 0.0


def schedule(sim: str, targets: int, start: float, end: float) -> Schedule:
    """The poll requests that reached the simulator in [start, end], against the schedule.

    A request's due time is the last time on its job's phase (`watchdog.poll.trigger.phase`) before
    it arrived, so its lag is the rest; a lag above half an interval would read as early.
    """
    answer = httpx.get(f"{sim}/_sim/arrivals", params={"since": start}, timeout=120).json()
    arrivals: dict[str, list[float]] = defaultdict(list)
    lags = []
    for at, path in answer["arrivals"]:
        name, _, endpoint = path[1:].partition("/")
        interval = INTERVALS.get("/" + endpoint)
        if at > end or interval is None:
            continue
        job_id = f"{name}/{ENDPOINT_NAMES['/' + endpoint]}"
        lags.append((at - phase(job_id, interval) + interval / 2) % interval - interval / 2)
        arrivals[job_id].append(at)
    expected = 0
    missed: list[str] = []
    for i in range(targets):
        for path, interval in INTERVALS.items():
            job_id = f"wa-{i}/{ENDPOINT_NAMES[path]}"
            due = next_on_phase(start, interval, phase(job_id, interval))
            while due <= end - MISS_MARGIN:
                expected += 1
                limit = min(due + interval, end)
                if not any(due - 0.1 <= at < limit for at in arrivals[job_id]):
                    missed.append(job_id)
                due += interval
    polls = sum(map(len, arrivals.values()))
    return Schedule(start, end, polls, expected, len(missed), sorted(lags), missed)


# -- the baseline: a bare asyncio loop -----------------------------------------------------------


async def baseline(port: int, targets: int, warmup: float, duration: float) -> dict[str, float]:
    clients = [
        httpx.AsyncClient(
            timeout=30,
            limits=httpx.Limits(
                max_connections=4, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_EXPIRY
            ),
            headers={"Accept": "application/json"},
        )
        for _ in range(targets)
    ]
    # Epoch seconds, like the watchdog's schedule: phases are times of day.
    start = time.time()
    window_start, window_end = start + warmup, start + warmup + duration
    counts = {"requests": 0, "non_2xx": 0, "errors": 0}
    marks_at: dict[str, float] = {}

    async def job(index: int, path: str, interval: float) -> None:
        name = f"wa-{index}"
        url = f"http://127.0.0.1:{port}/{name}{path}"
        headers = {"Authorization": f"Apikey {KEY}"}
        job_id = f"{name}/{ENDPOINT_NAMES[path]}"
        # Straight onto the phase: the baseline needs the watchdog's steady schedule, not its
        # quick first runs, which take two intervals to settle (see the watchdog's warm-up).
        offset = phase(job_id, interval)
        due = next_on_phase(start, interval, offset)
        http = clients[index]
        while due < window_end:
            await asyncio.sleep(max(0.0, due - time.time()))
            now = time.time()
            if now >= window_end:
                return
            in_window = now >= window_start
            try:
                answer = await http.get(url, headers=headers)
                await answer.aread()
                bad = not 200 <= answer.status_code < 300
                failed = False
            except httpx.HTTPError:
                bad, failed = False, True
            if in_window:
                counts["requests"] += 1
                counts["non_2xx"] += bad
                counts["errors"] += failed
            due = next_on_phase(due + interval, interval, offset)
            while due < time.time():  # coalesce missed runs, like the watchdog
                due = next_on_phase(due + interval, interval, offset)

    async def marks() -> None:
        await asyncio.sleep(max(0.0, window_start - time.time()))
        marks_at["cpu0"], marks_at["t0"] = sum(os.times()[:2]), time.time()
        await asyncio.sleep(max(0.0, window_end - time.time()))
        marks_at["cpu1"], marks_at["t1"] = sum(os.times()[:2]), time.time()

    jobs = [job(i, path, interval) for i in range(targets) for path, interval in INTERVALS.items()]
    await asyncio.gather(marks(), *jobs)
    for http in clients:
        await http.aclose()
    return {
        **counts,
        "cpu": marks_at["cpu1"] - marks_at["cpu0"],
        "t0": marks_at["t0"],
        "t1": marks_at["t1"],
    }


# -- detection latency: its floor, from the schedule -------------------------------------------


def next_poll(name: str, after: float) -> float:
    """When the watchdog polls `name` next after `after`: its jobs are on their phases."""
    return min(
        next_on_phase(after, interval, phase(f"{name}/{ENDPOINT_NAMES[path]}", interval))
        for path, interval in INTERVALS.items()
    )


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One measured window of the watchdog: its ends, its CPU, the simulator's share of a core."""

    start: float
    end: float
    cpu: float
    sim_share: float


def window(watchdog: int, simulator: int, duration: float) -> Window:
    cpu0, sim0, t0 = cpu_seconds(watchdog), cpu_seconds(simulator), time.time()
    time.sleep(duration)
    cpu1, sim1, t1 = cpu_seconds(watchdog), cpu_seconds(simulator), time.time()
    return Window(t0, t1, cpu1 - cpu0, (sim1 - sim0) / (t1 - t0))


def per_poll(cpu: float, seen: Schedule) -> float:
    """CPU milliseconds per poll that arrived."""
    return cpu / seen.polls * 1000 if seen.polls else float("nan")


def some(jobs: list[str], shown: int = 5) -> str:
    return ", ".join(jobs[:shown]) + (f" and {len(jobs) - shown} more" if len(jobs) > shown else "")


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument(
        "--duration", type=float, default=120.0,
        help="each of the two windows: two minutes hold one scheduled full collection "
        "(watchdog/memory.py)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=float, default=120.0,
        help="two stats_app intervals: a job's second run comes one to two intervals after its "
        "quick first run, then it is on its phase",
    )  # fmt: skip
    parser.add_argument("--baseline-warmup", type=float, default=20.0)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument(
        "--incidents", type=int, default=3, help="503 incidents in the window without scrapes"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--baseline-worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--pin-core", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.baseline_worker:
        if args.pin_core >= 0:
            os.sched_setaffinity(0, {args.pin_core})
        result = asyncio.run(
            baseline(args.baseline_worker, args.targets, args.baseline_warmup, args.duration)
        )
        print(json.dumps(result))
        return 0

    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than two cores; the pinning below shares one core")
    cores = sorted(os.sched_getaffinity(0))
    poller_core, sim_core = cores[0], cores[-1]
    sim_port, watchdog_port = free_port(), free_port()
    env = {**os.environ, "WA_API_KEY": KEY, "WATCHDOG_LOG_LEVEL": "warning"}
    simulator = start_simulator(sim_port, args.targets, env)
    os.sched_setaffinity(simulator.pid, {sim_core})
    watchdog = None
    try:
        sim_startup = wait_simulator(sim_port, args.targets, args.startup_timeout)
        if sim_startup is None:
            return 1

        targets = simulator_targets(sim_port, args.targets)
        receiver = WebhookReceiver().start()
        wd_env = {
            **env,
            "WATCHDOG_TARGETS": targets,
            "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}",
            "WATCHDOG_WEBHOOK_URLS": receiver.url + "/hook",
        }
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env=wd_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.sched_setaffinity(watchdog.pid, {poller_core})
        base = f"http://127.0.0.1:{watchdog_port}"
        wd_startup = wait_ready(base + "/readyz", args.startup_timeout)
        if wd_startup is None:
            print(f"watchdog not ready after {args.startup_timeout:.0f} s")
            return 1
        print(f"watchdog: ready after {wd_startup:.1f} s; warm-up {args.warmup:.0f} s")
        time.sleep(args.warmup)

        # Window 1: no scrapes; the incidents.
        print(f"window without scrapes: {args.duration:.0f} s, {args.incidents} incidents")
        found: list[Incident] = []
        seed = args.seed if args.seed is not None else random.randrange(2**32)  # noqa: S311
        sim_base = f"http://127.0.0.1:{sim_port}"
        timeout = INTERVALS["/v1/health"] * 4
        worker = threading.Thread(
            target=lambda: found.extend(
                incidents(sim_base, receiver, args.targets, args.incidents, seed,
                          next_poll=next_poll, timeout=timeout)
            ),
            daemon=True,
        )  # fmt: skip
        worker.start()
        quiet = window(watchdog.pid, simulator.pid, args.duration)
        worker.join()  # the next window starts once the last incident has ended

        # Window 2: a /metrics scrape every 15 s, like Prometheus.
        print(f"window with a /metrics scrape every {SCRAPE_INTERVAL:.0f} s: {args.duration:.0f} s")
        scraper = Scraper(base + "/metrics", SCRAPE_INTERVAL, core=sim_core).start()
        scraped = window(watchdog.pid, simulator.pid, args.duration)
        scrapes = scraper.stop()
        watchdog.terminate()
        watchdog.wait(timeout=60)
        watchdog = None
        wd_quiet = schedule(sim_base, args.targets, quiet.start, quiet.end)
        wd_scraped = schedule(sim_base, args.targets, scraped.start, scraped.end)

        print(f"baseline: {args.targets * 3} jobs, warm-up {args.baseline_warmup:.0f} s")
        sim2 = cpu_seconds(simulator.pid)
        baseline_run = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--baseline-worker", str(sim_port),
             "--targets", str(args.targets), "--duration", str(args.duration),
             "--baseline-warmup", str(args.baseline_warmup), "--pin-core", str(poller_core)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        sim3 = cpu_seconds(simulator.pid)
        bl = json.loads(baseline_run.stdout.strip().splitlines()[-1])
        bl_schedule = schedule(sim_base, args.targets, bl["t0"], bl["t1"])
    finally:
        for process in (watchdog, simulator):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)

    bl_per = per_poll(bl["cpu"], bl_schedule)
    print(
        f"\n{args.targets} targets at default intervals (health 15 s, metrics 30 s, stats_app "
        f"60 s), two {args.duration:.0f} s windows of the same watchdog, then the baseline's; "
        f"poller on core {poller_core}, simulator on core {sim_core}; simulator listening after "
        f"{sim_startup:.1f} s, watchdog ready after {wd_startup:.1f} s\n"
    )
    print(
        "| poller | polls arrived | due, judged | missed | lag p50 | lag p99 | lag max "
        "| CPU s | CPU ms per poll | / bare loop |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, Schedule, float]] = [
        ("watchdog, no scrapes (incidents)", wd_quiet, quiet.cpu),
        (f"watchdog, /metrics scraped every {SCRAPE_INTERVAL:.0f} s", wd_scraped, scraped.cpu),
        ("baseline (bare asyncio + httpx)", bl_schedule, bl["cpu"]),
    ]
    for name, seen, cpu in rows:
        per = per_poll(cpu, seen)
        print(
            f"| {name} | {seen.polls} | {seen.expected} | {seen.missed} "
            f"| {seen.lag(0.5) * 1000:.0f} ms | {seen.lag(0.99) * 1000:.0f} ms "
            f"| {seen.lag(1.0) * 1000:.0f} ms | {cpu:.2f} | {per:.2f} | {per / bl_per:.2f}x |"
        )
    print(
        f"\nPolls and lags as the simulator saw them (`/_sim/arrivals`): a request's lag is how "
        f"long after its due time on the job's phase it arrived. Simulator CPU: "
        f"{quiet.sim_share:.0%} and {scraped.sim_share:.0%} of its core during the watchdog's "
        f"windows (the scraper's thread shares it in the second), "
        f"{(sim3 - sim2) / (args.baseline_warmup + args.duration):.0%} during the baseline run. "
        f"Baseline answers other than 2xx: {bl['non_2xx']}, transport errors: {bl['errors']}."
    )
    hit = {one.target for one in found}  # a 503 doubles the gap to a target's next poll
    for name, seen in (("without scrapes", wd_quiet), ("with scrapes", wd_scraped)):
        if seen.missed_jobs:
            print(f"Missed {name}: {some(seen.missed_jobs)} (the incidents': {some(sorted(hit))}).")

    print(
        f"\n/metrics, {len(scrapes)} scrapes every {SCRAPE_INTERVAL:.0f} s through the second "
        "window (Prometheus's Accept and Accept-Encoding: gzip; request to last byte):\n"
    )
    scrape_table(scrapes, scraped.start)

    goal = INTERVALS["/v1/health"] + DETECTION_SLACK
    print(
        f"\nDetection, in the window without scrapes: {len(found)} incidents (seed {seed}), "
        f"503 on one target of {args.targets}"
    )
    worst = detection_table(found)
    print()

    n, d = args.targets, f"{args.duration:.0f} s"
    scrape_figures(n, scrapes, SCRAPE_INTERVAL, SCRAPE_GOAL)
    lag_quiet, lag_scraped = wd_quiet.lag(0.99), wd_scraped.lag(0.99)
    lag_ratio = lag_scraped / lag_quiet if lag_quiet > 0 else float("inf")
    figure(
        "scale.py", f"schedule lag p99 at {n} targets, scraped every 15 s / without scrapes",
        f"{lag_ratio:.2f}x ({lag_scraped * 1000:.0f} / {lag_quiet * 1000:.0f} ms)",
        f"≤ {SCRAPED_LAG_GOAL}x", lag_ratio <= SCRAPED_LAG_GOAL,
    )  # fmt: skip
    figure(
        "scale.py", f"schedule lag p99 at {n} targets, without scrapes (baseline's)",
        f"{lag_quiet * 1000:.0f} ms ({bl_schedule.lag(0.99) * 1000:.0f} ms)",
        f"< {LAG_GOAL * 1000:.0f} ms", lag_quiet < LAG_GOAL,
    )  # fmt: skip
    for _, seen, cpu in rows[:2]:
        per = per_poll(cpu, seen)
        figure(
            "scale.py",
            f"CPU per poll at {n} targets, watchdog / bare asyncio+httpx, {d} "
            + ("without scrapes" if seen is wd_quiet else "scraped every 15 s"),
            f"{per / bl_per:.2f}x ({per:.2f} / {bl_per:.2f} ms)", f"≤ {CPU_RATIO_GOAL}x",
            per / bl_per <= CPU_RATIO_GOAL,
        )  # fmt: skip
    # The incidents' targets back off after their 503s (watchdog/poll/scheduler.py): by design.
    for seen, when in ((wd_quiet, "without scrapes"), (wd_scraped, "scraped every 15 s")):
        backed_off = sum(job.partition("/")[0] in hit for job in seen.missed_jobs)
        missed = seen.missed - backed_off
        figure(
            "scale.py", f"missed polls at {n} targets, {d} {when}",
            f"{missed} of {seen.expected}"
            + (f" (+{backed_off} of the incidents' targets, backing off)" if backed_off else ""),
            "0", missed == 0,
        )  # fmt: skip
    figure(
        "scale.py", f"503 on one of {n} targets to alert, worst of {len(found)} (without scrapes)",
        f"{worst:.1f} s" if worst != float("inf") else "not alerted",
        f"≤ {goal:.0f} s", worst <= goal,
    )  # fmt: skip
    figure(
        "scale.py", f"watchdog ready (/readyz) at {n} targets, from its start",
        f"{wd_startup:.1f} s", f"≤ {READY_GOAL:.0f} s (a health interval)",
        wd_startup <= READY_GOAL,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
