"""The webhook sink against a real receiver: one message per transition, in Alertmanager's shape."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import StartAlertmanager, StartWatched, wait_for
from tests.receivers import Received, WebhookReceiver
from watchdog.simulator import Scenario

# Alertmanager's webhook message (version 4) and the alerts in it: every key, no other.
MESSAGE_KEYS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
ALERT_KEYS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}
# What Alertmanager writes in `endsAt` when it has no end time (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"
# A secret-looking path, as real webhook URLs (Slack, PagerDuty, Teams) have.
HOOK_PATH = "/hooks/wa-watchdog-0123456789abcdef"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def shape(body: dict[str, Any]) -> dict[str, str]:
    """Each key of a message (or alert) -> the JSON type of its value."""
    return {key: type(value).__name__ for key, value in body.items()}


# The two live counts in WhatsAppOverloaded's description: the watchdog's polls that got 503
# and the other clients' requests the API answered 503. The rest of the text is fixed.
LIVE_COUNTS = re.compile(r"\d+(?= of the watchdog's polls got )|(?<=the API counted )\d+")


def counts_masked(annotations: dict[str, str]) -> dict[str, str]:
    """*annotations* with the description's two live counts masked, nothing else.

    At firing, the watchdog's webhook message is the snapshot taken at the transition, while
    Alertmanager's carries the annotations of the watchdog's POST to it, which goes out a moment
    later and may already count the 503 of a poll that ended in between.
    """
    masked = {key: LIVE_COUNTS.sub("#", text) for key, text in annotations.items()}
    assert masked["description"].count("#") == 2, annotations  # the counts are where we think
    return masked


def alert_of(message: Received) -> dict[str, Any]:
    [alert] = message.body["alerts"]
    assert isinstance(alert, dict)
    return alert


@pytest.mark.slow
def test_one_incident_is_one_firing_then_one_resolved_message(
    webhook_receiver: WebhookReceiver, start_watched: StartWatched
) -> None:
    """Healthy: nothing; one overload: exactly one `firing` then one `resolved` message."""
    watched = start_watched({"WATCHDOG_WEBHOOK_URLS": webhook_receiver.url + HOOK_PATH})
    for _ in range(2):
        watched.watchdog.poller.poll_soon()
        watched.wait_health_polls(1)

    # The sink delivers in order, so a message sent for the healthy polls above would arrive
    # before the overload's: the first message being the overload's proves there was none.
    switched = time.time()
    watched.set_scenario(Scenario.OVERLOADED)
    wait_for(lambda: len(webhook_receiver.messages()) >= 1, "the firing message", 10)
    first = alert_of(webhook_receiver.messages()[0])
    assert epoch(first["startsAt"]) >= switched - 0.001, "sent while healthy"  # ms in RFC 3339
    watched.set_scenario(Scenario.HEALTHY)
    wait_for(lambda: len(webhook_receiver.messages()) >= 2, "the resolved message", 25)
    # Likewise after the resolution: one more healthy poll (evaluated as it is recorded), then
    # a new incident, whose firing message must come right after the resolved one.
    watched.watchdog.poller.poll_soon()
    watched.wait_health_polls(1)
    watched.set_scenario(Scenario.OVERLOADED)
    wait_for(lambda: len(webhook_receiver.messages()) >= 3, "the next firing message", 10)
    firing, resolved, again = webhook_receiver.messages()[:3]
    statuses = [m.body["status"] for m in (firing, resolved, again)]
    assert statuses == ["firing", "resolved", "firing"]

    assert [firing.path, resolved.path] == [HOOK_PATH, HOOK_PATH]
    assert firing.at <= resolved.at
    labels = {"alertname": "WhatsAppOverloaded", "severity": "critical", "target": watched.target}
    for message, status in ((firing, "firing"), (resolved, "resolved")):
        body = message.body
        assert set(body) == MESSAGE_KEYS
        assert body["version"] == "4"
        assert body["status"] == status
        assert body["truncatedAlerts"] == 0
        assert body["groupLabels"] == {"alertname": "WhatsAppOverloaded"}
        assert body["commonLabels"] == labels
        assert set(body["commonAnnotations"]) == {"summary", "description"}
        assert body["externalURL"] == f"{watched.url}/?target={watched.target}"
        alert = alert_of(message)
        assert set(alert) == ALERT_KEYS
        assert alert["status"] == status
        assert alert["labels"] == labels
        assert alert["annotations"] == body["commonAnnotations"]
        assert alert["generatorURL"] == f"{watched.url}/?target={watched.target}"
    # One incident: the same alert and group, ended after it started.
    assert firing.body["groupKey"] == resolved.body["groupKey"]
    assert alert_of(firing)["fingerprint"] == alert_of(resolved)["fingerprint"]
    assert alert_of(firing)["startsAt"] == alert_of(resolved)["startsAt"]
    assert alert_of(firing)["endsAt"] == ZERO_TIME
    assert epoch(alert_of(resolved)["endsAt"]) > epoch(alert_of(resolved)["startsAt"])


@pytest.mark.slow
def test_webhook_message_has_the_shape_alertmanager_itself_sends(
    webhook_receiver: WebhookReceiver,
    start_alertmanager: StartAlertmanager,
    start_watched: StartWatched,
) -> None:
    """Firing and resolved: the watchdog's message has the keys, types and values AM's has."""
    # Only what is the sender's own may differ: `receiver`, `groupKey`, `externalURL` and the
    # alert's `fingerprint` (each computes its own from the labels).
    am = start_alertmanager(
        config=(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname]\n"
            "  group_wait: 0s\n"
            "  group_interval: 1s\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_receiver.url}/from-alertmanager\n"
            "        send_resolved: true\n"
        )
    )
    watched = start_watched(
        {
            "WATCHDOG_ALERTMANAGER_URLS": am.url,
            "WATCHDOG_WEBHOOK_URLS": webhook_receiver.url + "/from-watchdog",
        }
    )

    paths = ("/from-alertmanager", "/from-watchdog")

    def each_sent(count: int) -> bool:
        return all(len(webhook_receiver.messages(path)) >= count for path in paths)

    watched.set_scenario(Scenario.OVERLOADED)
    wait_for(lambda: each_sent(1), "a firing message from each", 10)
    watched.set_scenario(Scenario.HEALTHY)
    wait_for(lambda: each_sent(2), "a resolved message from each", 25)

    for index, status in enumerate(("firing", "resolved")):
        theirs = webhook_receiver.messages("/from-alertmanager")[index].body
        ours = webhook_receiver.messages("/from-watchdog")[index].body
        assert shape(ours) == shape(theirs)
        assert shape(ours["alerts"][0]) == shape(theirs["alerts"][0])
        same = ("version", "status", "truncatedAlerts", "groupLabels", "commonLabels")
        assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
        assert ours["status"] == status
        [our_alert], [their_alert] = ours["alerts"], theirs["alerts"]
        for key in ("status", "labels", "generatorURL"):
            assert our_alert[key] == their_alert[key], key
        # The resolved alert is one object handed to both sinks: its text must match exactly.
        same_text = counts_masked if status == "firing" else dict
        assert same_text(ours["commonAnnotations"]) == same_text(theirs["commonAnnotations"])
        assert same_text(our_alert["annotations"]) == same_text(their_alert["annotations"])
        # Times as instants: Go may write fewer fraction digits; firing: both the zero time.
        for key in ("startsAt", "endsAt"):
            assert epoch(our_alert[key]) == pytest.approx(epoch(their_alert[key]), abs=0.001)
