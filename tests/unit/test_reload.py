"""Reloading the configuration on a running watchdog: targets added, removed, changed, refused."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Coroutine, MutableMapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from watchdog.alerts.model import AlertState
from watchdog.api.endpoints import Endpoint
from watchdog.api.results import PollResult
from watchdog.app import Watchdog, build_watchdog
from watchdog.base.errors import ConfigError
from watchdog.base.redact import MASK, Redactor
from watchdog.base.targets import Target
from watchdog.config.settings import Settings
from watchdog.reload import Reloader, TargetChanges, restart_only

KEY = "unit-reload-key-0123456789"
NOW = 1_800_000_000.0


class FakeClient:
    """Answers 200 (or `status`), optionally after `delay` s; remembers being closed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.status = 200
        self.delay = 0.0
        self.closed = False
        self.closes = 0

    async def poll(self, endpoint: Endpoint) -> PollResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        name = self.target.name
        if self.status != 200:
            reason = f"http_{self.status}"
            return PollResult(name, endpoint, NOW, 0.01, self.status, reason, f"HTTP {self.status}")
        body: dict[str, Any] = {"metrics": {}}
        if endpoint is Endpoint.HEALTH:
            body = {"health": {"gateway_status": "connected"}, "meta": {"version": "v2.45.1"}}
        return PollResult(name, endpoint, NOW, 0.01, 200, None, body=body)

    async def aclose(self) -> None:
        self.closed = True
        self.closes += 1


class Rig:
    """A watchdog on fake clients, with every client ever made, per target name."""

    def __init__(self, settings: Settings) -> None:
        self.made: dict[str, list[FakeClient]] = {}
        self.watchdog: Watchdog = build_watchdog(
            settings, client_factory=self.factory, clock=lambda: NOW
        )

    def factory(self, target: Target) -> FakeClient:
        client = FakeClient(target)
        self.made.setdefault(target.name, []).append(client)
        return client

    def client(self, name: str) -> FakeClient:
        return self.made[name][-1]

    def jobs(self) -> set[str]:
        return {job.id for job in self.watchdog.poller.scheduler.get_jobs()}

    def polls(self, name: str, endpoint: Endpoint = Endpoint.HEALTH) -> int:
        state = self.watchdog.state.get(name, endpoint)
        assert state is not None
        return state.polls

    async def poll(self, name: str, endpoint: Endpoint = Endpoint.HEALTH) -> None:
        # In its own task, as a job runs: the poller waits for polls in flight by their task.
        await asyncio.create_task(self.watchdog.poller.poll(name, endpoint))


def settings(*targets: dict[str, Any], **options: Any) -> Settings:
    return Settings(api_key=KEY, targets=list(targets), **options)


def target(name: str, url: str | None = None, **options: Any) -> dict[str, Any]:
    return {"name": name, "url": url or f"http://{name}.test", **options}


def run(
    first: Settings, scenario: Callable[[Rig], Coroutine[Any, Any, None]]
) -> list[MutableMapping[str, Any]]:
    """Run `scenario` on a started (paused) poller; returns the log events."""
    rig = Rig(first)

    async def main() -> None:
        rig.watchdog.poller.start()
        rig.watchdog.poller.scheduler.pause()  # jobs exist, but only the test polls
        try:
            await scenario(rig)
        finally:
            await rig.watchdog.poller.shutdown()

    with capture_logs() as logs:
        asyncio.run(main())
    return logs


def event(logs: list[MutableMapping[str, Any]], name: str) -> MutableMapping[str, Any]:
    [found] = [entry for entry in logs if entry["event"] == name]
    return found


def test_target_changes_sort_names_by_what_happens_to_them() -> None:
    """Added, removed, changed (any field) and moved (a new URL, a subset of changed)."""
    old = [Target(name=n, url=f"http://{n}.test") for n in ("a", "b", "c", "d")]
    new = [
        Target(name="a", url="http://a.test"),
        Target(name="b", url="http://b.test", labels={"team": "x"}),
        Target(name="c", url="http://c2.test"),
        Target(name="e", url="http://e.test"),
    ]
    changes = TargetChanges.between(old, new)
    assert changes == TargetChanges(added=["e"], removed=["d"], changed=["b", "c"], moved=["c"])


