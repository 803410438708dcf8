"""A reload that changes no target leaves the running targets alone; a new order is applied."""

from __future__ import annotations

from tests.unit.test_reload import Rig, run, settings, target
from watchdog.api.endpoints import Endpoint
from watchdog.reload import Reloader


def test_a_reload_with_the_same_targets_swaps_nothing() -> None:
    first = settings(target("a"), target("b"))
    again = settings(target("a"), target("b"), log_level="debug")

    async def scenario(rig: Rig) -> None:
        await rig.poll("a")
        state = rig.watchdog.state
        version, jobs, kept = state.version, rig.jobs(), state.get("a", Endpoint.HEALTH)
        assert await Reloader(rig.watchdog, first, lambda: again).reload()
        assert state.version == version  # no swap: nothing derived from the state goes stale
        assert rig.jobs() == jobs
        assert state.get("a", Endpoint.HEALTH) is kept
        assert rig.polls("a") == 1
        assert not rig.client("a").closed

    run(first, scenario)


def test_a_reload_that_only_reorders_the_targets_reorders_them() -> None:
    first = settings(target("a"), target("b"), target("c"))
    second = settings(target("c"), target("a"), target("b"))

    async def scenario(rig: Rig) -> None:
        await rig.poll("a")
        assert await Reloader(rig.watchdog, first, lambda: second).reload()
        assert [t.name for t in rig.watchdog.state.targets] == ["c", "a", "b"]
        assert rig.polls("a") == 1
        assert not rig.client("a").closed

    run(first, scenario)
