"""Memory: the watchdog's RSS at 100 targets, and whether it grows during a soak.

One run, three processes on this machine: the simulator (`watchdog simulate --deployments N
--topology ha`: an HA deployment's three coreapps give about a quarter more series per target
than a single node; `--topology multiconnect` gives some 15 % more again), the watchdog
(`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s, stats_db off),
and this script, which reads the watchdog's memory from /proc and acts as its clients. Side by
side, against the same simulator and with the same settings:

1. the baseline: a second watchdog with ONE target, its RSS read at the end of `--warmup`
   seconds, then stopped.
   This is the fixed cost (interpreter, libraries, HTTP server, scheduler) that any number of
   targets pays, so `(RSS at N - RSS at 1) / (N - 1)` is what one more target costs;
2. the watchdog with `--targets` targets: `--warmup` seconds (default 120 s, two stats_app
   intervals: after its first run a job moves to its own phase, up to two intervals later, so
   by then every job runs on its steady schedule and every series exists), then a soak of
   `--soak` seconds with VmRSS and VmHWM read every `--sample` seconds. Growth is measured from
   the first sample after the warm-up, so start-up allocations do not count as a leak; the
   growth over the last half of the soak shows whether RSS is still climbing at the end. Both
   are differences of two samples, and RSS moves by a few MB between samples as the allocator
   takes and returns memory around `/metrics` renders, so the range of all samples is printed
   too, to tell a trend from that noise.

During both runs a thread of this script behaves like the watchdog's real clients, so the
memory of serving them is included: a scraper GETting `/metrics` every 15 s (Prometheus'
default), `/probe/<target>/ready` every 10 s for three targets (kubelets), and
`/api/v1/status` every 30 s. Any answer other than 200, or a transport failure, is an error.

RSS (resident set size, VmRSS in /proc/<pid>/status) is what the kernel, a container's memory
accounting and `top` see: it includes the interpreter, the libraries' code and the allocator's
unreturned free blocks, not only live Python objects, so it is the figure a memory limit must
cover. VmHWM is its peak since the process started. The headline "RSS at N targets" is the
highest VmRSS sample from the end of the warm-up to the end of the soak; the ratio to the
baseline and the per-target cost use the sample at the end of the warm-up, the same moment as
the baseline's. MB are 10^6 bytes (/proc counts KiB), the stricter reading of "80 MB". The
summary lines split RSS into heap (RssAnon) and mapped files (RssFile: the interpreter's and
extension modules' code, fixed and shared with other processes running the same files).

    .venv/bin/python benchmarks/memory.py [--targets 100] [--warmup 120] [--soak 600] [--sample 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
from processes import free_port, start_simulator, stop, wait_port, wait_ready
from report import figure

SCRIPT = "memory.py"
KEY = "memory-benchmark-key-0123"
RSS_GOAL_MB = 80.0
GROWTH_GOAL = 5.0  # percent
# Expected polls per target and second at the default intervals (health, metrics, stats_app).
POLLS_PER_TARGET_S = 1 / 15 + 1 / 30 + 1 / 60


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile of a process, in MB (10^6 bytes).

    RssFile is mapped files, mostly the interpreter's and extension modules' code: it is fixed
    and shared with other processes running the same files. RssAnon is the heap.
    """
    found: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) * 1024 / 1e6
    return found


def breakdown(memory: dict[str, float]) -> str:
    return (
        f"RSS {memory['VmRSS']:.1f} MB (heap {memory['RssAnon']:.1f}, files "
        f"{memory['RssFile']:.1f}), VmHWM {memory['VmHWM']:.1f} MB"
    )


def polls_done(base: str) -> float:
    """Sum of `whatsapp_poll_duration_seconds_count` over every target and endpoint.

    A plain line scan, as in scale.py: parsing 20,000 series with prometheus_client would make
    this script, not the watchdog, the slow part.
    """
    text = httpx.get(base + "/metrics", timeout=60).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("whatsapp_poll_duration_seconds_count{")
    )