def test_another_cloud_number_or_waba_is_another_deployment() -> None:
    """A Cloud target given another number, WABA or kind starts afresh like a new URL: the old
    number's higher messaging limit must not read as a drop of the new one's. Another interval
    is the same number."""

    def cloud(name: str, number: str = "106540352242922", **options: Any) -> Target:
        return Target(name=name, kind="cloud", phone_number_id=number, **options)

    old = [cloud("a"), cloud("b", waba_id="102290129340398"), cloud("c"), cloud("d")]
    new = [
        cloud("a", number="106540352242999"),
        cloud("b", waba_id="102290129340399"),
        cloud("c", health_interval=60.0),
        Target(name="d", url="https://graph.facebook.com"),
    ]
    changes = TargetChanges.between(old, new)
    assert changes.moved == ["a", "b", "d"]
    assert changes.changed == ["a", "b", "c", "d"]


def test_reload_adds_removes_and_changes_targets_keeping_state() -> None:
    """Kept targets keep their state; removed ones lose jobs and client; added ones are polled."""
    first = settings(target("a"), target("b"), target("c"))
    second = settings(target("a"), target("b", labels={"team": "x"}), target("new"))

    async def scenario(rig: Rig) -> None:
        for name in ("a", "b", "c"):
            await rig.poll(name)
        reloader = Reloader(rig.watchdog, first, lambda: second)
        assert await reloader.reload()
        assert [t.name for t in rig.watchdog.state.targets] == ["a", "b", "new"]
        assert rig.polls("a") == 1
        assert rig.polls("b") == 1  # labels changed: the same deployment, state kept
        assert rig.watchdog.state.get("c", Endpoint.HEALTH) is None
        assert rig.client("c").closed
        assert len(rig.made["b"]) == 1
        assert rig.client("b").closed  # replaced: the next poll gets a client for the new labels
        assert not rig.client("a").closed
        assert rig.jobs() == {
            f"{name}/{endpoint}"
            for name in ("a", "b", "new")
            for endpoint in ("health", "metrics", "stats_app")
        }
        await rig.poll("b")
        assert rig.polls("b") == 2
        assert rig.client("b").target.labels == {"team": "x"}
        await rig.poll("new")
        assert rig.polls("new") == 1

    logs = run(first, scenario)
    reloaded = event(logs, "config_reloaded")
    assert reloaded["added"] == ["new"]
    assert reloaded["removed"] == ["c"]
    assert reloaded["changed"] == ["b"]
    assert reloaded["state_reset"] == []
    assert not [e for e in logs if e["event"] == "config_reload_partial"]


def test_new_interval_replaces_jobs_and_turns_endpoints_off() -> None:
    """A changed interval re-schedules the target's jobs; 0 removes that endpoint's job."""
    first = settings(target("a", stats_db_interval="5m"))
    second = settings(target("a", health_interval="30s", stats_db_interval=0))

    async def scenario(rig: Rig) -> None:
        assert "a/stats_db" in rig.jobs()
        assert await Reloader(rig.watchdog, first, lambda: second).reload()
        jobs = {job.id: job for job in rig.watchdog.poller.scheduler.get_jobs()}
        assert "a/stats_db" not in jobs
        assert jobs["a/health"].trigger.interval == 30
        assert rig.watchdog.state.get("a", Endpoint.STATS_DB) is None

    run(first, scenario)


def test_new_url_starts_the_target_afresh_and_resolves_its_alerts() -> None:
    """A target moved to another URL loses its state and its firing alerts resolve."""
    first = settings(target("a"), target("gone"))
    second = settings(target("a", url="http://elsewhere.test"))

    async def scenario(rig: Rig) -> None:
        for name in ("a", "gone"):
            await rig.poll(name)  # the first poll creates the client
            rig.client(name).status = 401
            await rig.poll(name)
        firing = [a for a in rig.watchdog.engine.alerts() if a.state is AlertState.FIRING]
        assert {a.labels["target"] for a in firing} == {"a", "gone"}
        assert await Reloader(rig.watchdog, first, lambda: second).reload()
        assert rig.polls("a") == 0
        states = {a.labels["target"]: a.state for a in rig.watchdog.engine.alerts()}
        assert states == {"a": AlertState.RESOLVED, "gone": AlertState.RESOLVED}
        await rig.poll("a")
        assert rig.client("a").target.url == "http://elsewhere.test"
        assert rig.polls("a") == 1

    logs = run(first, scenario)
    reloaded = event(logs, "config_reloaded")
    assert reloaded["changed"] == ["a"]
    assert reloaded["state_reset"] == ["a"]
    assert reloaded["removed"] == ["gone"]
    assert {e["target"] for e in logs if e["event"] == "alert_resolved"} == {"a", "gone"}


