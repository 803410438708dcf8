"""The alert tick: its slices follow the targets (the engine keeps them while the targets
stay), and on a running event loop a slice leaves the loop turns between targets (issue #15: at
2,000 targets a slice took 40 to 90 ms in one step). A turn is given once `TICK_BUDGET` seconds
of evaluations have passed; here it is 0, so after every target (no timings in tests)."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from tests.unit.alerts.harness import Clock
from watchdog.alerts import engine as engine_module
from watchdog.alerts.engine import AlertEngine
from watchdog.alerts.model import Alert
from watchdog.base.targets import Target
from watchdog.state import State


class Counting(AlertEngine):
    """Records which targets an evaluation was asked for, and evaluates nothing."""

    evaluated: list[str]

    def evaluate(self, target_name: str, now: float | None = None) -> list[Alert]:
        self.evaluated.append(target_name)
        return []


def targets(*numbers: int) -> list[Target]:
    return [Target(name=f"t{i}", url=f"http://t{i}.test") for i in numbers]


def one_round(engine: Counting, parts: int) -> list[str]:
    engine.evaluated = []
    for part in range(parts):
        engine.tick(part, parts)
    return engine.evaluated


def test_slices_follow_targets_added_and_removed_and_the_number_of_slices() -> None:
    clock = Clock()
    state = State(targets(*range(30)), clock=clock)
    engine = Counting(state, lambda _: None, clock=clock)
    assert sorted(one_round(engine, 5)) == sorted(f"t{i}" for i in range(30))
    state.set_targets(targets(*range(5, 40)))
    assert sorted(one_round(engine, 5)) == sorted(f"t{i}" for i in range(5, 40))
    assert sorted(one_round(engine, 3)) == sorted(f"t{i}" for i in range(5, 40))
    assert one_round(engine, 1) == [f"t{i}" for i in sorted(range(5, 40), key=str)]


def test_on_a_running_loop_other_callbacks_run_between_the_targets_of_a_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "TICK_BUDGET", 0.0)
    clock = Clock()
    engine = Counting(State(targets(*range(12)), clock=clock), lambda _: None, clock=clock)
    engine.evaluated = []

    async def main() -> None:
        engine.tick()
        assert len(engine.evaluated) == 1  # the rest is queued behind what is ready
        while len([n for n in engine.evaluated if n != "other"]) < 12:
            engine.evaluated.append("other")
            await asyncio.sleep(0)

    asyncio.run(main())
    names = [name for name in engine.evaluated if name != "other"]
    assert sorted(names) == sorted(f"t{i}" for i in range(12))
    positions = [i for i, name in enumerate(engine.evaluated) if name != "other"]
    assert all("other" in engine.evaluated[a:b] for a, b in pairwise(positions))


def test_off_a_running_loop_a_tick_is_done_when_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "TICK_BUDGET", 0.0)
    clock = Clock()
    engine = Counting(State(targets(*range(12)), clock=clock), lambda _: None, clock=clock)
    assert len(one_round(engine, 1)) == 12


def test_a_tick_while_the_slice_before_is_still_queued_waits_for_its_next_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an overloaded loop, ticks never pile up: one due while the previous slice's chunks
    are still queued evaluates nothing; the next tick after the chain ends runs as usual."""
    monkeypatch.setattr(engine_module, "TICK_BUDGET", 0.0)
    clock = Clock()
    engine = Counting(State(targets(*range(12)), clock=clock), lambda _: None, clock=clock)
    engine.evaluated = []

    async def ticks() -> tuple[list[str], list[str]]:
        engine.tick(0, 1)
        engine.tick(0, 1)  # still queued: skipped
        for _ in range(30):
            await asyncio.sleep(0)
        first = list(engine.evaluated)
        engine.evaluated = []
        engine.tick(0, 1)
        for _ in range(30):
            await asyncio.sleep(0)
        return first, engine.evaluated

    first, second = asyncio.run(ticks())
    assert sorted(first) == sorted(f"t{i}" for i in range(12))
    assert sorted(second) == sorted(f"t{i}" for i in range(12))


def test_a_failing_evaluation_does_not_stop_later_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "TICK_BUDGET", 0.0)
    clock = Clock()

    class Failing(Counting):
        def evaluate(self, target_name: str, now: float | None = None) -> list[Alert]:
            if target_name == "t3" and not self.evaluated:
                self.evaluated.append("boom")
                raise RuntimeError("a rule's bug")
            return super().evaluate(target_name, now)

    engine = Failing(State(targets(*range(6)), clock=clock), lambda _: None, clock=clock)
    engine.evaluated = []

    async def ticks() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, _context: None)
        engine.tick(0, 1)
        for _ in range(20):
            await asyncio.sleep(0)
        engine.evaluated = ["after"]
        engine.tick(0, 1)
        for _ in range(20):
            await asyncio.sleep(0)
        return engine.evaluated

    assert sorted(asyncio.run(ticks())[1:]) == sorted(f"t{i}" for i in range(6))
