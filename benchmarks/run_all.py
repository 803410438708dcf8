"""Every benchmark in one go (`make bench`), then one table of every headline figure.

`memory.py`, `webapps_soak.py` and `backoff.py` run in the background from the start: they
mostly wait (their watchdogs poll 100, 2 and 2 targets at the default intervals, a few % of a
core together), their figures are counts and memory, not timings, and run one after the other
their 10-, 10- and 4-minute soaks would double the run (about 20 minutes as it is). The others
run one after the other, each printing its own tables as it goes; their `FIGURE` lines
(`benchmarks/report.py`) are gathered into the summary at the end, the background scripts'
after them with their output. A script that fails is reported and the others still run; the
exit status is 1 if any failed. A goal that is not met is a measurement, not a failure.

    .venv/bin/python benchmarks/run_all.py [--only scale.py,load.py]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from report import TABLE_HEAD, Figure, parse

HERE = Path(__file__).resolve().parent
BACKGROUND: list[tuple[str, list[str]]] = [
    ("memory.py", []),
    ("webapps_soak.py", []),
    ("backoff.py", []),
]
# Longest first, so a failure in a long one shows early; alert_latency with 5 incidents (its
# README figures use 10) keeps the whole run near 20 minutes.
SEQUENCE: list[tuple[str, list[str]]] = [
    ("scale.py", []),
    ("loop_steps.py", []),
    ("alert_latency.py", ["--incidents", "5"]),
    ("scrape_cost.py", []),
    ("load.py", []),
    ("probe_fanout.py", []),
    ("page_matrix.py", []),
    ("fault_matrix.py", []),
    ("status_page.py", []),
]


# Unbuffered, so each script's lines show as they come, not when its pipe's buffer fills.
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def command(script: str, args: list[str]) -> list[str]:
    return [sys.executable, str(HERE / script), *args]


def run(script: str, args: list[str]) -> tuple[int, list[Figure]]:
    """Run one script in the foreground, echoing its output; its exit status and figures."""
    print(f"\n## {script} {' '.join(args)}\n", flush=True)
    figures = []
    started = time.monotonic()
    with subprocess.Popen(  # noqa: S603 - our interpreter, our scripts
        command(script, args), stdout=subprocess.PIPE, text=True, cwd=HERE.parent, env=ENV
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            found = parse(line)
            if found is None:
                print(line, end="", flush=True)
            else:
                figures.append(found)
    print(f"\n({script}: {(time.monotonic() - started) / 60:.1f} minutes)", flush=True)
    return process.returncode, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated script names to run")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    background = [(s, a) for s, a in BACKGROUND if not only or s in only]
    sequence = [(s, a) for s, a in SEQUENCE if not only or s in only]

    started = time.monotonic()
    failed: list[str] = []
    figures: list[Figure] = []
    with ExitStack() as stack:
        running: list[tuple[str, subprocess.Popen[str], IO[str]]] = []

        def interrupt_background() -> None:
            # Only when the run itself was cut short: SIGINT, so each script's `finally` stops
            # the simulator and watchdog it started.
            for _, process, _ in running:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
                    process.wait(timeout=60)

        stack.callback(interrupt_background)
        for script, script_args in background:
            print(f"## {script} started in the background; its output comes at the end")
            out: IO[str] = stack.enter_context(tempfile.TemporaryFile("w+"))
            process = subprocess.Popen(  # noqa: S603
                command(script, script_args),
                stdout=out, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent, env=ENV,
            )  # fmt: skip
            running.append((script, process, out))
        for script, script_args in sequence:
            status, found = run(script, script_args)
            figures += found
            if status != 0:
                failed.append(f"{script} (exit {status})")
        for script, process, out in running:
            status = process.wait()
            out.seek(0)
            print(f"\n## {script} (ran in the background)\n")
            for line in out:
                found_line = parse(line)
                if found_line is None:
                    print(line, end="")
                else:
                    figures.append(found_line)
            if status != 0:
                failed.append(f"{script} (exit {status})")

    minutes = (time.monotonic() - started) / 60
    print(f"\n## Every figure ({minutes:.1f} minutes in all)\n")
    print(TABLE_HEAD)
    for one in figures:
        print(one.row())
    missed = [f for f in figures if f.met is False]
    print(f"\n{len(figures)} figures; {len(missed)} goals not met.")
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
