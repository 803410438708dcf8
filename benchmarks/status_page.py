"""The status page's history: what it costs in memory at 100 targets, and how fast the page renders.

Two child processes, run one after the other on this machine with the same work, under the
daemon's allocator settings (`watchdog.memory.tune_allocator`):
1. `on`: 100 HA targets at the default intervals (health 15 s, metrics 30 s, stats_app 60 s),
   every endpoint polled once with the simulator's answers, then a full `history` (24 h) of
   polls appended to every endpoint's timeline (about 2 % failures, a 429 now and then), and
   the last hour of stats_app answers recorded, which fills the queue trends;
2. `off`: exactly the same, with `Timeline.append` and `Trend.add` made no-ops, so nothing is
   kept.
Each then serves the page and `/api/v1/status` (an hour of history) `--rounds` times, as the
server makes them: `status()` with the alerts, then the page part by part (`page_parts`,
encoded), and the JSON. The difference of the two processes' RSS (VmRSS after a full
collection) before serving is what keeping the history costs, and after serving what keeping
and serving it costs: the headline (goal: at most 10 MB).

The page's time is from the `on` child; the baseline, measured in the same run, is the JSON of
the same document (`json.dumps`, encoded). Goal: the page for 100 targets in under 100 ms. The
gzip the server adds for browsers (level 1, part by part) is timed on its own.

    .venv/bin/python benchmarks/status_page.py [--targets 100] [--rounds 20]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from statistics import median
from typing import Any

from report import figure

from watchdog.alerts.model import Alert, AlertState, AlertView
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import Observation, PollResult, observe
from watchdog.base.targets import Target
from watchdog.memory import tune_allocator
from watchdog.simulator import Deployment, SimulatorConfig, Topology
from watchdog.state import DEFAULT_HISTORY, State
from watchdog.timeline import Timeline, Trend
from watchdog.web.page import page_parts
from watchdog.web.status import status

SCRIPT = "status_page.py"
NOW = 1_800_000_000.0
RSS_GOAL_MB = 10.0
RENDER_GOAL_MS = 100.0
INTERVALS = {Endpoint.HEALTH: 15.0, Endpoint.METRICS: 30.0, Endpoint.STATS_APP: 60.0}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS in /proc/self/status")


def answers(deployment: Deployment, at: float) -> dict[Endpoint, Any]:
    return {
        Endpoint.HEALTH: {"health": deployment.health(at), "meta": deployment.meta},
        Endpoint.METRICS: {"metrics": deployment.metrics(at)},
        Endpoint.STATS_APP: {"stats": {"app": deployment.stats_app(at)}},
    }


def filled(targets: int) -> State:
    """The targets polled once, 24 h of polls in every timeline, the last hour of stats_app."""
    names = [Target(name=f"wa-{i}", url=f"http://wa-{i}.test") for i in range(targets)]
    state = State(names, clock=lambda: NOW, history=DEFAULT_HISTORY)
    rng = random.Random(0)  # noqa: S311 - a repeatable mix of results, not a secret
    for i, target in enumerate(names):
        deployment = Deployment(SimulatorConfig(topology=Topology.HA, seed=i), clock=lambda: NOW)
        deployment.metrics(NOW - 3600)
        for endpoint, body in answers(deployment, NOW - 3600).items():
            state.record(observe(PollResult(target.name, endpoint, NOW - 3600, 0.02, 200, None,
                                            body=body)))  # fmt: skip
        stats = state.get(target.name, Endpoint.STATS_APP)
        assert stats is not None
        assert stats.last is not None
        polled: Observation = stats.last
        for minute in range(60):
            at = NOW - 3600 + 60 * minute
            state.record(replace(polled, result=replace(polled.result, started_at=at)))
        for endpoint, interval in INTERVALS.items():
            endpoint_state = state.get(target.name, endpoint)
            assert endpoint_state is not None
            timeline = endpoint_state.timeline
            at = NOW - DEFAULT_HISTORY
            while at <= NOW:
                draw = rng.random()
                if draw < 0.02:
                    timeline.append(at, "http_503", 503, rng.uniform(0.005, 0.05))
                elif draw < 0.025:
                    timeline.append(at, "http_429", 429, rng.uniform(0.005, 0.05))
                else:
                    timeline.append(at, "ok", 200, rng.uniform(0.005, 0.2))
                at += interval
    return state


def alert_views(targets: int) -> list[AlertView]:
    """A bad night: three targets overloaded, two pending, two resolved a few minutes ago."""
    views = []
    for i, state in [(0, "firing"), (1, "firing"), (2, "firing"), (3, "pending"), (4, "pending"),
                     (5, "resolved"), (6, "resolved")][: targets]:  # fmt: skip
        labels = {"alertname": "WhatsAppOverloaded", "severity": "critical", "target": f"wa-{i}"}
        annotations = {"summary": f"wa-{i} answers 503", "description": "System overloaded"}
        ends = NOW - 120 if state == "resolved" else None
        alert = Alert(labels, annotations, AlertState(state), active_since=NOW - 600,
                      starts_at=NOW - 590, ends_at=ends)  # fmt: skip
        views.append(AlertView(alert, for_left=30.0 if state == "pending" else None))
    return views


def child(mode: str, targets: int, rounds: int) -> None:
    tune_allocator()  # as `watchdog run` does
    if mode == "off":
        Timeline.append = lambda *_, **__: None  # type: ignore[method-assign]
        Trend.add = lambda *_, **__: None  # type: ignore[method-assign]
    state = filled(targets)
    gc.collect()
    result: dict[str, Any] = {"rss_mb": rss_mb()}
    views = alert_views(targets)
    page_ms, json_ms, gzip_ms = [], [], []
    zipped = 0
    size = 0
    for _ in range(rounds):
        # As the server sends it to a browser: made, encoded and gzipped (level 1, as
        # `watchdog.web.routes._gzip`) part by part, never whole; the gzip timed on its own.
        started = time.perf_counter()
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        size = zipped = 0
        packing = 0.0
        for part in page_parts(status(state, NOW, alerts=views)):
            encoded = part.encode()
            size += len(encoded)
            packed = time.perf_counter()
            zipped += len(packer.compress(encoded))
            packing += time.perf_counter() - packed
        zipped += len(packer.flush())
        page_ms.append((time.perf_counter() - started - packing) * 1000)
        gzip_ms.append(packing * 1000)
        started = time.perf_counter()
        json.dumps(status(state, NOW, alerts=views)).encode()
        json_ms.append((time.perf_counter() - started) * 1000)
    gc.collect()
    polls = sum(len(s.timeline) for _, _, s in state.items())
    result.update(served_rss_mb=rss_mb(), page_ms=page_ms, json_ms=json_ms, page_bytes=size,
                  polls=polls, gzip_ms=gzip_ms, gzip_bytes=zipped)  # fmt: skip
    print(json.dumps(result))


def run_child(mode: str, targets: int, rounds: int) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our interpreter, this script
        [sys.executable, __file__, "--child", mode, "--targets", str(targets), "--rounds",
         str(rounds)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.targets, args.rounds)
        return 0
    off = run_child("off", args.targets, args.rounds)
    on = run_child("on", args.targets, args.rounds)
    kept = on["rss_mb"] - off["rss_mb"]
    cost = on["served_rss_mb"] - off["served_rss_mb"]
    page, baseline = median(on["page_ms"]), median(on["json_ms"])
    print(f"{args.targets} targets, {on['polls']:,} polls kept ({DEFAULT_HISTORY / 3600:g} h)")
    print(f"RSS without history {off['rss_mb']:.1f} MB, with {on['rss_mb']:.1f} MB "
          f"(+{kept:.1f}); after serving the page and the JSON {args.rounds} times: "
          f"{off['served_rss_mb']:.1f} and {on['served_rss_mb']:.1f} MB (+{cost:.1f})")  # fmt: skip
    print(f"page: median {page:.1f} ms, max {max(on['page_ms']):.1f} ms, "
          f"{on['page_bytes'] / 1e6:.2f} MB; the same document as JSON: "
          f"median {baseline:.1f} ms")  # fmt: skip
    print(f"page gzipped (level 1): {on['gzip_bytes'] / 1e6:.2f} MB, "
          f"median {median(on['gzip_ms']):.1f} ms")  # fmt: skip
    t = args.targets
    figure(SCRIPT, f"RSS of 24 h of history at {t} targets, kept and served", f"{cost:.1f} MB",
           f"≤ {RSS_GOAL_MB:g} MB", cost <= RSS_GOAL_MB)  # fmt: skip
    figure(SCRIPT, f"status page render at {t} targets (median)", f"{page:.0f} ms",
           f"< {RENDER_GOAL_MS:g} ms", page < RENDER_GOAL_MS)  # fmt: skip
    figure(SCRIPT, "status page / JSON of the same document", f"{page / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
