"""Where alert transitions go, and `build_sinks`, which wires the configured ones.

Three sinks receive every firing and resolved transition from the engine:

- `LogSink` — one structured log event per transition (`watchdog.alerts.sinks.log`);
- `AlertmanagerSink` — Alertmanager API v2, resending the current set like Prometheus
  (`watchdog.alerts.sinks.alertmanager`);
- `WebhookSink` — one Alertmanager-shaped webhook message per transition
  (`watchdog.alerts.sinks.webhook`).

They share the delivery plumbing of `watchdog.alerts.sinks.delivery`, which imports none of
them.
"""

from __future__ import annotations

from collections.abc import Iterable

from watchdog.alerts.sinks.alertmanager import AlertmanagerSink
from watchdog.alerts.sinks.delivery import NotificationStats, Sink
from watchdog.alerts.sinks.log import LogSink
from watchdog.alerts.sinks.webhook import WebhookSink
from watchdog.base.redact import Redactor

__all__ = ["build_sinks"]


def build_sinks(
    alertmanager_urls: Iterable[str],
    webhook_urls: Iterable[str],
    *,
    generator_url: str,
    stats: NotificationStats,
    redactor: Redactor | None = None,
) -> list[Sink]:
    """The configured sinks: Alertmanager and webhook when they have URLs, the log always.

    *generator_url* is the watchdog's status page; it is the ``generatorURL`` of every alert
    and the webhook payload's ``externalURL``.
    """
    sinks: list[Sink] = []
    am_urls, hook_urls = list(alertmanager_urls), list(webhook_urls)
    if am_urls:
        sinks.append(
            AlertmanagerSink(am_urls, generator_url=generator_url, stats=stats, redactor=redactor)
        )
    if hook_urls:
        sinks.append(
            WebhookSink(hook_urls, external_url=generator_url, stats=stats, redactor=redactor)
        )
    sinks.append(LogSink(stats))
    return sinks
