"""Profile: where the watchdog's CPU goes at scale, sampled with py-spy.

One run, on this machine: the simulator (`watchdog simulate --deployments N`) and the watchdog
(`watchdog run`, default intervals, N targets) pinned to two different cores (`--pin`, on by
default with two cores or more), and py-spy attached to the watchdog's pid:

    py-spy record --pid <watchdog> --rate R --duration D --format raw --nonblocking

py-spy runs on the simulator's core, so its sampling does not take CPU from the watchdog. By
default sampling starts `--skip` seconds after the watchdog answers `/readyz` (60 s, one
stats_app interval: the steady state, every kind of poll running on its phase); with `--startup`
it starts with the process and shows start-up instead (imports, configuration, the first polls).

The raw collapsed stacks are folded by function (line numbers dropped, paths shortened to the
part after `site-packages/`, after `lib/python3.X/` for the standard library, or from
`watchdog/` on) into three tables, each in % of all samples:

- *self*: the samples whose innermost frame is the function: the CPU spent in its own code,
  including the C functions it calls (py-spy does not show them without `--native`);
- *inclusive*: the samples whose stack holds the function anywhere, counted once per stack
  (recursion counts once): the CPU spent in it and in everything it calls;
- *by area*: self time grouped by where the code lives: the watchdog's own (`watchdog/`), the
  HTTP client (httpx, httpcore, h11, anyio), the event loop (asyncio, selectors),
  prometheus_client, apscheduler, imports (`<frozen importlib...>`) and the rest.

How to read them, and their limits:

- py-spy skips idle threads (its default, kept here): a thread asleep in epoll, on a lock or in
  a sleep is not sampled, so the shares are of the time a watchdog thread was running, not of
  wall time. How busy it was is printed beside them, from `/proc/<pid>/stat` (utime + stime
  over the window); samples / rate is py-spy's view of the same CPU seconds.
- The share of samples whose innermost frame is the event loop's `select` (epoll_wait) is
  printed apart: the syscall itself, or the loop going to sleep or waking up, caught as running.
  It is large when the watchdog has little to do (a few hundred targets or fewer). With
  `--blocking`, py-spy stops the thread inside epoll_wait and counts it as running, so there
  it is mostly idle time.
- `--nonblocking` (the default) never stops the watchdog, but reads its frames while they
  change: some samples fail (py-spy's "errors", dropped) and some stacks come back cut short,
  not reaching the interpreter's entry point (their share is printed; the more the loop is
  busy, the more of them). Self shares are the sturdier figure; inclusive shares are lower
  bounds. `--blocking` gives whole stacks, but pauses the watchdog for each sample, up to
  `--rate` times a second.
- The inclusive table leaves out the frames that every whole stack of the main thread starts
  with (the entry point down to the event loop), listed above it: they are in every sample.

Not part of `make bench`: it needs py-spy (`pip install py-spy`) and permission to ptrace the
watchdog (root, CAP_SYS_PTRACE, or `kernel.yama.ptrace_scope` 0). Run it from the repository
root with the project's virtualenv:

    .venv/bin/python benchmarks/cpu_profile.py [--targets 2000] [--duration 60] [--skip 60]
        [--startup] [--rate 100] [--top 25] [--raw FILE] [--pin | --no-pin] [--blocking]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from processes import (
    answers,
    cpu_seconds,
    free_port,
    simulator_targets,
    start_simulator,
    stop,
    wait_simulator,
)

KEY = "profile-benchmark-key-0123"
# `name (path:line)`, or `name (path)` when py-spy was asked for --nolineno.
FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*?)(?::\d+)?\)$")
STDLIB = re.compile(r"/lib/python\d+\.\d+/")
AREAS = (
    "watchdog",
    "HTTP client (httpx, httpcore, h11, anyio)",
    "event loop (asyncio, selectors)",
    "prometheus_client",
    "apscheduler",
    "imports (importlib)",
    "other",
)
HTTP_CLIENT = ("httpx/", "httpcore/", "h11/", "anyio/")
# First frames of a whole stack: the main thread's (the watchdog runs as `python -m watchdog`),
# another thread's.
MAIN_ROOT = "_run_module_as_main"
ROOTS = (MAIN_ROOT, "Thread._bootstrap")


def find_py_spy() -> str | None:
    # The virtualenv's bin/ is often not on PATH when the script is run as .venv/bin/python.
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("py-spy")


def project_root() -> str | None:
    spec = importlib.util.find_spec("watchdog")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).resolve().parent.parent) + "/"


def shorten(path: str, root: str | None) -> str:
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    # Checked before the stdlib pattern: a virtualenv inside the checkout would otherwise
    # match both.
    if root and path.startswith(root):
        return path[len(root) :]
    stdlib = STDLIB.search(path)
    if stdlib:
        return path[stdlib.end() :]
    if "/watchdog/" in path:
        return "watchdog/" + path.split("/watchdog/", 1)[1]
    return path


def area(path: str) -> str:
    if path.startswith("watchdog/"):
        return AREAS[0]
    if path.startswith(HTTP_CLIENT):
        return AREAS[1]
    if path.startswith("asyncio/") or path == "selectors.py":
        return AREAS[2]
    if path.startswith("prometheus_client/"):
        return AREAS[3]
    if path.startswith("apscheduler/"):
        return AREAS[4]
    if path.startswith("<frozen importlib"):
        return AREAS[5]
    return AREAS[6]


@dataclass
class Profile:
    total: int = 0
    self_time: Counter[tuple[str, str]] = field(default_factory=Counter)
    inclusive: Counter[tuple[str, str]] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)
    cut_short: int = 0
    in_select: int = 0
    # The frames every whole stack of the main thread starts with (the entry point down to the
    # event loop's `_run_once` in the steady state): in every such sample by construction, they
    # would fill the top of the inclusive table and say nothing.
    trunk: list[tuple[str, str]] | None = None


def common(first: list[tuple[str, str]], second: list[tuple[str, str]]) -> list[tuple[str, str]]:
    same = 0
    for ours, theirs in zip(first, second, strict=False):
        if ours != theirs:
            break
        same += 1
    return first[:same]


def parse_raw(text: str, root: str | None) -> Profile:
    profile = Profile()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        # An empty stack is a sample whose frames py-spy could not read (--nonblocking): still
        # CPU time, so it stays in the total under a name of its own.
        for raw in stack.split(";") if stack else ["(no frame read)"]:
            match = FRAME.match(raw)
            # Frames py-spy adds itself (process or thread headers, native frames) have no
            # file: they are kept under their own name so no sample is lost.
            name, path = (match["name"], shorten(match["path"], root)) if match else (raw, "")
            frames.append((name, path))
        profile.total += count
        leaf = frames[-1]
        profile.self_time[leaf] += count
        profile.areas[area(leaf[1])] += count
        for frame in set(frames):
            profile.inclusive[frame] += count
        if frames[0][0] not in ROOTS:
            profile.cut_short += count
        elif frames[0][0] == MAIN_ROOT:
            profile.trunk = frames if profile.trunk is None else common(profile.trunk, frames)
        if leaf[1] == "selectors.py" and leaf[0].endswith(".select"):
            profile.in_select += count
    return profile


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def print_tables(profile: Profile, top: int) -> None:
    total = profile.total
    print(f"\n### Self time: top {top} functions (innermost frame)\n")
    print("| # | function | file | self | samples |")
    print("|---:|---|---|---:|---:|")
    for rank, ((name, path), count) in enumerate(profile.self_time.most_common(top), 1):
        print(f"| {rank} | `{name}` | `{path}` | {pct(count, total)} | {count} |")

    print(f"\n### Inclusive time: top {top} functions (anywhere in the stack, once per stack)\n")
    trunk = profile.trunk or []
    if trunk:
        print(
            "Left out: the frames every whole stack of the main thread starts with, "
            + " > ".join(f"`{name}`" for name, _ in trunk)
            + ".\n"
        )
    print("| # | function | file | inclusive | self |")
    print("|---:|---|---|---:|---:|")
    rows = [row for row in profile.inclusive.most_common() if row[0] not in trunk][:top]
    for rank, ((name, path), count) in enumerate(rows, 1):
        own = profile.self_time.get((name, path), 0)
        print(f"| {rank} | `{name}` | `{path}` | {pct(count, total)} | {pct(own, total)} |")

    print("\n### Self time by area\n")
    print("| area | self | samples |")
    print("|---|---:|---:|")
    for name in sorted(AREAS, key=lambda a: -profile.areas.get(a, 0)):
        count = profile.areas.get(name, 0)
        print(f"| {name} | {pct(count, total)} | {count} |")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def interrupted(signum: int, _frame: object) -> None:
    # SIGTERM would end the script without running `finally`, leaving the simulator, the
    # watchdog and py-spy behind; make it take the same path as Ctrl-C.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=60, help="seconds of sampling")
    parser.add_argument(
        "--skip", type=float, default=60.0, help="seconds from /readyz to the start of sampling"
    )
    parser.add_argument(
        "--startup", action="store_true", help="sample from the process start (--skip ignored)"
    )
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows in the function tables")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw collapsed stacks here")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="watchdog and simulator on two different cores (default: on with >= 2 cores)",
    )
    parser.add_argument(
        "--blocking",
        action="store_true",
        help="pause the watchdog for every sample (py-spy without --nonblocking): whole stacks, "
        "but the watchdog is stopped up to --rate times a second",
    )
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args()

    py_spy = find_py_spy()
    if py_spy is None:
        print(
            "py-spy not found: pip install py-spy (into this virtualenv: .venv/bin/pip install "
            "py-spy)",
            file=sys.stderr,
        )
        return 2

    cores = sorted(os.sched_getaffinity(0))
    pin = len(cores) >= 2 if args.pin is None else args.pin
    if pin and len(cores) < 2:
        print("warning: fewer than two cores; not pinning", file=sys.stderr)
        pin = False
    watchdog_core, sim_core = cores[0], cores[-1]
    root = project_root()
    signal.signal(signal.SIGTERM, interrupted)

    sim_port, watchdog_port = free_port(), free_port()
    env = {**os.environ, "WA_API_KEY": KEY, "WATCHDOG_LOG_LEVEL": "warning"}
    simulator = watchdog = spy = None
    with tempfile.TemporaryDirectory(prefix="wa-profile-") as tmp:
        raw_path = args.raw or Path(tmp) / "stacks.txt"
        spy_log, watchdog_log = Path(tmp) / "py-spy.log", Path(tmp) / "watchdog.base.log"
        try:
            simulator = start_simulator(sim_port, args.targets, env)
            if pin:
                os.sched_setaffinity(simulator.pid, {sim_core})
            sim_startup = wait_simulator(sim_port, args.targets, args.startup_timeout)
            if sim_startup is None:
                return 1

            targets = simulator_targets(sim_port, args.targets)
            wd_env = {
                **env,
                "WATCHDOG_TARGETS": targets,
                "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}",
            }
            readyz = f"http://127.0.0.1:{watchdog_port}/readyz"
            with watchdog_log.open("wb") as log:
                watchdog = subprocess.Popen(
                    [sys.executable, "-m", "watchdog", "run"],
                    env=wd_env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            started = time.monotonic()
            if pin:
                os.sched_setaffinity(watchdog.pid, {watchdog_core})

            ready_after = None
            if not args.startup:
                while ready_after is None and watchdog.poll() is None:
                    if answers(readyz):
                        ready_after = time.monotonic() - started
                    elif time.monotonic() - started > args.startup_timeout:
                        break
                    else:
                        time.sleep(0.5)
                if ready_after is None:
                    print(f"watchdog not ready after {time.monotonic() - started:.0f} s")
                    print(tail(watchdog_log))
                    return 1
                print(f"watchdog: ready after {ready_after:.1f} s; waiting {args.skip:.0f} s")
                time.sleep(args.skip)

            command = [
                py_spy, "record", "--pid", str(watchdog.pid), "--rate", str(args.rate),
                "--duration", str(args.duration), "--format", "raw",
                "--output", str(raw_path), "--full-filenames",
            ]  # fmt: skip
            if not args.blocking:
                command.append("--nonblocking")
            # A --raw file left by an earlier run must not pass for this run's stacks.
            raw_path.unlink(missing_ok=True)
            print(
                f"py-spy: {args.rate} samples/s for {args.duration} s "
                + ("from the watchdog's start" if args.startup else "(steady state)")
            )
            cpu0, t0 = cpu_seconds(watchdog.pid), time.monotonic()
            with spy_log.open("wb") as log:
                spy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            if pin:
                os.sched_setaffinity(spy.pid, {sim_core})
            deadline = t0 + args.duration + 60
            while spy.poll() is None and time.monotonic() < deadline:
                # In --startup mode the readiness is what tells start-up from the first polls in
                # the profile; one GET a second is noise next to the polling.
                if args.startup and ready_after is None and answers(readyz):
                    ready_after = time.monotonic() - started
                time.sleep(1.0 if args.startup and ready_after is None else 0.2)
            if spy.poll() is None:
                print("py-spy did not finish in time", file=sys.stderr)
                return 1
            t1 = time.monotonic()
            if watchdog.poll() is not None:
                print(f"the watchdog exited ({watchdog.returncode}) while sampled:")
                print(tail(watchdog_log))
                return 1
            cpu1 = cpu_seconds(watchdog.pid)
            threads = len(os.listdir(f"/proc/{watchdog.pid}/task"))
            spy_output = spy_log.read_text(errors="replace")
            if spy.returncode != 0 or not raw_path.is_file():
                print(f"py-spy failed (exit {spy.returncode}):\n{spy_output}", file=sys.stderr)
                if "ermission" in spy_output:
                    print("attaching needs root, CAP_SYS_PTRACE or kernel.yama.ptrace_scope=0",
                          file=sys.stderr)  # fmt: skip
                return 1
            text = raw_path.read_text()
        except KeyboardInterrupt:
            print("\ninterrupted; stopping the processes", file=sys.stderr)
            return 130
        finally:
            for process in (spy, watchdog, simulator):
                stop(process)

    profile = parse_raw(text, root)
    summary = re.search(r"Samples: (\d+) Errors: (\d+)", spy_output)
    warnings = [line for line in spy_output.splitlines() if "behind" in line]
    window = t1 - t0
    if args.startup:
        cpu0 = 0.0  # the window starts with the process: all its CPU time is in it
        window = t1 - started
    mode = (
        f"from the process start for {args.duration} s"
        if args.startup
        else f"{args.skip:.0f} s after /readyz, for {args.duration} s"
    )
    placement = (
        f"watchdog on core {watchdog_core}, simulator and py-spy on core {sim_core}"
        if pin
        else "not pinned"
    )
    how = "" if args.blocking else " --nonblocking"
    print(
        f"\n{args.targets} targets at default intervals; sampled {mode} at {args.rate} Hz "
        f"(py-spy record{how}); {placement}"
    )
    readiness = (
        f"ready after {ready_after:.1f} s" if ready_after is not None else "not ready in the window"
    )
    print(
        f"watchdog: {readiness}, threads: {threads}; CPU over the window (/proc): "
        f"{cpu1 - cpu0:.1f} s in {window:.1f} s = {(cpu1 - cpu0) / window:.0%} of a core"
    )
    total = profile.total
    errors = f"; {summary[2]} more failed (py-spy errors, dropped)" if summary else ""
    print(f"samples: {total} (= {total / args.rate:.1f} s of running threads){errors}")
    print(
        "idle threads are not sampled (py-spy's default, kept): the shares below are of the "
        "samples where a thread was running, not of wall time"
    )
    print(
        f"innermost frame the event loop's select (epoll_wait): {pct(profile.in_select, total)}; "
        f"stacks cut short (not reaching the entry point): {pct(profile.cut_short, total)}"
    )
    for line in warnings:
        print(f"py-spy warning: {line.removeprefix('py-spy> ')}")
    if args.raw:
        print(f"raw collapsed stacks kept in {args.raw}")
    if not total:
        print("no samples: the watchdog was idle or py-spy could not read it")
        return 1
    print_tables(profile, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
