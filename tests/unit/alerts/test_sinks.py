"""Alert sinks over httpx.MockTransport: Alertmanager v2, webhooks, log; stats and secrets."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from structlog.testing import capture_logs

from watchdog.alerts.model import Alert, AlertState
from watchdog.alerts.sinks import build_sinks
from watchdog.alerts.sinks.alertmanager import AlertmanagerSink, alertmanager_body
from watchdog.alerts.sinks.delivery import Backoff, NotificationStats, Sink, page_url, rfc3339
from watchdog.alerts.sinks.log import LogSink
from watchdog.alerts.sinks.webhook import ZERO_TIME, WebhookSink, webhook_payload
from watchdog.base.redact import MASK, Redactor
from watchdog.base.urls import mask_url

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp()
STATUS_PAGE = "http://watchdog.test:9877/"
AM = "http://am.test:9093"
AM2 = "http://am2.test:9093"
HOOK = "https://hooks.test/services/T0001/B0002/s3cretHookPath"
PASSWORD = "am-b4sic-passw0rd"

Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Seen:
    url: str
    headers: httpx.Headers
    body: Any


class Receiver:
    """A scripted HTTP receiver: records every request; `answer` decides the response."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.seen: list[Seen] = []
        self.answer: Answer = answer or (lambda _: httpx.Response(200))
        self.transport = httpx.MockTransport(self.handle)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        self.seen.append(Seen(str(request.url), request.headers, json.loads(request.content)))
        return self.answer(request)

    def to(self, host: str) -> list[Seen]:
        return [s for s in self.seen if httpx.URL(s.url).host == host]


def down_until_flag(flag: list[bool], failure: Answer | None = None) -> Answer:
    """Fail (connection refused by default) while `flag` is empty, then answer 200."""

    def answer(request: httpx.Request) -> httpx.Response:
        if flag:
            return httpx.Response(200)
        if failure is not None:
            return failure(request)
        raise httpx.ConnectError("connection refused", request=request)

    return answer


def failing_times(n: int, status: int = 503) -> Answer:
    calls = [0]

    def answer(_: httpx.Request) -> httpx.Response:
        calls[0] += 1
        return httpx.Response(status if calls[0] <= n else 200)

    return answer


def firing(target: str = "wa", name: str = "WhatsAppOverloaded", at: float = T0) -> Alert:
    return Alert(
        labels={"alertname": name, "severity": "critical", "target": target, "node": "webapp"},
        annotations={"summary": f"{target} answers 503", "description": "System overloaded"},
        state=AlertState.FIRING,
        active_since=at - 30,
        starts_at=at,
    )


def resolved(alert: Alert, at: float) -> Alert:
    return replace(alert, state=AlertState.RESOLVED, ends_at=at)


def targets_in(body: list[dict[str, Any]]) -> list[str]:
    return sorted(a["labels"]["target"] for a in body)


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


@asynccontextmanager
async def running(sink: Sink) -> AsyncIterator[None]:
    await sink.start()
    try:
        yield
    finally:
        await sink.stop(grace=0.2)


def am_sink(
    receiver: Receiver,
    urls: list[str] | None = None,
    *,
    stats: NotificationStats | None = None,
    clock: Clock | None = None,
    resend_interval: float = 60.0,
    resolved_retention: float = 900.0,
    redactor: Redactor | None = None,
) -> AlertmanagerSink:
    return AlertmanagerSink(
        urls or [AM],
        generator_url=STATUS_PAGE,
        stats=stats or NotificationStats(),
        transport=receiver.transport,
        clock=clock or Clock(),
        resend_interval=resend_interval,
        resolved_retention=resolved_retention,
        timeout=1.0,
        max_backoff=0.02,
        redactor=redactor,
    )


def hook_sink(
    receiver: Receiver,
    urls: list[str] | None = None,
    *,
    stats: NotificationStats | None = None,
    queue_size: int = 1000,
    redactor: Redactor | None = None,
) -> WebhookSink:
    return WebhookSink(
        urls or [HOOK],
        external_url=STATUS_PAGE,
        stats=stats or NotificationStats(),
        transport=receiver.transport,
        queue_size=queue_size,
        timeout=1.0,
        max_backoff=0.02,
        redactor=redactor,
    )


