"""Probe fan-out: health calls per minute that reach the API, with and without the watchdog.

Two simulated deployments run side by side for the same `--duration`, in one run:

(a) `--clients` probing clients (kubelets, load balancers) call the API's `/v1/health` directly,
    each every `--period` seconds;
(b) the same clients probe the watchdog's `/probe/<target>/ready` instead, while the watchdog
    polls the second deployment's health at its default interval (15 s).

Calls are counted where they land, at each simulator (its
`api_requests_duration_ms_count{method="GET_v1_health"}` counters count every request it
served, 429s included), not at the clients. The health endpoint allows 10 calls per 60 s shared
by every caller, so in (a) the clients' own probes are what get refused.

    python benchmarks/probe_fanout.py [--duration 60] [--clients 3] [--period 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from processes import wait_ready
from report import figure

from watchdog.app import build_watchdog
from watchdog.base.log import configure_logging
from watchdog.config.settings import load_settings
from watchdog.simulator import Deployment, SimulatorConfig, SimulatorServer
from watchdog.web.routes import create_app
from watchdog.web.serving import BackgroundServer

KEY = "probe-fanout-benchmark-key"
TARGET = "api"
HEALTH_METHOD = "GET_v1_health"


@dataclass
class Probes:
    """What the probing clients saw: answers by HTTP status (0: no answer)."""

    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def health_calls(deployment: Deployment) -> Counter[str]:
    """Health requests the simulator has served so far, by HTTP result."""
    families = deployment.metrics(deployment.clock())
    counts: Counter[str] = Counter()
    for sample in families.get("api_requests_duration_ms_count", {}).get("data", []):
        labels = sample.get("labels", {})
        if labels.get("method") == HEALTH_METHOD:
            counts[str(labels.get("result"))] += int(sample["value"])
    return counts


@dataclass(frozen=True)
class Schedule:
    """Probe every `period` s, starting `offset` s in, until the monotonic time `until`."""

    offset: float
    period: float
    until: float


async def probe(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    schedule: Schedule,
    probes: Probes,
) -> None:
    """GET `url` on the schedule, noting each answer's status in `probes`."""
    tick = time.monotonic() + schedule.offset
    while tick < schedule.until:
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
        try:
            response = await client.get(url, headers=headers)
            probes.statuses[response.status_code] += 1
        except httpx.TransportError:
            probes.statuses[0] += 1
        tick += schedule.period


async def run_clients(
    direct_url: str, probe_url: str, clients: int, period: float, duration: float
) -> tuple[Probes, Probes]:
    """Both kinds of clients at once, spread evenly over the period; returns what each saw."""
    direct, via = Probes(), Probes()
    until = time.monotonic() + duration
    key = {"Authorization": f"Apikey {KEY}"}
    async with httpx.AsyncClient(timeout=10) as client, asyncio.TaskGroup() as group:
        for i in range(clients):
            schedule = Schedule(i * period / clients, period, until)
            group.create_task(probe(client, direct_url, key, schedule, direct))
            group.create_task(probe(client, probe_url, {}, schedule, via))
    # The last probes go out before the end; the window measured is the whole duration.
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    return direct, via


def table(
    args: argparse.Namespace,
    direct: Probes,
    via: Probes,
    direct_calls: Counter[str],
    via_calls: Counter[str],
) -> str:
    """The figures as a Markdown table, with the setting above and the ratio below."""
    per_minute = 60.0 / args.duration
    header = (
        "probes go to",
        "probes sent",
        "health calls at the API",
        "per minute",
        "of them 429",
        "probes failed",
    )
    rows = [header]
    for name, probes, calls in (
        ("(a) the API's /v1/health", direct, direct_calls),
        (f"(b) the watchdog's /probe/{TARGET}/ready", via, via_calls),
    ):
        total = sum(calls.values())
        rows.append(
            (
                name,
                str(probes.sent),
                str(total),
                f"{total * per_minute:.1f}",
                str(calls["429"]),
                str(probes.failed),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2)] + ["-" * (w + 1) + ":" for w in widths[1:]])
    direct_total, via_total = sum(direct_calls.values()), sum(via_calls.values())
    ratio = f"{direct_total / via_total:.1f}x" if via_total else "n/a (no calls via the watchdog)"
    return "\n".join(
        [
            f"{args.clients} clients, one probe every {args.period:g} s each, for "
            f"{args.duration:g} s; the watchdog polls health every 15 s (its default); the API "
            "allows 10 health calls per 60 s, shared by all callers.",
            "",
            line(rows[0]),
            rule + "|",
            *(line(row) for row in rows[1:]),
            "",
            f"Health calls reaching the API, direct / via the watchdog: {ratio}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--clients", type=int, default=3, help="probing clients (default 3)")
    parser.add_argument("--period", type=float, default=10.0, help="seconds between probes")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.period <= 0:
        parser.error("--duration and --period must be positive, --clients at least 1")
    configure_logging(level="warning", fmt="console", stream=sys.stderr)

    direct_api = Deployment(SimulatorConfig(api_key=KEY))
    watched_api = Deployment(SimulatorConfig(api_key=KEY))
    with SimulatorServer(direct_api) as direct_sim, SimulatorServer(watched_api) as watched_sim:
        # Default intervals: health every 15 s, as deployed.
        settings = load_settings(
            {"WATCHDOG_TARGETS": f"{TARGET}={watched_sim.url}", "WA_API_KEY": KEY}
        )
        watchdog = build_watchdog(settings)
        with BackgroundServer(create_app(watchdog), lifespan="on", name="wa-watchdog") as server:
            if wait_ready(server.url + "/readyz", 30.0) is None:
                raise SystemExit("the watchdog did not become ready")
            print(f"measuring for {args.duration:g} s ...", file=sys.stderr)
            before = health_calls(direct_api), health_calls(watched_api)
            direct, via = asyncio.run(
                run_clients(
                    direct_sim.url + "/v1/health",
                    f"{server.url}/probe/{TARGET}/ready",
                    args.clients,
                    args.period,
                    args.duration,
                )
            )
            after = health_calls(direct_api), health_calls(watched_api)
    direct_calls, via_calls = after[0] - before[0], after[1] - before[1]
    print(table(args, direct, via, direct_calls, via_calls))
    direct_total, via_total = sum(direct_calls.values()), sum(via_calls.values())
    figure(
        "probe_fanout.py",
        f"health calls at the API, {args.clients} probing clients direct / via the watchdog",
        f"{direct_total / via_total:.1f}x ({direct_total} / {via_total})" if via_total else "n/a",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
