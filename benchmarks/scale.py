"""Scale: CPU per poll, schedule lag and detection latency with many targets, against a bare loop.

One run, on a two-core machine: the simulator (`watchdog simulate --deployments N`) pinned to
one core, and on the other core, one after the other,

1. the watchdog (`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s,
   stats_db off), measured for `--duration` s after a warm-up of two stats_app intervals (120 s;
   a job's quick first run is followed by its runs on its phase one to two intervals later).
   During the window, `--incidents` times one after the other, a random target's simulator is
   switched to `overloaded` (every endpoint answers 503) and the script's webhook receiver
   waits for the watchdog's `WhatsAppOverloaded` message for it: the detection latency, to be
   within a health interval + 1 s. Its floor, the wait for that target's next poll, is known
   exactly from the schedule (`watchdog.poll.trigger`), so what the watchdog adds is printed too.
   After the window, one `/metrics` scrape of every target's series, timed, with the polls'
   lag while it renders;
2. the baseline: a bare asyncio loop (this script with `--baseline-worker`) with one
   `httpx.AsyncClient` per target sending the same GETs with `Authorization: Apikey` on the
   same schedule (the jobs' phases), reading each body and nothing more, measured over a
   window of the same length.

Both are measured the same way, from outside: CPU seconds are utime + stime (from
/proc/<pid>/stat for the watchdog, `os.times()` in the baseline) read at the window's ends;
polls and their lag come from the simulator's `/_sim/arrivals`, which says when each request
arrived. A request's lag is how long after its due time on the phase it arrived; a due time
with no request for its job within its interval is a missed poll. Scraping the watchdog's own
metrics instead would put a multi-second render of 600,000 series into the window.

    .venv/bin/python benchmarks/scale.py [--targets 2000] [--duration 60] [--incidents 3]
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
from pathlib import Path

import httpx
from processes import (
    cpu_seconds,
    free_port,
    simulator_targets,
    start_simulator,
    wait_ready,
    wait_simulator,
)
from report import figure

from watchdog.poll.transport import KEEPALIVE_EXPIRY
from watchdog.poll.trigger import next_on_phase, phase

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.receivers import Received, WebhookReceiver  # noqa: E402

KEY = "scale-benchmark-key-0123"
INTERVALS = {"/v1/health": 15.0, "/metrics": 30.0, "/v1/stats/app": 60.0}
ENDPOINT_NAMES = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "stats_app"}
LAG_GOAL = 0.25
DETECTION_SLACK = 1.0  # goal: a 503 alerted within a health interval + this
CPU_RATIO_GOAL = 1.5
# A due time this close to the window's end is not judged missed: its request may come after.
MISS_MARGIN = 5.0


def scrape(base: str) -> float:
    """Seconds one /metrics scrape of the watchdog takes."""
    began = time.monotonic()
    httpx.get(base + "/metrics", timeout=300).raise_for_status()
    return time.monotonic() - began


@dataclass(frozen=True)
class Schedule:
    """What the simulator saw of a poller between `start` and `end` (epoch seconds)."""

    start: float
    end: float
    polls: int  # poll requests that arrived
    expected: int  # due times early enough in the window to be judged
    missed: int  # of those, due times with no request for that job within the interval
    lags: list[float]  # per request: how long after its due time it arrived, sorted

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
    expected = missed = 0
    for i in range(targets):
        for path, interval in INTERVALS.items():
            job_id = f"wa-{i}/{ENDPOINT_NAMES[path]}"
            due = next_on_phase(start, interval, phase(job_id, interval))
            while due <= end - MISS_MARGIN:
                expected += 1
                limit = min(due + interval, end)
                missed += not any(due - 0.1 <= at < limit for at in arrivals[job_id])
                due += interval
    return Schedule(start, end, sum(map(len, arrivals.values())), expected, missed, sorted(lags))


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


# -- detection latency: incidents on random targets, alerts from the watchdog's webhook -------


def first_fired(messages: list[Received]) -> dict[str, float]:
    """When the first firing `WhatsAppOverloaded` arrived, per target."""
    fired: dict[str, float] = {}
    for message in messages:
        for alert in message.alerts:
            labels = alert.get("labels", {})
            if alert.get("status") == "firing" and labels.get("alertname") == "WhatsAppOverloaded":
                fired.setdefault(labels["target"], message.at)
    return fired


def wait_fired(receiver: WebhookReceiver, target: str, timeout: float) -> float | None:
    """When `target`'s first firing `WhatsAppOverloaded` arrived (None: not within `timeout`)."""
    receiver.wait(lambda messages: target in first_fired(messages), timeout)
    return first_fired(receiver.messages()).get(target)