# -- shared pieces ----------------------------------------------------------------------------


def test_rfc3339_is_utc_with_milliseconds() -> None:
    """Times are RFC 3339 in UTC with milliseconds and a `Z`, as Alertmanager expects."""
    assert rfc3339(T0) == "2026-11-25T10:00:00.000Z"
    assert rfc3339(T0 + 1.2345) == "2026-11-25T10:00:01.234Z"


def test_backoff_doubles_from_one_second_up_to_the_cap() -> None:
    """Retry delays start at 1 s, double, never exceed the cap, and restart after a reset."""
    backoff = Backoff(cap=10.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0
    assert Backoff(cap=0.05).next() == 0.05


def test_stats_count_per_sink_and_result_across_threads() -> None:
    """Counters add up exactly under concurrent updates; a snapshot is a copy."""
    stats = NotificationStats()

    def work() -> None:
        for _ in range(1000):
            stats.add("webhook", "success")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats.add("webhook", "dropped", 3)
    stats.add("log", "failure", 0)
    snap = stats.snapshot()
    assert snap == {("webhook", "success"): 8000, ("webhook", "dropped"): 3, ("log", "failure"): 0}
    snap[("log", "failure")] = 99
    assert stats.snapshot()[("log", "failure")] == 0


def test_build_sinks_always_includes_log() -> None:
    """Alertmanager and webhook sinks exist only with URLs; the log sink always does."""
    stats = NotificationStats()
    sinks = build_sinks([AM], [HOOK], generator_url=STATUS_PAGE, stats=stats)
    assert [s.name for s in sinks] == ["alertmanager", "webhook", "log"]
    assert [s.name for s in build_sinks([], [], generator_url=STATUS_PAGE, stats=stats)] == ["log"]
    # Every result series of every sink exists (as 0) before the first notification.
    assert stats.snapshot()[("alertmanager", "failure")] == 0
    assert stats.snapshot()[("webhook", "dropped")] == 0


async def test_submit_never_raises() -> None:
    """A broken input to `submit` is logged by every sink, never raised into the engine."""
    receiver = Receiver()
    sinks: list[Sink] = [am_sink(receiver), hook_sink(receiver), LogSink(NotificationStats())]
    with capture_logs() as logs:
        for sink in sinks:
            sink.submit(cast(Alert, None))
    assert len(events(logs, "alert_submit_failed")) == 3


# -- Alertmanager -----------------------------------------------------------------------------


def test_alertmanager_body_shape_and_times() -> None:
    """Firing: endsAt = now + 4 x resend; resolved: endsAt = resolve time; labels untouched."""
    now = T0 + 100
    fire = firing("a")
    done = resolved(firing("b", at=T0 - 60), at=T0 + 90)
    body = alertmanager_body([fire, done], now=now, resend_interval=60.0, generator_url=STATUS_PAGE)
    assert body == [
        {
            "labels": fire.labels,
            "annotations": fire.annotations,
            "startsAt": "2026-11-25T10:00:00.000Z",
            "endsAt": "2026-11-25T10:05:40.000Z",  # now (10:01:40) + 240 s
            "generatorURL": STATUS_PAGE + "?target=a",
        },
        {
            "labels": done.labels,
            "annotations": done.annotations,
            "startsAt": "2026-11-25T09:59:00.000Z",
            "endsAt": "2026-11-25T10:01:30.000Z",
            "generatorURL": STATUS_PAGE + "?target=b",
        },
    ]
    assert set(body[0]["labels"]) == {"alertname", "severity", "target", "node"}


async def test_alertmanager_posts_to_api_v2_under_path_prefix() -> None:
    """The set is POSTed as JSON to `<base>/api/v2/alerts`, keeping a base path prefix."""
    receiver = Receiver()
    sink = am_sink(receiver, [f"{AM}/alertmanager/"])
    sink.submit(firing())
    async with running(sink):
        await eventually(lambda: len(receiver.seen) == 1)
    [seen] = receiver.seen
    assert seen.url == f"{AM}/alertmanager/api/v2/alerts"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"].startswith("wa-watchdog/")
    assert seen.body == alertmanager_body(
        [firing()], now=T0, resend_interval=60.0, generator_url=STATUS_PAGE
    )


async def test_alertmanager_sends_new_alert_promptly_not_at_next_resend() -> None:
    """A submitted transition goes out within a second, not after the resend interval."""
    receiver, clock = Receiver(), Clock()
    sink = am_sink(receiver, clock=clock, resend_interval=60.0)
    async with running(sink):
        await asyncio.sleep(0.05)
        assert receiver.seen == []  # nothing to say: no empty POST
        sink.submit(firing())
        await eventually(lambda: len(receiver.seen) == 1, timeout=1.0)
        clock.now = T0 + 75
        sink.submit(resolved(firing(), at=T0 + 75))
        await eventually(lambda: len(receiver.seen) == 2, timeout=1.0)
    [alert] = receiver.seen[1].body
    assert alert["endsAt"] == rfc3339(T0 + 75)


async def test_alertmanager_resends_firing_and_retained_resolved_periodically() -> None:
    """Every resend carries all firing alerts and resolved ones until their retention passed."""
    receiver, clock = Receiver(), Clock()
    sink = am_sink(receiver, clock=clock, resend_interval=0.02, resolved_retention=900.0)
    sink.submit(firing("a"))
    sink.submit(firing("b"))
    sink.submit(resolved(firing("c", at=T0 - 100), at=T0))
    async with running(sink):
        await eventually(lambda: len(receiver.seen) >= 4)
        assert all(targets_in(s.body) == ["a", "b", "c"] for s in receiver.seen)
        clock.now = T0 + 900.5  # c resolved 900.5 s ago: past its 900 s retention
        count = len(receiver.seen)
        await eventually(lambda: len(receiver.seen) >= count + 2)
    last = receiver.seen[-1].body
    assert targets_in(last) == ["a", "b"]
    # Each resend pushes a firing alert's endsAt forward: now + 4 x resend.
    assert {a["endsAt"] for a in last} == {rfc3339(T0 + 900.5 + 0.08)}


async def test_alertmanager_catches_up_after_outage_without_loss() -> None:
    """A URL down while alerts fire and resolve gets all firing and retained resolved ones."""
    up: list[bool] = []
    receiver, stats = Receiver(down_until_flag(up)), NotificationStats()
    sink = am_sink(receiver, stats=stats, resend_interval=60.0)
    async with running(sink):
        sink.submit(firing("a"))
        sink.submit(firing("b"))
        await eventually(lambda: len(receiver.seen) >= 2)  # first attempt and a retry
        sink.submit(resolved(firing("b"), at=T0 + 5))
        sink.submit(firing("c"))
        await eventually(lambda: stats.snapshot()[("alertmanager", "failure")] >= 3)
        up.append(True)
        await eventually(lambda: stats.snapshot()[("alertmanager", "success")] == 1)
    body = receiver.seen[-1].body
    assert targets_in(body) == ["a", "b", "c"]
    by_target = {a["labels"]["target"]: a for a in body}
    assert by_target["b"]["endsAt"] == rfc3339(T0 + 5)
    assert by_target["c"]["endsAt"] == rfc3339(T0 + 240)


async def test_alertmanager_every_url_gets_everything_and_dead_one_does_not_delay() -> None:
    """Each URL receives the whole set; a dead URL's retries never hold back a live one."""
    receiver = Receiver(
        lambda r: httpx.Response(200 if r.url.host != "am-dead.test" else 503),
    )
    stats = NotificationStats()
    sink = am_sink(receiver, [AM, AM2, "http://am-dead.test:9093"], stats=stats)
    async with running(sink):
        sink.submit(firing("a"))
        sink.submit(firing("b"))
        await eventually(lambda: len(receiver.to("am.test")) == len(receiver.to("am2.test")) == 1)
        sink.submit(firing("c"))
        await eventually(lambda: len(receiver.to("am.test")) == len(receiver.to("am2.test")) == 2)
    for host in ("am.test", "am2.test"):
        assert targets_in(receiver.to(host)[-1].body) == ["a", "b", "c"]
    assert len(receiver.to("am-dead.test")) >= 2
    snap = stats.snapshot()
    assert snap[("alertmanager", "success")] == 4  # one per POST per URL
    assert snap[("alertmanager", "failure")] == len(receiver.to("am-dead.test"))


async def test_alertmanager_userinfo_becomes_basic_auth_and_stays_out_of_logs() -> None:
    """URL credentials become `Authorization: Basic` and never reach the URL or a log line."""
    up: list[bool] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.url} ({PASSWORD})", request=request)

    receiver, redactor = Receiver(down_until_flag(up, refuse)), Redactor()
    url = f"http://alerts:{PASSWORD}@am.test:9093/prefix"
    sink = am_sink(receiver, [url], redactor=redactor)
    with capture_logs() as logs:
        async with running(sink):
            sink.submit(firing())
            await eventually(lambda: len(receiver.seen) >= 2)
            up.append(True)
            await eventually(lambda: any(e["event"] == "notification_sent" for e in logs))
    token = base64.b64encode(f"alerts:{PASSWORD}".encode()).decode()
    assert receiver.seen[-1].headers["authorization"] == f"Basic {token}"
    assert receiver.seen[-1].url == f"{AM}/prefix/api/v2/alerts"
    failed = events(logs, "notification_failed")
    assert failed
    assert failed[0]["url"] == f"http://alerts:{MASK}@am.test:9093/prefix"
    assert PASSWORD not in repr(logs)
    # The password is registered: wherever else it turns up, the log pipeline masks it.
    assert PASSWORD not in redactor.redact_text(f"oops {PASSWORD}")
    # An Alertmanager address is no secret: it stays readable in other log lines.
    assert redactor.redact_text(f"{AM}/prefix") == f"{AM}/prefix"


