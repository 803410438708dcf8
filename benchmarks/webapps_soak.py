"""Webapps soak: three Webapps behind one URL, one of them overloaded, for ten minutes.

One watchdog (`watchdog run`, default intervals: health 15 s, metrics 30 s, stats_app 60 s,
stats_db off) polls two simulated deployments (`watchdog simulate --deployments 2 --webapps 3`),
each three Webapps behind a round-robin load balancer, with a webhook pointing at this script.
Once every endpoint of every target has been polled once (`/readyz`), Webapp 1 of the second
deployment is overloaded (`POST /wa-1/_sim/scenario {"scenario": "overloaded", "webapp": 1}`):
it answers every request it gets with 503 (1016) while Webapps 0 and 2 answer normally, so
every third request of the watchdog to that deployment fails, whichever endpoint it is for.

For `--duration` seconds every webhook message is recorded and `/api/v1/alerts` is read every
`--sample` seconds (pending alerts, which send no message, are seen there). Goals: no alert at
all on the healthy deployment; on the other, `WhatsAppOverloaded` fires exactly once and stays
firing (no resolve and re-fire while a Webapp keeps failing); no other alert.

The simulator's `/_sim/arrivals` says when each request arrived; the load balancer gives the
n-th request of a deployment to Webapp n mod 3, so the arrivals also say which polls got the
503s (checked against the watchdog's own 503 count) and the longest stretch without one, to
hold against the rule's window (60 s) and keep_firing_for (2 m).

    .venv/bin/python benchmarks/webapps_soak.py [--duration 600] [--sample 10] [--log FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from processes import free_port, start_simulator, stop, wait_ready, wait_simulator
from report import figure

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.receivers import WebhookReceiver  # noqa: E402

SCRIPT = "webapps_soak.py"
KEY = "webapps-soak-benchmark-key"
WEBAPPS = 3
OVERLOADED_WEBAPP = 1
ALERTNAME = "WhatsAppOverloaded"
# Target name -> the simulator's deployment.
HEALTHY, OVERLOADED = "healthy", "overloaded"
DEPLOYMENTS = {HEALTHY: "wa-0", OVERLOADED: "wa-1"}
ENDPOINTS = {"/v1/health": "health", "/metrics": "metrics", "/v1/stats/app": "stats_app"}
# The rule's defaults (README, "Alert rules"), for the reading of the longest stretch.
WINDOW, KEEP_FIRING_FOR = 60.0, 120.0


@dataclass(frozen=True)
class Message:
    """One alert of one webhook message, as received."""

    at: float
    status: str
    labels: dict[str, str]


def alert_messages(receiver: WebhookReceiver) -> list[Message]:
    """Every alert of every webhook message received so far, in order."""
    return [
        Message(
            received.at,
            str(alert.get("status")),
            {str(k): str(v) for k, v in alert.get("labels", {}).items()},
        )
        for received in receiver.messages()
        for alert in received.alerts
    ]


@dataclass
class Seen:
    """An alert as `/api/v1/alerts` showed it over the soak."""

    labels: dict[str, str]
    states: set[str] = field(default_factory=set)
    starts: set[str] = field(default_factory=set)  # `startsAt` values: one per firing


def sample_alerts(base: str, seen: dict[str, Seen]) -> None:
    for alert in httpx.get(base + "/api/v1/alerts", timeout=10).json()["alerts"]:
        entry = seen.setdefault(alert["fingerprint"], Seen(dict(alert["labels"])))
        entry.states.add(alert["state"])
        if alert["startsAt"] is not None:
            entry.starts.add(alert["startsAt"])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any WA_/WATCHDOG_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "WATCHDOG_"))}
    return {**env, **extra}


def failed_arrivals(
    arrivals: list[tuple[float, str]], deployment: str, switched: float
) -> list[tuple[float, str]]:
    """The requests of `deployment` that Webapp OVERLOADED_WEBAPP got after `switched`.

    Round robin: the n-th API request of a deployment (counted from the simulator's start; the
    admin API bypasses the balancer and is not in the arrivals) goes to Webapp n mod WEBAPPS.
    """
    prefix = f"/{deployment}/"
    mine = [(at, path) for at, path in arrivals if path.startswith(prefix)]
    return [
        (at, path[len(prefix) - 1 :])
        for n, (at, path) in enumerate(mine)
        if n % WEBAPPS == OVERLOADED_WEBAPP and at >= switched
    ]


def main() -> int:  # noqa: PLR0915 - one linear measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600.0, help="the soak, seconds")
    parser.add_argument("--sample", type=float, default=10.0, help="read /api/v1/alerts every")
    parser.add_argument("--log", default=None, help="write the watchdog's JSON log to this file")
    args = parser.parse_args()

    sim_port, watchdog_port = free_port(), free_port()
    env = clean_env(WA_API_KEY=KEY)
    simulator = start_simulator(sim_port, len(DEPLOYMENTS), env, "--webapps", str(WEBAPPS))
    sim = f"http://127.0.0.1:{sim_port}"
    receiver = WebhookReceiver().start()
    watchdog = None
    log: IO[bytes] | None = None
    try:
        if wait_simulator(sim_port, len(DEPLOYMENTS), 60.0) is None:
            return 1
        targets = ",".join(f"{name}={sim}/{d}" for name, d in DEPLOYMENTS.items())
        log = open(args.log, "wb") if args.log else None  # noqa: SIM115 - closed below
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "run"],
            env={**env, "WATCHDOG_TARGETS": targets, "WATCHDOG_LOG_FORMAT": "json",
                 "WATCHDOG_WEBHOOK_URLS": receiver.url + "/hook",
                 "WATCHDOG_LISTEN": f"127.0.0.1:{watchdog_port}"},
            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{watchdog_port}"
        ready = wait_ready(base + "/readyz", 60.0, watchdog)
        if ready is None:
            print("the watchdog did not get ready within 60 s")
            return 1
        # After the first poll of every endpoint of every target: Webapp 1 of one deployment.
        switch = httpx.post(
            f"{sim}/{DEPLOYMENTS[OVERLOADED]}/_sim/scenario",
            json={"scenario": "overloaded", "webapp": OVERLOADED_WEBAPP},
            timeout=10,
        )
        switch.raise_for_status()
        switched = time.time()
        print(
            f"watchdog ready after {ready:.1f} s; Webapp {OVERLOADED_WEBAPP} of "
            f"{DEPLOYMENTS[OVERLOADED]} overloaded; soaking {args.duration:.0f} s",
            flush=True,
        )
        seen: dict[str, Seen] = {}
        end = switched + args.duration
        while time.time() < end:
            time.sleep(max(0.0, min(args.sample, end - time.time())))
            if watchdog.poll() is not None:
                print(f"the watchdog exited with {watchdog.returncode} during the soak")
                return 1
            sample_alerts(base, seen)
        # Messages are posted right after the transition; a moment for one in flight.
        time.sleep(2.0)
        sample_alerts(base, seen)
        messages = alert_messages(receiver)
        status = {
            t["name"]: t for t in httpx.get(base + "/api/v1/status", timeout=10).json()["targets"]
        }
        arrivals: list[tuple[float, str]] = httpx.get(
            f"{sim}/_sim/arrivals", params={"since": 0}, timeout=60
        ).json()["arrivals"]
        webapps = {
            name: httpx.get(f"{sim}/{d}/_sim/state", timeout=10).json()["webapps"]
            for name, d in DEPLOYMENTS.items()
        }
    finally:
        stop(watchdog)
        stop(simulator)
        receiver.stop()
        if log is not None:
            log.close()

    # -- what the API saw ----------------------------------------------------------------------
    print(f"\n{args.duration:.0f} s soak from the switch; alerts read every {args.sample:g} s\n")
    print("| target | requests (health / metrics / stats_app) | per Webapp (served) "
          "| watchdog polls | of them 503 | level at the end |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|")
    for name, deployment in DEPLOYMENTS.items():
        prefix = f"/{deployment}"
        paths = [p[len(prefix) :] for at, p in arrivals if p.startswith(prefix + "/")]
        per = " / ".join(str(paths.count(path)) for path in ENDPOINTS)
        served = " / ".join(str(w["requests_served"]) for w in webapps[name])
        endpoints = status[name]["endpoints"]
        polls = sum(e["polls"] for e in endpoints.values())
        failed = sum(e["errors"].get("http_503", 0) for e in endpoints.values())
        print(f"| {name} | {len(paths)} ({per}) | {served} | {polls} | {failed} "
              f"| {status[name]['level']} |")  # fmt: skip

    failing = failed_arrivals(arrivals, DEPLOYMENTS[OVERLOADED], switched)
    own_503 = sum(e["errors"].get("http_503", 0) for e in status[OVERLOADED]["endpoints"].values())
    times = [at for at, _ in failing]
    # From each 503 to the next (or to the end): the first one, which fires the alert, on.
    gaps = [b - a for a, b in zip(times, [*times[1:], end], strict=True)]
    longest = max(gaps) if gaps else args.duration
    print(
        f"\nRequests Webapp {OVERLOADED_WEBAPP} got (round robin over the arrivals): "
        f"{len(failing)} ({', '.join(f'{ENDPOINTS[p]} {sum(q == p for _, q in failing)}' for p in ENDPOINTS)}); "  # noqa: E501
        f"the watchdog counted {own_503} answered 503"
        + ("" if len(failing) == own_503 else " (MISMATCH: the reconstruction is off)")
        + f". Longest stretch without a 503 poll: {longest:.1f} s (the rule's window is "
        f"{WINDOW:.0f} s; keep_firing_for {KEEP_FIRING_FOR:.0f} s bridges longer ones)."
    )

    # -- alerts ----------------------------------------------------------------------------------
    print("\nWebhook messages (time from the switch):\n")
    print("| s | status | alertname | target |")
    print("|---:|---|---|---|")
    for m in messages:
        print(f"| {m.at - switched:.1f} | {m.status} | {m.labels.get('alertname')} "
              f"| {m.labels.get('target')} |")  # fmt: skip
    if not messages:
        print("| | (none) | | |")
    print("\n/api/v1/alerts over the soak (every alert seen, with every state it was seen in):\n")
    for entry in seen.values():
        print(f"- {entry.labels.get('alertname')} on {entry.labels.get('target')}: states "
              f"{sorted(entry.states)}, {len(entry.starts)} firing start(s)")  # fmt: skip
    if not seen:
        print("- (none)")

    def is_overloaded_alert(labels: dict[str, str]) -> bool:
        return labels.get("target") == OVERLOADED and labels.get("alertname") == ALERTNAME

    healthy_alerts = {
        json.dumps(m.labels, sort_keys=True) for m in messages if m.labels["target"] == HEALTHY
    } | {key for key, s in seen.items() if s.labels.get("target") == HEALTHY}
    fired = [m for m in messages if is_overloaded_alert(m.labels) and m.status == "firing"]
    resolved = [m for m in messages if is_overloaded_alert(m.labels) and m.status == "resolved"]
    starts = {start for s in seen.values() if is_overloaded_alert(s.labels) for start in s.starts}
    others = {
        json.dumps(m.labels, sort_keys=True)
        for m in messages
        if m.labels["target"] == OVERLOADED and not is_overloaded_alert(m.labels)
    } | {
        key
        for key, s in seen.items()
        if s.labels.get("target") == OVERLOADED and not is_overloaded_alert(s.labels)
    }
    print(
        f"\nOn {HEALTHY}: {len(healthy_alerts)} alert(s). On {OVERLOADED}: {len(fired)} firing "
        f"and {len(resolved)} resolved {ALERTNAME} message(s), {len(starts)} firing start(s) "
        f"seen in /api/v1/alerts; {len(others)} other alert(s)."
    )
    minutes = f"{args.duration / 60:g}-min soak"
    figure(
        SCRIPT, f"alerts on the healthy deployment (3 Webapps), {minutes}",
        str(len(healthy_alerts)), "0", not healthy_alerts,
    )  # fmt: skip
    figure(
        SCRIPT, f"{ALERTNAME} firing notifications, 1 of 3 Webapps overloaded, {minutes}",
        f"{len(fired)} ({len(resolved)} resolved)", "exactly 1, never resolved",
        len(fired) == 1 and not resolved and len(starts) <= 1,
    )  # fmt: skip
    figure(
        SCRIPT, f"other alerts on the overloaded deployment, {minutes}",
        str(len(others)), "0", not others,
    )  # fmt: skip
    figure(
        SCRIPT, "longest stretch without a 503 poll, 1 of 3 Webapps overloaded",
        f"{longest:.0f} s",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