def next_poll(name: str, after: float) -> float:
    """When the watchdog polls `name` next after `after`: its jobs are on their phases."""
    return min(
        next_on_phase(after, interval, phase(f"{name}/{ENDPOINT_NAMES[path]}", interval))
        for path, interval in INTERVALS.items()
    )


def incidents(
    sim: str, receiver: WebhookReceiver, targets: int, count: int, seed: int
) -> list[dict[str, float | str | None]]:
    """`count` incidents one after the other: onset, the alert (or None), the floor."""
    rng = random.Random(seed)  # noqa: S311 (onset times, not secrets)
    found: list[dict[str, float | str | None]] = []
    for name in (f"wa-{i}" for i in rng.sample(range(targets), count)):
        time.sleep(rng.uniform(0.5, 3.0))  # onsets anywhere in the targets' poll cycles
        onset = time.time()
        httpx.post(f"{sim}/{name}/_sim/scenario", json={"scenario": "overloaded"}, timeout=10)
        fired = wait_fired(receiver, name, INTERVALS["/v1/health"] * 4)
        httpx.post(f"{sim}/{name}/_sim/scenario", json={"scenario": "healthy"}, timeout=10)
        found.append({
            "target": name,
            "floor": next_poll(name, onset) - onset,
            "latency": None if fired is None else fired - onset,
        })  # fmt: skip
    return found