def test_invalid_configuration_changes_nothing() -> None:
    """A load that fails logs `config_reload_failed` with its messages; nothing else changes."""
    first = settings(target("a"))
    messages = ["WATCHDOG_TIMEOUT: must be more than 0s", "targets[0].url in /c.yaml: bad URL"]

    def broken() -> Settings:
        raise ConfigError(messages)

    async def scenario(rig: Rig) -> None:
        await rig.poll("a")
        jobs = rig.jobs()
        reloader = Reloader(rig.watchdog, first, broken)
        assert not await reloader.reload()
        assert reloader.settings is first
        assert rig.jobs() == jobs
        assert rig.polls("a") == 1
        assert not rig.client("a").closed

    logs = run(first, scenario)
    assert event(logs, "config_reload_failed")["errors"] == messages
    assert event(logs, "config_reload_failed")["log_level"] == "error"
    assert not [e for e in logs if e["event"] == "config_reloaded"]


def test_restart_only_settings_keep_their_running_values() -> None:
    """Listen address and sinks need a restart (`config_reload_partial`); targets still apply."""
    first = settings(target("a"))
    second = settings(
        target("a"),
        target("b"),
        listen="127.0.0.1:9999",
        webhook_urls=["https://hooks.test/secret-path"],
        log_level="debug",
    )

    async def scenario(rig: Rig) -> None:
        reloader = Reloader(rig.watchdog, first, lambda: second)
        assert await reloader.reload()
        assert [t.name for t in rig.watchdog.state.targets] == ["a", "b"]
        assert reloader.settings.listen == first.listen
        assert reloader.settings.webhook_urls == []
        assert reloader.settings.log_level == "info"  # no way to reconfigure logging was given
        assert [t.name for t in reloader.settings.targets] == ["a", "b"]

    logs = run(first, scenario)
    partial = event(logs, "config_reload_partial")
    assert partial["restart_needed"] == ["listen", "log_level", "webhook_urls"]
    assert "secret-path" not in str(partial)


def test_log_level_reloads_when_logging_can_be_reconfigured() -> None:
    """With a logging hook, a new log level is applied and is not reported as restart-only."""
    first = settings(target("a"))
    second = settings(target("a"), log_level="debug")
    applied: list[str] = []

    async def scenario(rig: Rig) -> None:
        reloader = Reloader(
            rig.watchdog,
            first,
            lambda: second,
            reconfigure_logging=lambda new: applied.append(new.log_level),
        )
        assert await reloader.reload()
        assert reloader.settings.log_level == "debug"

    logs = run(first, scenario)
    assert applied == ["debug"]
    assert not [e for e in logs if e["event"] == "config_reload_partial"]
    assert "log_level" not in restart_only(logging=True)
    assert {"listen", "alerts", "shard", "auth_mode"} <= set(restart_only(logging=True))


def test_reload_keeps_the_running_shard() -> None:
    """Targets of other shards stay out after a reload, whatever the file says about the shard."""
    names = [f"wa-{i}" for i in range(12)]
    first = settings(*(target(n) for n in names[:6]), shard="0/2")
    second = settings(*(target(n) for n in names), shard="1/2")

    async def scenario(rig: Rig) -> None:
        before = {t.name for t in rig.watchdog.state.targets}
        assert await Reloader(rig.watchdog, first, lambda: second).reload()
        after = {t.name for t in rig.watchdog.state.targets}
        assert before <= after
        assert len(after) < len(names)

    logs = run(first, scenario)
    assert event(logs, "config_reload_partial")["restart_needed"] == ["shard"]


def test_new_secrets_are_redacted() -> None:
    """An inline key that arrives with a reload is masked in logs from then on."""
    first = settings(target("a"))
    fresh_key = "a-brand-new-key-987654321"
    second = Settings(api_key=fresh_key, targets=[target("a")])
    redactor = Redactor()

    async def scenario(rig: Rig) -> None:
        assert await Reloader(rig.watchdog, first, lambda: second, redactor=redactor).reload()

    logs = run(first, scenario)
    assert event(logs, "config_reloaded")["changed"] == ["a"]  # its credentials changed
    assert redactor.redact_text(f"key {fresh_key}") == f"key {MASK}"