async def test_alertmanager_ignores_pending_and_stop_flushes_new_changes() -> None:
    """Pending alerts are not sent; `stop` delivers a change submitted just before it."""
    receiver = Receiver()
    sink = am_sink(receiver)
    await sink.start()
    sink.submit(replace(firing(), state=AlertState.PENDING, starts_at=None))
    sink.submit(firing("a"))
    await sink.stop(grace=1.0)
    assert [targets_in(s.body) for s in receiver.seen] == [["a"]]


async def test_alertmanager_restart_sends_changes_made_while_stopped() -> None:
    """A stopped sink keeps what is submitted and sends it when started again."""
    receiver = Receiver()
    sink = am_sink(receiver)
    async with running(sink):
        sink.submit(firing("a"))
        await eventually(lambda: len(receiver.seen) == 1)
    sink.submit(resolved(firing("a"), at=T0 + 30))
    async with running(sink):
        await eventually(lambda: len(receiver.seen) == 2)
    assert receiver.seen[1].body[0]["endsAt"] == rfc3339(T0 + 30)


async def test_alertmanager_stop_gives_up_after_grace_when_url_is_down() -> None:
    """With a dead URL, `stop` returns after the grace period and logs what was not sent."""
    receiver = Receiver(lambda _: httpx.Response(502))
    sink = am_sink(receiver)
    await sink.start()
    sink.submit(firing())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with capture_logs() as logs:
        await sink.stop(grace=0.1)
    assert loop.time() - started < 1.0
    [undelivered] = events(logs, "notifications_undelivered")
    assert undelivered["urls"] == [AM]