# -- the run ---------------------------------------------------------------------------------------


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument(
        "--duration", type=float, default=120.0,
        help="the window: two minutes hold one scheduled full collection (watchdog/memory.py)",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=float, default=120.0,
        help="two stats_app intervals: a job's second run comes one to two intervals after its "
        "quick first run, then it is on its phase",
    )  # fmt: skip
    parser.add_argument("--baseline-warmup", type=float, default=20.0)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--incidents", type=int, default=3, help="503 incidents in the window")
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

        cpu0, sim0, t0 = cpu_seconds(watchdog.pid), cpu_seconds(simulator.pid), time.time()
        found: list[dict[str, float | str | None]] = []
        seed = args.seed if args.seed is not None else random.randrange(2**32)  # noqa: S311
        sim_base = f"http://127.0.0.1:{sim_port}"
        worker = threading.Thread(
            target=lambda: found.extend(
                incidents(sim_base, receiver, args.targets, args.incidents, seed)
            ),
            daemon=True,
        )
        worker.start()
        time.sleep(args.duration)
        cpu1, sim1, t1 = cpu_seconds(watchdog.pid), cpu_seconds(simulator.pid), time.time()
        worker.join()
        wd = schedule(sim_base, args.targets, t0, t1)
        wd_cpu, sim_share = cpu1 - cpu0, (sim1 - sim0) / (t1 - t0)
        # A Prometheus scrape of every target's series, and what it does to the polls meanwhile.
        s0 = time.time()
        scrape_took = scrape(base)
        during_scrape = schedule(sim_base, args.targets, s0, time.time())
        watchdog.terminate()
        watchdog.wait(timeout=60)
        watchdog = None

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

    wd_per = wd_cpu / wd.polls * 1000 if wd.polls else float("nan")
    bl_per = bl["cpu"] / bl_schedule.polls * 1000 if bl_schedule.polls else float("nan")
    print(
        f"\n{args.targets} targets at default intervals (health 15 s, metrics 30 s, stats_app "
        f"60 s), {args.duration:.0f} s window; poller on core {poller_core}, simulator on core "
        f"{sim_core}; simulator listening after {sim_startup:.1f} s, watchdog ready after "
        f"{wd_startup:.1f} s\n"
    )
    print(
        "| poller | polls arrived | due, judged | missed | lag p50 | lag p99 | lag max "
        "| CPU s | CPU ms per poll |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows: list[tuple[str, Schedule, float | None, float | None]] = [
        ("watchdog", wd, wd_cpu, wd_per),
        ("baseline (bare asyncio + httpx)", bl_schedule, bl["cpu"], bl_per),
        ("watchdog during one /metrics scrape", during_scrape, None, None),
    ]
    for name, seen, cpu, per in rows:
        print(
            f"| {name} | {seen.polls} | {seen.expected} | {seen.missed} "
            f"| {seen.lag(0.5) * 1000:.0f} ms | {seen.lag(0.99) * 1000:.0f} ms "
            f"| {seen.lag(1.0) * 1000:.0f} ms "
            + ("| | |" if cpu is None else f"| {cpu:.2f} | {per:.2f} |")
        )
    ratio = wd_per / bl_per
    print(
        f"\nPolls and lags as the simulator saw them (`/_sim/arrivals`): a request's lag is how "
        f"long after its due time on the job's phase it arrived. The /metrics scrape took "
        f"{scrape_took:.1f} s ({during_scrape.end - during_scrape.start:.0f} s of polls in that "
        f"row). Simulator CPU: {sim_share:.0%} of its core during the watchdog's window, "
        f"{(sim3 - sim2) / (args.baseline_warmup + args.duration):.0%} during the baseline run. "
        f"Baseline answers other than 2xx: {bl['non_2xx']}, transport errors: {bl['errors']}."
    )

    goal = INTERVALS["/v1/health"] + DETECTION_SLACK
    print(f"\nDetection: {len(found)} incidents (seed {seed}), 503 on one target of {args.targets}")
    print("\n| target | floor: its next poll | alerted (webhook) | added by the watchdog |")
    print("|---|---:|---:|---:|")
    for one in found:
        latency, floor = one["latency"], one["floor"]
        assert isinstance(floor, float)
        alerted = "never" if latency is None else f"{latency:.2f} s"
        added = "" if latency is None else f"{float(latency) - floor:+.2f} s"
        print(f"| {one['target']} | {floor:.2f} s | {alerted} | {added} |")
    latencies = [float(one["latency"]) for one in found if one["latency"] is not None]
    worst = max(latencies) if len(latencies) == len(found) and latencies else float("inf")

    n = args.targets
    figure(
        "scale.py", f"CPU per poll at {n} targets, watchdog / bare asyncio+httpx",
        f"{ratio:.2f}x ({wd_per:.2f} / {bl_per:.2f} ms)", f"≤ {CPU_RATIO_GOAL}x",
        ratio <= CPU_RATIO_GOAL,
    )  # fmt: skip
    figure(
        "scale.py", f"schedule lag p99 at {n} targets (baseline's)",
        f"{wd.lag(0.99) * 1000:.0f} ms ({bl_schedule.lag(0.99) * 1000:.0f} ms)",
        f"< {LAG_GOAL * 1000:.0f} ms", wd.lag(0.99) < LAG_GOAL,
    )  # fmt: skip
    figure(
        "scale.py", f"missed polls at {n} targets, {args.duration:.0f} s",
        f"{wd.missed} of {wd.expected}", "0", wd.missed == 0,
    )  # fmt: skip
    figure(
        "scale.py", f"schedule lag p99 at {n} targets while /metrics is scraped",
        f"{during_scrape.lag(0.99) * 1000:.0f} ms",
    )  # fmt: skip
    figure(
        "scale.py", f"503 on one of {n} targets to alert, worst of {len(found)}",
        f"{worst:.1f} s" if worst != float("inf") else "not alerted",
        f"≤ {goal:.0f} s", worst <= goal,
    )  # fmt: skip
    figure("scale.py", f"watchdog ready (/readyz) at {n} targets", f"{wd_startup:.0f} s")
    figure("scale.py", f"one /metrics scrape at {n} targets", f"{scrape_took:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