def test_poll_in_flight_during_a_move_is_discarded_and_its_client_closed_after() -> None:
    """A poll of the old definition still running at reload is not recorded; its client closes."""
    first = settings(target("a"))
    second = settings(target("a", url="http://moved.test"))

    async def scenario(rig: Rig) -> None:
        await rig.poll("a")
        old = rig.client("a")
        old.delay = 0.2
        in_flight = asyncio.create_task(rig.watchdog.poller.poll("a", Endpoint.HEALTH))
        await asyncio.sleep(0.05)
        assert await Reloader(rig.watchdog, first, lambda: second).reload()
        assert in_flight.done()  # close_retired waited for it
        assert in_flight.result() is None
        assert old.closed
        assert rig.polls("a") == 0

    run(first, scenario)


def test_reloads_run_one_at_a_time() -> None:
    """Concurrent reloads are serialized: loads never overlap."""
    first = settings(target("a"))
    active = 0
    overlaps = 0

    def slow_load() -> Settings:
        nonlocal active, overlaps
        active += 1
        overlaps += active > 1
        try:
            time.sleep(0.05)
            return first
        finally:
            active -= 1

    async def scenario(rig: Rig) -> None:
        reloader = Reloader(rig.watchdog, first, slow_load)
        assert all(await asyncio.gather(*(reloader.reload() for _ in range(3))))

    logs = run(first, scenario)
    assert overlaps == 0
    assert len([e for e in logs if e["event"] == "config_reloaded"]) == 3


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_triggers_a_reload_until_closed() -> None:
    """install() reloads on SIGHUP on the running loop; close() restores the previous handler."""
    first = settings(target("a"))
    second = settings(target("a"), target("b"))
    before = signal.getsignal(signal.SIGHUP)

    async def scenario(rig: Rig) -> None:
        reloader = Reloader(rig.watchdog, first, lambda: second)
        assert reloader.install()
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(100):
                if len(rig.watchdog.state.targets) == 2:
                    break
                await asyncio.sleep(0.02)
            assert [t.name for t in rig.watchdog.state.targets] == ["a", "b"]
        finally:
            await reloader.close()

    logs = run(first, scenario)
    assert signal.getsignal(signal.SIGHUP) == before
    assert event(logs, "reload_requested")["signal"] == "SIGHUP"
    assert event(logs, "config_reloaded")["added"] == ["b"]


def test_install_outside_the_main_thread_does_nothing() -> None:
    """In a server thread (tests, embedding) no signal handler can be set: install() says so."""
    first = settings(target("a"))

    async def scenario(rig: Rig) -> None:
        reloader = Reloader(rig.watchdog, first, lambda: first)
        assert not await asyncio.to_thread(lambda: _install_in_thread(reloader))
        await reloader.close()

    run(first, scenario)


def _install_in_thread(reloader: Reloader) -> bool:
    async def install() -> bool:
        return reloader.install()

    return asyncio.run(install())


def test_poller_remove_and_add_target_jobs() -> None:
    """remove_target drops jobs, backoff and client at once; add_target_jobs schedules them."""
    first = settings(target("a"), target("b"))

    async def scenario(rig: Rig) -> None:
        poller = rig.watchdog.poller
        await rig.poll("a")
        poller.remove_target("a")
        assert not any(job_id.startswith("a/") for job_id in rig.jobs())
        assert not rig.client("a").closed  # retired, closed by close_retired
        await poller.close_retired()
        assert rig.client("a").closed
        poller.add_target_jobs([Target(name="a", url="http://a.test", metrics_interval=0)])
        assert {j for j in rig.jobs() if j.startswith("a/")} == {"a/health", "a/stats_app"}

    run(first, scenario)


def test_retired_clients_close_once_even_when_a_reload_is_cancelled() -> None:
    """Concurrent closers close a retired client once; a cancelled one leaves it to shutdown."""
    first = settings(target("a"), target("b"))

    async def scenario(rig: Rig) -> None:
        poller = rig.watchdog.poller
        await rig.poll("a")
        await rig.poll("b")
        poller.remove_target("a")
        await asyncio.gather(poller.close_retired(), poller.close_retired())
        assert rig.client("a").closes == 1
        rig.client("b").delay = 0.3
        in_flight = asyncio.create_task(poller.poll("b", Endpoint.HEALTH))
        await asyncio.sleep(0.05)
        poller.remove_target("b")
        closing = asyncio.create_task(poller.close_retired())
        await asyncio.sleep(0.05)
        closing.cancel()  # as a shutdown cancels a reload waiting for polls in flight
        await asyncio.gather(closing, return_exceptions=True)
        assert not rig.client("b").closed
        await poller.shutdown()
        assert rig.client("b").closes == 1
        assert in_flight.done()

    run(first, scenario)