# -- webhook ----------------------------------------------------------------------------------


NAME_GROUP = '{alertname="WhatsAppOverloaded"}'


@pytest.mark.parametrize(
    ("status_url", "target", "link"),
    [
        ("https://wd.example", "shop eu/1", "https://wd.example/?target=shop%20eu%2F1"),
        ("https://wd.example/wa/", "a&b=c#d", "https://wd.example/wa/?target=a%26b%3Dc%23d"),
        ("http://127.0.0.1:9877/wa", "prod", "http://127.0.0.1:9877/wa/?target=prod"),
    ],
)
def test_alert_links_open_the_status_page_at_the_alerts_target(
    status_url: str, target: str, link: str
) -> None:
    """generatorURL and externalURL take people to the target's part of the page, whatever
    characters its name holds."""
    alert = firing(target)
    assert page_url(status_url, alert) == link
    [sent] = alertmanager_body([alert], now=T0, resend_interval=60.0, generator_url=status_url)
    assert sent["generatorURL"] == link
    message = webhook_payload(alert, external_url=status_url)
    assert message["externalURL"] == message["alerts"][0]["generatorURL"] == link


def test_webhook_payload_matches_alertmanager_webhook_format() -> None:
    """The message has Alertmanager's webhook (version 4) fields, for firing and resolved."""
    alert = firing()
    fire = webhook_payload(alert, external_url=STATUS_PAGE)
    assert fire == {
        "version": "4",
        "groupKey": f'{{}}/{{fingerprint="{alert.fingerprint}"}}:{NAME_GROUP}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "wa-watchdog",
        "groupLabels": {"alertname": "WhatsAppOverloaded"},
        "commonLabels": alert.labels,
        "commonAnnotations": alert.annotations,
        "externalURL": STATUS_PAGE + "?target=wa",
        "alerts": [
            {
                "status": "firing",
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": "2026-11-25T10:00:00.000Z",
                "endsAt": ZERO_TIME,
                "generatorURL": STATUS_PAGE + "?target=wa",
                "fingerprint": alert.fingerprint,
            }
        ],
    }
    assert ZERO_TIME == "0001-01-01T00:00:00Z"
    done = webhook_payload(resolved(alert, at=T0 + 61.5), external_url=STATUS_PAGE)
    assert done["status"] == done["alerts"][0]["status"] == "resolved"
    assert done["alerts"][0]["endsAt"] == "2026-11-25T10:01:01.500Z"
    assert done["groupKey"] == fire["groupKey"]