@dataclass
class Clients:
    """The watchdog's usual callers, on their usual periods, in a thread of this script."""

    base: str
    probe_targets: list[str]
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="clients", daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=90)

    def _get(self, http: httpx.Client, kind: str, path: str) -> None:
        self.requests[kind] = self.requests.get(kind, 0) + 1
        try:
            # Read the whole body, as a scraper does: the watchdog must produce all of it.
            ok = http.get(self.base + path).status_code == 200
        except httpx.HTTPError:
            ok = False
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def _run(self) -> None:
        probes = [f"/probe/{name}/ready" for name in self.probe_targets]
        # (period, kind, paths); offsets keep the three callers from always arriving together,
        # as independent clients would not.
        jobs = [(15.0, "/metrics", ["/metrics"]), (10.0, "probe", probes)]
        jobs.append((30.0, "/api/v1/status", ["/api/v1/status"]))
        now = time.monotonic()
        due = [now + offset for offset in (0.0, 2.5, 5.0)]
        with httpx.Client(timeout=60) as http:
            while not self.stop.is_set():
                index = min(range(len(jobs)), key=due.__getitem__)
                if self.stop.wait(max(0.0, due[index] - time.monotonic())):
                    return
                period, kind, paths = jobs[index]
                for path in paths:
                    self._get(http, kind, path)
                due[index] += period
                # A slow answer must not turn into a burst of catch-up requests.
                while due[index] < time.monotonic():
                    due[index] += period

    def summary(self) -> str:
        parts = [f"{kind} {count}" for kind, count in sorted(self.requests.items())]
        errors = sum(self.errors.values())
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(self.errors.items()))
        return (
            f"{sum(self.requests.values())} requests ({', '.join(parts)}), "
            f"{errors} errors{f' ({detail})' if detail else ''}"
        )


