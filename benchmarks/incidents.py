"""Detection latency for `scale.py`: 503 incidents on random targets, alerts from the webhook.

One after the other, a random target's simulator is switched to `overloaded` (every endpoint
answers 503) at a random moment and the script's webhook receiver waits for the watchdog's
firing `WhatsAppOverloaded` for it; then the target is healthy again. The floor of each, the
wait for the target's next poll, is known from the schedule, so what the watchdog adds shows.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.receivers import Received, WebhookReceiver  # noqa: E402

__all__ = ["Incident", "WebhookReceiver", "detection_table", "incidents"]


@dataclass(frozen=True)
class Incident:
    target: str
    floor: float  # seconds from the onset to the target's next poll
    latency: float | None  # seconds from the onset to the alert; None: never alerted


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


def incidents(
    sim: str,
    receiver: WebhookReceiver,
    targets: int,
    count: int,
    seed: int,
    *,
    next_poll: Callable[[str, float], float],
    timeout: float,
) -> list[Incident]:
    """`count` incidents one after the other on the simulator at `sim` (`wa-0` ... `wa-N`)."""
    rng = random.Random(seed)  # noqa: S311 (onset times, not secrets)
    found: list[Incident] = []
    for name in (f"wa-{i}" for i in rng.sample(range(targets), count)):
        time.sleep(rng.uniform(0.5, 3.0))  # onsets anywhere in the targets' poll cycles
        onset = time.time()
        httpx.post(f"{sim}/{name}/_sim/scenario", json={"scenario": "overloaded"}, timeout=10)
        fired = wait_fired(receiver, name, timeout)
        httpx.post(f"{sim}/{name}/_sim/scenario", json={"scenario": "healthy"}, timeout=10)
        found.append(
            Incident(name, next_poll(name, onset) - onset, None if fired is None else fired - onset)
        )
    return found


def detection_table(found: list[Incident]) -> float:
    """Print the incidents; the worst latency (infinite if any never alerted, or none ran)."""
    print("\n| target | floor: its next poll | alerted (webhook) | added by the watchdog |")
    print("|---|---:|---:|---:|")
    for one in found:
        alerted = "never" if one.latency is None else f"{one.latency:.2f} s"
        added = "" if one.latency is None else f"{one.latency - one.floor:+.2f} s"
        print(f"| {one.target} | {one.floor:.2f} s | {alerted} | {added} |")
    latencies = [one.latency for one in found if one.latency is not None]
    return max(latencies) if len(latencies) == len(found) and latencies else float("inf")