async def test_webhook_sends_one_message_per_transition_to_each_url() -> None:
    """Each URL gets exactly one firing and one resolved message per incident, in order."""
    receiver, stats = Receiver(), NotificationStats()
    other = "https://other.test/hook"
    sink = hook_sink(receiver, [HOOK, other], stats=stats)
    async with running(sink):
        sink.submit(firing())
        sink.submit(replace(firing(), state=AlertState.PENDING))  # not a transition it sends
        sink.submit(resolved(firing(), at=T0 + 60))
        await eventually(lambda: len(receiver.seen) == 4)
        await asyncio.sleep(0.05)
    assert len(receiver.seen) == 4
    for host in ("hooks.test", "other.test"):
        assert [s.body["status"] for s in receiver.to(host)] == ["firing", "resolved"]
    assert receiver.to("hooks.test")[0].url == HOOK
    assert stats.snapshot()[("webhook", "success")] == 4


async def test_webhook_retries_failing_receiver_then_delivers_in_order() -> None:
    """A failing receiver is retried with backoff; firing then resolved arrive in order."""
    receiver, stats = Receiver(failing_times(3)), NotificationStats()
    sink = hook_sink(receiver, stats=stats)
    async with running(sink):
        sink.submit(firing())
        sink.submit(resolved(firing(), at=T0 + 60))
        await eventually(lambda: stats.snapshot()[("webhook", "success")] == 2)
    statuses = [s.body["status"] for s in receiver.seen]
    assert statuses == ["firing", "firing", "firing", "firing", "resolved"]
    assert stats.snapshot()[("webhook", "failure")] == 3


async def test_webhook_rejected_message_is_not_retried_but_throttling_is() -> None:
    """A 4xx rejection is final (logged, next message goes); 429 and 5xx are retried."""
    answers = iter([400, 429, 200])
    receiver = Receiver(lambda _: httpx.Response(next(answers)))
    stats = NotificationStats()
    sink = hook_sink(receiver, stats=stats)
    with capture_logs() as logs:
        async with running(sink):
            sink.submit(firing("a"))
            sink.submit(firing("b"))
            await eventually(lambda: stats.snapshot()[("webhook", "success")] == 1)
    assert [s.body["commonLabels"]["target"] for s in receiver.seen] == ["a", "b", "b"]
    assert len(events(logs, "notification_rejected")) == 1