def start_watchdog(
    env: dict[str, str], sim_port: int, names: list[str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    targets = ",".join(f"{name}=http://127.0.0.1:{sim_port}/{name}" for name in names)
    process = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "run"],
        env={**env, "WATCHDOG_TARGETS": targets, "WATCHDOG_LISTEN": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


def soak_label(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}-min"
    return f"{seconds:g}-s"


def pct(value: float, reference: float) -> float:
    return (value - reference) / reference * 100


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--topology", choices=["single", "ha", "multiconnect"], default="ha")
    parser.add_argument("--warmup", type=float, default=120.0, help="two stats_app intervals")
    parser.add_argument("--soak", type=float, default=600.0)
    parser.add_argument("--sample", type=float, default=30.0)
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.targets < 2:
        parser.error("--targets must be at least 2 (the baseline has 1)")

    names = [f"wa-{i}" for i in range(args.targets)]
    # First, middle and last, so the probes do not all hit the same state entry.
    probe_names = sorted({names[0], names[len(names) // 2], names[-1]}, key=names.index)
    sim_port = free_port()
    env = {**os.environ, "WA_API_KEY": KEY, "WATCHDOG_LOG_LEVEL": "warning"}
    simulator = start_simulator(sim_port, args.targets, env, "--topology", args.topology)
    watchdog: subprocess.Popen[bytes] | None = None
    single: subprocess.Popen[bytes] | None = None
    clients: Clients | None = None
    single_clients: Clients | None = None
    try:
        if wait_port(sim_port, args.startup_timeout) is None:
            print(f"simulator not listening after {args.startup_timeout:.0f} s")
            return 1
        print(f"simulator: {args.targets} {args.topology} deployments")

        # Both at once, against the same simulator: the baseline's process is measured at the
        # end of its warm-up like the other's, and the run stays within `make bench`'s time.
        # Its one target is polled by both (8 health calls a minute, under the API's 10).
        single, single_base = start_watchdog(env, sim_port, names[:1])
        watchdog, base = start_watchdog(env, sim_port, names)
        for process, url, what in ((single, single_base, "1 target"),
                                   (watchdog, base, f"{args.targets} targets")):  # fmt: skip
            ready = wait_ready(url + "/readyz", args.startup_timeout, process)
            if ready is None:
                print(f"watchdog ({what}) not ready after {args.startup_timeout:.0f} s")
                return 1
        # The baseline's one target is probed as often as the three below: the same serving work.
        single_clients = Clients(single_base, [names[0]] * len(probe_names))
        clients = Clients(base, probe_names)
        single_clients.start()
        clients.start()
        print(f"baseline (1 target) and {args.targets} targets ready; warm-up {args.warmup:.0f} s")
        time.sleep(args.warmup)
        for process, what in ((single, "baseline"), (watchdog, "watchdog")):
            if process.poll() is not None:
                print(f"{what} exited with code {process.returncode} during the warm-up")
                return 1
        baseline = memory_mb(single.pid)
        single_clients.finish()
        base_clients = single_clients.summary()
        stop(single)
        single = None

        polls0 = polls_done(base)
        start = time.monotonic()
        samples: list[tuple[float, dict[str, float]]] = []  # (elapsed, memory)
        # Samples on a fixed grid from the end of the warm-up: the table's rows are comparable
        # between runs, and the last one falls at the end of the soak.
        steps = max(1, round(args.soak / args.sample))
        for step in range(steps + 1):
            at = start + args.soak * step / steps
            time.sleep(max(0.0, at - time.monotonic()))
            if watchdog.poll() is not None:
                print(f"watchdog exited with code {watchdog.returncode} during the soak")
                return 1
            samples.append((time.monotonic() - start, memory_mb(watchdog.pid)))
        polls1 = polls_done(base)
        clients.finish()
    finally:
        for running in (clients, single_clients):
            if running is not None:
                running.finish()
        stop(single)
        stop(watchdog)
        stop(simulator)

    rss = [memory["VmRSS"] for _, memory in samples]
    first, last, highest, lowest = rss[0], rss[-1], max(rss), min(rss)
    middle = min(range(len(samples)), key=lambda i: abs(samples[i][0] - args.soak / 2))
    growth, late_growth = pct(last, first), pct(last, rss[middle])
    base_rss = baseline["VmRSS"]
    per_target = (first - base_rss) / (args.targets - 1)
    expected = args.targets * args.soak * POLLS_PER_TARGET_S

    print(
        f"\n{args.targets} {args.topology} targets at default intervals; warm-up "
        f"{args.warmup:.0f} s, soak {args.soak:.0f} s, RSS sampled every "
        f"{args.soak / steps:.0f} s (MB = 10^6 bytes)\n"
    )
    print("| since warm-up | RSS | vs first | VmHWM (peak so far) |")
    print("|---:|---:|---:|---:|")
    for elapsed, memory in samples:
        print(
            f"| {elapsed:.0f} s | {memory['VmRSS']:.1f} MB | {pct(memory['VmRSS'], first):+.1f} % "
            f"| {memory['VmHWM']:.1f} MB |"
        )

    print(f"\nbaseline, 1 target, after the warm-up: {breakdown(baseline)}")
    print(f"{args.targets} targets, after the warm-up: {breakdown(samples[0][1])}")
    print(f"{args.targets} targets, end of the soak: {breakdown(samples[-1][1])}")
    print(
        f"growth over the soak: {growth:+.1f} %; over its last half "
        f"({samples[middle][0]:.0f} s to {samples[-1][0]:.0f} s): {late_growth:+.1f} %"
    )
    print(
        f"samples range from {lowest:.1f} to {highest:.1f} MB "
        f"({pct(highest, lowest):.1f} % of the lowest)"
    )
    print(f"polls during the soak: {polls1 - polls0:.0f} (expected about {expected:.0f})")
    print(f"clients, baseline: {base_clients}")
    print(f"clients, {args.targets} targets (warm-up and soak): {clients.summary()}\n")

    figure(
        SCRIPT,
        f"RSS at {args.targets} targets",
        f"{highest:.1f} MB",
        f"≤ {RSS_GOAL_MB:g} MB",
        highest <= RSS_GOAL_MB,
    )
    figure(
        SCRIPT,
        f"RSS growth over the {soak_label(args.soak)} soak",
        f"{growth:+.1f} %",
        f"< {GROWTH_GOAL:g} %",
        growth < GROWTH_GOAL,
    )
    figure(
        SCRIPT,
        f"RSS at {args.targets} targets / 1 target (baseline)",
        f"{first / base_rss:.2f}x",
    )
    figure(SCRIPT, "RSS per target above the baseline", f"{per_target * 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
