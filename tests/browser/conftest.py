"""The browser tests' fixtures: per test module, one running scenario and the browsers that
look at it. A scenario that cannot start fails the module's tests with what went wrong."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TypeVar

import pytest

from tests.browser.cloud_scenario import CloudScenario, cloud_running
from tests.browser.harness import Browsers
from tests.browser.scenarios import ScenarioError, Scenarios, running

T = TypeVar("T")


def _started(scenario: AbstractContextManager[T]) -> Iterator[T]:
    try:
        with scenario as started:
            yield started
    except ScenarioError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def scenarios() -> Iterator[Scenarios]:
    """Three On-Prem targets: one overloaded then recovering, one flapping, one healthy."""
    yield from _started(running())


@pytest.fixture(scope="module")
def cloud() -> Iterator[CloudScenario]:
    """A Cloud API target beside an On-Prem one."""
    yield from _started(cloud_running())


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    started = Browsers()
    yield started
    started.close()