async def test_webhook_queue_overflow_drops_oldest_and_counts_dropped() -> None:
    """A full queue drops its oldest message, counted `dropped`; the newest are delivered."""
    receiver, stats = Receiver(), NotificationStats()
    sink = hook_sink(receiver, stats=stats, queue_size=2)
    with capture_logs() as logs:
        for target in ("a", "b", "c", "d"):
            sink.submit(firing(target))
    assert stats.snapshot()[("webhook", "dropped")] == 2
    assert [e["alertname"] for e in events(logs, "notification_dropped")] == [
        "WhatsAppOverloaded"
    ] * 2
    async with running(sink):
        await eventually(lambda: len(receiver.seen) == 2)
    assert [s.body["commonLabels"]["target"] for s in receiver.seen] == ["c", "d"]


async def test_webhook_secret_path_and_password_stay_out_of_logs() -> None:
    """The webhook path, query and password never appear in a log line or error detail."""
    url = f"https://bot:{PASSWORD}@hooks.test/services/T0001/B0002/s3cretHookPath?token=tok3n"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    up: list[bool] = []
    receiver, redactor = Receiver(down_until_flag(up, refuse)), Redactor()
    sink = hook_sink(receiver, [url], redactor=redactor)
    with capture_logs() as logs:
        async with running(sink):
            sink.submit(firing())
            await eventually(lambda: len(receiver.seen) >= 2)
            up.append(True)
            await eventually(lambda: any(e["event"] == "notification_sent" for e in logs))
    text = repr(logs)
    for secret in (PASSWORD, "s3cretHookPath", "tok3n"):
        assert secret not in text
    assert events(logs, "notification_failed")[0]["url"] == mask_url(url, hide_path=True)
    assert receiver.seen[-1].headers["authorization"].startswith("Basic ")
    assert "s3cretHookPath" not in redactor.redact_text(f"POST {url} failed")


async def test_webhook_stop_delivers_queue_or_counts_rest_dropped() -> None:
    """`stop` delivers what is queued within the grace; what a dead receiver misses is dropped."""
    receiver, stats = Receiver(), NotificationStats()
    sink = hook_sink(receiver, stats=stats)
    await sink.start()
    for target in ("a", "b", "c"):
        sink.submit(firing(target))
    await sink.stop(grace=1.0)
    assert len(receiver.seen) == 3

    dead, dead_stats = Receiver(lambda _: httpx.Response(503)), NotificationStats()
    sink = hook_sink(dead, stats=dead_stats)
    await sink.start()
    for target in ("a", "b", "c"):
        sink.submit(firing(target))
    with capture_logs() as logs:
        await sink.stop(grace=0.05)
    assert dead_stats.snapshot()[("webhook", "dropped")] == 3
    [lost] = events(logs, "notifications_undelivered")
    assert lost["messages"] == 3
    assert lost["url"] == mask_url(HOOK, hide_path=True)


# -- log --------------------------------------------------------------------------------------


async def test_log_sink_logs_each_transition_and_counts_success() -> None:
    """Firing is a warning `alert_firing`, resolved an info `alert_resolved`; pending is not."""
    stats = NotificationStats()
    sink = LogSink(stats)
    alert = firing()
    async with running(sink):
        with capture_logs() as logs:
            sink.submit(alert)
            sink.submit(replace(alert, state=AlertState.PENDING))
            sink.submit(resolved(alert, at=T0 + 90))
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("alert_firing", "warning"),
        ("alert_resolved", "info"),
    ]
    for event in logs:
        assert event["alertname"] == "WhatsAppOverloaded"
        assert event["severity"] == "critical"
        assert event["target"] == "wa"
        assert event["node"] == "webapp"
        assert event["summary"] == "wa answers 503"
        assert event["fingerprint"] == alert.fingerprint
    assert logs[1]["duration_seconds"] == 90.0
    assert stats.snapshot() == {("log", "success"): 2}


def test_alertmanager_refresh_replaces_the_stored_alert_quietly() -> None:
    """`refresh` updates a known alert's annotations for the next resend; unknown ones are
    ignored (a refresh never creates an alert)."""
    sink = AlertmanagerSink(
        ["http://am.test"], generator_url="http://wd", stats=NotificationStats()
    )
    alert = firing()
    sink.submit(alert)
    newer = replace(alert, annotations={"summary": "s", "description": "7 polls"})
    sink.refresh(newer)
    sink.refresh(firing(target="other"))
    assert [a.annotations for a in sink.current()] == [newer.annotations]
