"""Scale: the watchdog's CPU per poll and schedule lag with many targets, against a bare loop.

One run, on a two-core machine: the simulator (`watchdog simulate --deployments N`) pinned to
one core, and on the other core, one after the other,

1. the watchdog (`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s,
   stats_db off), measured for `--duration` s after a warm-up of one stats_app interval (60 s):
   its CPU seconds (utime + stime from /proc/<pid>/stat, all threads), the polls done (sum of
   the `whatsapp_poll_duration_seconds_count` deltas), the polls missed (expected from the
   intervals minus done) and its schedule lag (`watchdog_schedule_lag_seconds` deltas);
2. the baseline: a bare asyncio loop (this script with `--baseline-worker`) with one
   `httpx.AsyncClient` per target sending the same GETs with `Authorization: Apikey` on the
   same schedule (sleep until due, per target and endpoint, same first-run offsets), reading
   each body and nothing more, measured over a window of the same length.

The two /metrics scrapes that bound the watchdog's window are outside its CPU window (the CPU is
read after the first scrape and before the second) and reported on their own.

    .venv/bin/python benchmarks/scale.py [--targets 2000] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from watchdog.scheduler import start_offset

KEY = "scale-benchmark-key-0123"
INTERVALS = {"/v1/health": 15.0, "/metrics": 30.0, "/v1/stats/app": 60.0}
ENDPOINT_NAMES = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "stats_app"}
LAG_GOAL = 0.25
CPU_RATIO_GOAL = 1.5
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_port(port: int, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    return None


def wait_ready(url: str, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return None


def scrape(base: str) -> tuple[float, dict[float, float], float]:
    """(polls done, lag buckets by bound, seconds the scrape took) from the watchdog's /metrics.

    A plain line scan: a prometheus_client parse of 2000 targets' series would take minutes.
    """
    began = time.monotonic()
    text = httpx.get(base + "/metrics", timeout=300).text
    took = time.monotonic() - began
    polls = 0.0
    lag: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("whatsapp_poll_duration_seconds_count{"):
            polls += float(line.rsplit(" ", 1)[1])
        elif line.startswith("watchdog_schedule_lag_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            lag[float(le)] = float(line.rsplit(" ", 1)[1])
    return polls, lag, took


def lag_stats(before: dict[float, float], after: dict[float, float]) -> tuple[float, float, float]:
    """(count, p99 bucket bound, bucket bound of the maximum) of the lags observed in between."""
    delta = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    count = delta.get(float("inf"), 0.0)
    p99 = top = 0.0
    for bound in sorted(delta):
        if count and not p99 and delta[bound] >= 0.99 * count:
            p99 = bound
        if count and delta[bound] >= count:
            top = bound
            break
    return count, p99, top


# -- the baseline: a bare asyncio loop -----------------------------------------------------------


async def baseline(port: int, targets: int, warmup: float, duration: float) -> dict[str, float]:
    clients = [
        httpx.AsyncClient(
            timeout=30,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            headers={"Accept": "application/json"},
        )
        for _ in range(targets)
    ]
    loop = asyncio.get_running_loop()
    start = loop.time()
    window_start, window_end = start + warmup, start + warmup + duration
    counts = {"requests": 0, "non_2xx": 0, "errors": 0}
    lags: list[float] = []
    cpu_at: dict[str, float] = {}

    async def job(index: int, path: str, interval: float) -> None:
        name = f"wa-{index}"
        url = f"http://127.0.0.1:{port}/{name}{path}"
        headers = {"Authorization": f"Apikey {KEY}"}
        due = start + start_offset(f"{name}/{ENDPOINT_NAMES[path]}", interval)
        http = clients[index]
        while due < window_end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
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
                lags.append(now - due)
                counts["requests"] += 1
                counts["non_2xx"] += bad
                counts["errors"] += failed
            due += interval
            while due < loop.time():  # coalesce missed runs, like the watchdog
                due += interval

    async def marks() -> None:
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        cpu_at["start"] = sum(os.times()[:2])
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        cpu_at["end"] = sum(os.times()[:2])

    jobs = [job(i, path, interval) for i in range(targets) for path, interval in INTERVALS.items()]
    await asyncio.gather(marks(), *jobs)
    for http in clients:
        await http.aclose()
    lags.sort()
    return {
        **counts,
        "cpu": cpu_at["end"] - cpu_at["start"],
        "lag_p99": lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0.0,
        "lag_max": lags[-1] if lags else 0.0,
    }


# -- the run ---------------------------------------------------------------------------------------


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="one stats_app interval")
    parser.add_argument("--baseline-warmup", type=float, default=20.0)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
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
    simulator = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "watchdog", "simulate", "--port", str(sim_port),
         "--deployments", str(args.targets), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.sched_setaffinity(simulator.pid, {sim_core})
    watchdog = None
    try:
        sim_startup = wait_port(sim_port, args.startup_timeout)
        if sim_startup is None:
            print(f"simulator with {args.targets} deployments not listening after "
                  f"{args.startup_timeout:.0f} s; try fewer --targets")  # fmt: skip
            return 1
        print(f"simulator: {args.targets} deployments listening after {sim_startup:.1f} s")

        targets = ",".join(
            f"wa-{i}=http://127.0.0.1:{sim_port}/wa-{i}" for i in range(args.targets)
        )
        wd_env = {
            **env,
            "WATCHDOG_TARGETS": targets,
            "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}",
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

        polls0, lag0, scrape0 = scrape(base)
        cpu0, sim0, t0 = cpu_seconds(watchdog.pid), cpu_seconds(simulator.pid), time.monotonic()
        time.sleep(args.duration)
        cpu1, sim1, t1 = cpu_seconds(watchdog.pid), cpu_seconds(simulator.pid), time.monotonic()
        polls1, lag1, scrape1 = scrape(base)
        window = t1 - t0
        wd = {
            "polls": polls1 - polls0,
            "cpu": cpu1 - cpu0,
            "sim_cpu": sim1 - sim0,
        }
        lag_count, lag_p99, lag_top = lag_stats(lag0, lag1)
        watchdog.terminate()
        watchdog.wait(timeout=60)
        watchdog = None

        print(f"baseline: {args.targets * 3} jobs, warm-up {args.baseline_warmup:.0f} s")
        sim2 = cpu_seconds(simulator.pid)
        worker = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--baseline-worker", str(sim_port),
             "--targets", str(args.targets), "--duration", str(args.duration),
             "--baseline-warmup", str(args.baseline_warmup), "--pin-core", str(poller_core)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        sim3 = cpu_seconds(simulator.pid)
        bl = json.loads(worker.stdout.strip().splitlines()[-1])
    finally:
        for process in (watchdog, simulator):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)

    expected = args.targets * sum(args.duration / i for i in INTERVALS.values())
    wd_per = wd["cpu"] / wd["polls"] * 1000 if wd["polls"] else float("nan")
    bl_per = bl["cpu"] / bl["requests"] * 1000 if bl["requests"] else float("nan")
    print(
        f"\n{args.targets} targets at default intervals (health 15 s, metrics 30 s, stats_app "
        f"60 s), {args.duration:.0f} s window; poller on core {poller_core}, simulator on core "
        f"{sim_core}; simulator startup {sim_startup:.1f} s\n"
    )
    print("| poller | polls | missed | lag p99 at most | lag max | CPU s | CPU ms per poll |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| watchdog | {wd['polls']:.0f} | {expected - wd['polls']:.0f} "
        f"| {lag_p99 * 1000:.0f} ms | ≤ {lag_top * 1000:.0f} ms | {wd['cpu']:.2f} | {wd_per:.2f} |"
    )
    print(
        f"| baseline (bare asyncio + httpx) | {bl['requests']} | {expected - bl['requests']:.0f} "
        f"| {bl['lag_p99'] * 1000:.0f} ms | {bl['lag_max'] * 1000:.0f} ms "
        f"| {bl['cpu']:.2f} | {bl_per:.2f} |"
    )
    ratio = wd_per / bl_per
    print(f"\nexpected polls in the window: {expected:.0f}")
    print(
        f"CPU per poll, watchdog / baseline: {ratio:.2f}x "
        f"(goal ≤ {CPU_RATIO_GOAL}x: {'met' if ratio <= CPU_RATIO_GOAL else 'NOT met'})"
    )
    print(
        f"watchdog lag p99 at most {lag_p99 * 1000:.0f} ms over {lag_count:.0f} job starts "
        f"(goal < {LAG_GOAL * 1000:.0f} ms: {'met' if lag_p99 < LAG_GOAL else 'NOT met'})"
    )
    print(
        f"simulator CPU: {wd['sim_cpu'] / window:.0%} of its core during the watchdog's window; "
        f"{(sim3 - sim2) / (args.baseline_warmup + args.duration):.0%} during the baseline run"
    )
    print(
        f"baseline answers other than 2xx: {bl['non_2xx']}, transport errors: {bl['errors']}; "
        f"/metrics scrapes bounding the window (outside the CPU window): "
        f"{scrape0:.1f} s and {scrape1:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
