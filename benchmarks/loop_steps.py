"""Loop steps: the longest step the watchdog's event loop takes for each thing asked of it.

Every poll, request and alert tick of `watchdog run` shares one event loop: while one callback
runs, nothing else does, and polls due meanwhile start late. Goal (issue #15): no single step
longer than 50 ms at 2,000 targets for a scrape, a reload, an alert tick, the status page or
`/api/v1/status`.

The simulator (`watchdog simulate --deployments N+1`) is pinned to one core; `watchdog run`
polls N of its deployments (a YAML file, `WATCHDOG_CONFIG_FILE`, at the default intervals) on
the other. It runs inside this script (`--worker`), which wraps `asyncio.events.Handle._run`,
the call through which the loop runs every callback and task step, and appends each step longer
than `--record-ms` to a file as a JSON line: its start (epoch), its length, the loop thread's CPU
time in it (less when it waited for the GIL or a core) and what ran (a job's id, a request's
path, a task's coroutine or a callback's name); and each collection of the garbage collector as
long, which happens inside whichever step allocates. After `/readyz` and `--warmup` seconds
(every job on its phase), the script asks for one thing at a time, with `--gap` quiet seconds
between, and keeps each one's window:

- quiet: polls and alert ticks only, the reference;
- `/metrics` in the text format, then as Prometheus asks (OpenMetrics first, gzip);
- SIGHUP with the configuration unchanged, with one target added to the file, then removed;
- alert ticks: `--ticks` seconds of the engine's slices (`ALERT_TICK_SECONDS`/`_SLICES`);
- the status page (`/`) and `/api/v1/status` (its default hour), each read to the end.

For each: the longest step that was the action's own (its request, the reload, a tick and the
chunks it queues), the headline figure, and the longest step of any kind in its window. The
scheduled full garbage collection (`watchdog/memory.py`, every 2 minutes) is not one of them: it
is shown on its own and left out of the windows' figures.

    .venv/bin/python benchmarks/loop_steps.py [--targets 2000] [--warmup 90] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from asyncio import events
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from processes import free_port, start_simulator, stop, wait_ready, wait_simulator
from report import figure

from watchdog.cli import main as cli_main

SCRIPT = "loop_steps.py"
KEY = "loop-steps-benchmark-key"
GOAL_MS = 50.0
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
GC_JOB = "job gc-full-collection"
TICK_CHUNK = "callback AlertEngine._evaluate_from"  # the rest of a tick, queued on the loop
GC_PREFIX = "collection of generation "  # a pause of the collector, inside a step


# -- the worker: `watchdog run` with every loop step timed ----------------------------------------


def worker(path: str, record_ms: float) -> int:
    """Run `watchdog run` (this process's environment) with long loop steps written to `path`."""
    labels: weakref.WeakKeyDictionary[asyncio.Task[Any], str] = weakref.WeakKeyDictionary()
    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's lifetime
    original = events.Handle._run
    threshold = record_ms / 1000

    def task_label(task: asyncio.Task[Any]) -> str:
        # Taken at the task's first step, while its coroutine's arguments can still be read.
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        frame = getattr(coro, "cr_frame", None)
        local = frame.f_locals if frame is not None else {}
        if name == "run_coroutine_job" and "job" in local:  # APScheduler
            return f"job {local['job'].id}"
        scope = getattr(local.get("self"), "scope", None)
        if isinstance(scope, dict) and "path" in scope:  # uvicorn's request cycle
            query = scope.get("query_string", b"").decode()
            return f"request {scope['method']} {scope['path']}{'?' * bool(query)}{query}"
        return f"task {task.get_name()} {name}"

    def describe(handle: events.Handle, task: asyncio.Task[Any] | None) -> str:
        if task is not None:
            return labels.get(task) or task_label(task)
        callback = handle._callback  # type: ignore[attr-defined]
        name = getattr(callback, "__qualname__", None) or repr(callback)
        return f"callback {name}"[:160]

    def timed(self: events.Handle) -> None:
        owner = getattr(self._callback, "__self__", None)  # type: ignore[attr-defined]
        task = owner if isinstance(owner, asyncio.Task) else None
        if task is not None and task not in labels:
            labels[task] = task_label(task)
        at = time.time()
        began, cpu = time.perf_counter(), time.thread_time()
        original(self)
        took = time.perf_counter() - began
        if took > threshold:
            worked = time.thread_time() - cpu
            line = {"at": at, "s": took, "cpu": worked, "what": describe(self, task)}
            out.write(json.dumps(line) + "\n")

    collecting: dict[str, float] = {}

    def collection(phase: str, info: dict[str, int]) -> None:
        # Collections happen inside steps: kept apart, to tell a long step's own work from a
        # pause of the collector that fell into it.
        if phase == "start":
            collecting["at"], collecting["began"] = time.time(), time.perf_counter()
            return
        took = time.perf_counter() - collecting.get("began", time.perf_counter())
        if took > threshold:
            line = {"at": collecting["at"], "s": took, "cpu": took,
                    "what": f"{GC_PREFIX}{info['generation']}"}  # fmt: skip
            out.write(json.dumps(line) + "\n")

    gc.callbacks.append(collection)
    events.Handle._run = timed  # type: ignore[method-assign]
    return cli_main(["run"])


# -- the harness ----------------------------------------------------------------------------------


@dataclass
class Window:
    action: str
    start: float
    end: float
    own: tuple[str, ...]  # how the labels of the action's own steps begin (none: quiet)
    note: str = ""


def read_steps(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def config_file(path: Path, port: int, count: int) -> None:
    """The YAML the watchdog reads: `count` targets of the simulator on `port`."""
    lines = ["targets:"]
    for i in range(count):
        lines += [f"  - name: wa-{i}", f"    url: http://127.0.0.1:{port}/wa-{i}"]
    path.write_text("\n".join(lines) + "\n")


def reloads(log: Path) -> int:
    with log.open() as f:
        return sum('"config_reloaded"' in line for line in f)


def wait_reload(log: Path, before: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reloads(log) > before:
            return True
        time.sleep(0.05)
    return False


def fetch(base: str, path: str, headers: dict[str, str] | None = None) -> str:
    """GET `path` and read it to the end; a short note of what came back."""
    with httpx.stream("GET", base + path, headers=headers or {}, timeout=600) as answer:
        raw = sum(len(chunk) for chunk in answer.iter_raw())
    encoding = answer.headers.get("content-encoding", "identity")
    failed = "" if answer.is_success else f", answered {answer.status_code}"
    return f"{raw / 1e6:.1f} MB ({encoding}{failed})"


def run_actions(
    args: argparse.Namespace, base: str, pid: int, files: dict[str, Path], port: int
) -> list[Window]:
    """Each action in its window, one after the other with quiet gaps."""
    windows: list[Window] = []

    def window(action: str, own: str | tuple[str, ...], do: Any) -> None:
        time.sleep(args.gap)
        start = time.time()
        note = do() or ""
        time.sleep(1.0)  # the action's last steps (a response's end, retired clients closing)
        prefixes = (own,) if isinstance(own, str) else own
        windows.append(Window(action, start, time.time(), prefixes, note))
        print(f"  {action}: {time.time() - start:.1f} s {note}", flush=True)

    def reload_with(count: int) -> str:
        config_file(files["config"], port, count)
        before = reloads(files["log"])
        os.kill(pid, signal.SIGHUP)
        if not wait_reload(files["log"], before, 300):
            return "(no config_reloaded logged)"
        return f"({count} targets)"

    for _ in range(args.rounds):
        window("quiet (polls and alert ticks only)", (), lambda: time.sleep(args.quiet))
        window("/metrics, text format", "request GET /metrics", lambda: fetch(base, "/metrics"))
        window(
            "/metrics, OpenMetrics, gzip", "request GET /metrics",
            lambda: fetch(base, "/metrics",
                          {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}),
        )  # fmt: skip
        window("SIGHUP reload, targets unchanged", "task config-reload",
               lambda: reload_with(args.targets))  # fmt: skip
        window("SIGHUP reload, one target added", "task config-reload",
               lambda: reload_with(args.targets + 1))  # fmt: skip
        window("SIGHUP reload, that target removed", "task config-reload",
               lambda: reload_with(args.targets))  # fmt: skip
        window(f"alert ticks ({args.ticks:.0f} s)", ("job alert-tick", TICK_CHUNK),
               lambda: time.sleep(args.ticks))  # fmt: skip
        window("status page (/), read to the end", "request GET /", lambda: fetch(base, "/"))
        window("/api/v1/status, read to the end", "request GET /api/v1/status",
               lambda: fetch(base, "/api/v1/status"))  # fmt: skip
    return windows


def longest(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(steps, key=lambda s: s["s"], default=None)


def ms(step: dict[str, Any] | None, floor: float) -> str:
    """A step's length and the CPU time the loop's thread spent in it: less when the thread
    waited, for the GIL (another thread) or for a core (another process)."""
    if step is None:
        return f"< {floor:.0f} ms"
    return f"{step['s'] * 1000:.0f} ms ({step['cpu'] * 1000:.0f})"


def report(windows: list[Window], steps: list[dict[str, Any]], args: argparse.Namespace) -> None:
    n = args.targets
    print(
        f"\n{n} targets at the default intervals; steps longer than {args.record_ms:.0f} ms "
        f"recorded, in brackets the loop thread's CPU time in them; the full collection "
        f"({GC_JOB}) left out of the windows\n"
    )
    print(
        "| action | longest step of its own | longest step in its window | that step |\n"
        "|---|---:|---:|---|"
    )
    pauses = [s for s in steps if s["what"].startswith(GC_PREFIX)]
    steps = [s for s in steps if not s["what"].startswith(GC_PREFIX)]
    worst: dict[str, tuple[float, str]] = {}
    for w in windows:
        inside = [s for s in steps if w.start <= s["at"] <= w.end and s["what"] != GC_JOB]
        top = longest(inside)
        own = longest([s for s in inside if w.own and s["what"].startswith(w.own)])
        what = "" if top is None else top["what"].replace("|", "/")
        own_text = "" if not w.own else ms(own, args.record_ms)
        print(f"| {w.action} | {own_text} | {ms(top, args.record_ms)} | {what} |")
        # The action's own steps decide; the quiet window has none, so its longest step does.
        judged = own if w.own else top
        value = judged["s"] * 1000 if judged else 0.0
        if value >= worst.get(w.action, (-1.0, ""))[0]:
            worst[w.action] = (value, ms(judged, args.record_ms))
    collections = [s for s in steps if s["what"] == GC_JOB]
    if collections:
        longest_gc = max(s["s"] for s in collections) * 1000
        print(f"\nFull collections (not in the windows): {len(collections)}, "
              f"longest {longest_gc:.0f} ms")  # fmt: skip
    start, end = windows[0].start, windows[-1].end
    young = [s for s in pauses if start <= s["at"] <= end and not s["what"].endswith("2")]
    if young:
        pause = max(s["s"] for s in young) * 1000
        print(f"Collections of the young generations longer than {args.record_ms:.0f} ms "
              f"during the windows: {len(young)}, longest {pause:.0f} ms (inside whichever "
              "step made them)")  # fmt: skip
    for action, (value, shown) in worst.items():
        figure(
            SCRIPT, f"longest loop step at {n} targets (its CPU): {action}", shown,
            f"≤ {GOAL_MS:.0f} ms", value <= GOAL_MS,
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument(
        "--warmup", type=float, default=90.0,
        help="seconds after /readyz before the first window: the jobs settle on their phases",
    )  # fmt: skip
    parser.add_argument("--gap", type=float, default=3.0, help="quiet seconds between actions")
    parser.add_argument("--quiet", type=float, default=10.0, help="the reference window")
    parser.add_argument("--ticks", type=float, default=10.0, help="the alert ticks' window")
    parser.add_argument("--rounds", type=int, default=1, help="every action this many times")
    parser.add_argument("--record-ms", type=float, default=5.0, help="steps longer are kept")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--steps-file", help="keep every long step here (JSON lines)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.record_ms)

    cores = sorted(os.sched_getaffinity(0))
    poller_core, sim_core = cores[0], cores[-1]
    sim_port, port = free_port(), free_port()
    scratch = Path(tempfile.mkdtemp(prefix="loop-steps-"))
    files = {
        "config": scratch / "watchdog.yaml",
        "log": scratch / "watchdog.log",
        "steps": Path(args.steps_file) if args.steps_file else scratch / "steps.jsonl",
    }
    files["steps"].write_text("")
    config_file(files["config"], sim_port, args.targets)
    env = {**os.environ, "WA_API_KEY": KEY}
    # One deployment more than polled: the reload that adds a target adds that one.
    simulator = start_simulator(sim_port, args.targets + 1, env)
    os.sched_setaffinity(simulator.pid, {sim_core})
    watchdog = None
    try:
        if wait_simulator(sim_port, args.targets + 1, args.startup_timeout) is None:
            return 1
        wd_env = {
            **env,
            "WATCHDOG_CONFIG_FILE": str(files["config"]),
            "WATCHDOG_LISTEN": f"127.0.0.1:{port}",
            "WATCHDOG_LOG_LEVEL": "info",
            "WATCHDOG_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",  # its log says when a reload is done
        }
        with files["log"].open("w") as log:
            watchdog = subprocess.Popen(  # noqa: S603 - our interpreter, this script
                [sys.executable, __file__, "--worker", str(files["steps"]),
                 "--record-ms", str(args.record_ms)],
                env=wd_env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        os.sched_setaffinity(watchdog.pid, {poller_core})
        base = f"http://127.0.0.1:{port}"
        ready = wait_ready(base + "/readyz", args.startup_timeout, watchdog)
        if ready is None:
            print(f"watchdog not ready; its log: {files['log']}")
            return 1
        print(f"watchdog: ready after {ready:.1f} s; warm-up {args.warmup:.0f} s", flush=True)
        time.sleep(args.warmup)
        windows = run_actions(args, base, watchdog.pid, files, sim_port)
    finally:
        stop(watchdog)
        stop(simulator)
    report(windows, read_steps(files["steps"]), args)
    shutil.rmtree(scratch, ignore_errors=True)  # kept above when something went wrong
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
