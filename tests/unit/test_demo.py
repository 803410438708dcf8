"""`watchdog demo`'s choices without sockets: which simulator plays a scenario, which targets
and credentials the demo's watchdog gets, and a scenario the chosen kind cannot play."""

from __future__ import annotations

import io

import pytest

from watchdog.cli import main
from watchdog.demo import (
    DEMO_APP_TOKEN,
    DEMO_KEY,
    DemoKind,
    DemoScenarios,
    demo_scenarios,
    demo_settings,
)
from watchdog.simulator import GraphScenario, Scenario
from watchdog.simulator.graph import DEMO_TOKEN, PHONE_NUMBER_ID, WABA_ID

ONPREM_URL = "http://127.0.0.1:9876"
GRAPH_URL = "http://127.0.0.1:9875"


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("onprem", "overloaded", DemoScenarios(Scenario.OVERLOADED, GraphScenario.HEALTHY)),
        ("cloud", "blocked", DemoScenarios(Scenario.HEALTHY, GraphScenario.BLOCKED)),
        ("both", "blocked", DemoScenarios(Scenario.HEALTHY, GraphScenario.BLOCKED)),
        ("both", "overloaded", DemoScenarios(Scenario.OVERLOADED, GraphScenario.HEALTHY)),
        ("both", "healthy", DemoScenarios(Scenario.HEALTHY, GraphScenario.HEALTHY)),
    ],
)
def test_a_scenario_is_played_by_the_simulator_of_its_kind(
    kind: str, name: str, expected: DemoScenarios
) -> None:
    """A scenario name goes to the simulator that knows it; the other one stays healthy."""
    assert demo_scenarios(DemoKind(kind), name) == expected


@pytest.mark.parametrize(
    ("kind", "name"), [("onprem", "blocked"), ("cloud", "overloaded"), ("both", "nonsense")]
)
def test_demo_refuses_a_scenario_its_kind_does_not_play(kind: str, name: str) -> None:
    """`watchdog demo --kind onprem --scenario blocked` exits 2 and says why, starting nothing."""
    out, err = io.StringIO(), io.StringIO()
    if name == "nonsense":  # argparse's own refusal: not a scenario of either kind
        with pytest.raises(SystemExit) as caught:
            main(["demo", "--kind", kind, "--scenario", name], environ={}, out=out, err=err)
        assert caught.value.code == 2
        return
    code = main(["demo", "--kind", kind, "--scenario", name], environ={}, out=out, err=err)
    assert code == 2
    assert err.getvalue() == f"--scenario {name} is not a scenario of --kind {kind}\n"


def test_both_kinds_get_their_own_credentials() -> None:
    """With both simulators, target `demo` polls with the demo key and `demo-cloud` the
    simulated number and WABA with the demo token and app token; neither gets the other's."""
    settings = demo_settings("127.0.0.1:9877", simulator_url=ONPREM_URL, graph_url=GRAPH_URL)
    onprem, cloud = settings.targets
    assert (onprem.name, onprem.kind, onprem.url) == ("demo", "onprem", ONPREM_URL)
    assert onprem.api_key is not None
    assert onprem.api_key.get_secret_value() == DEMO_KEY
    assert onprem.access_token is None
    assert (cloud.name, cloud.kind, cloud.url) == ("demo-cloud", "cloud", GRAPH_URL)
    assert (cloud.phone_number_id, cloud.waba_id) == (PHONE_NUMBER_ID, WABA_ID)
    assert cloud.access_token is not None
    assert cloud.access_token.get_secret_value() == DEMO_TOKEN
    assert cloud.app_token is not None
    assert cloud.app_token.get_secret_value() == DEMO_APP_TOKEN
    assert cloud.api_key is None
    # Fast enough to watch: the shortest interval a Cloud target allows.
    assert cloud.health_interval == 10.0


def test_a_single_kind_demo_has_only_that_target() -> None:
    """`--kind cloud` watches the Graph number alone; the default kind the On-Prem one alone."""
    cloud = demo_settings("127.0.0.1:9877", graph_url=GRAPH_URL)
    assert [(t.name, t.kind) for t in cloud.targets] == [("demo-cloud", "cloud")]
    assert cloud.api_key is None
    onprem = demo_settings("127.0.0.1:9877", simulator_url=ONPREM_URL)
    assert [(t.name, t.kind) for t in onprem.targets] == [("demo", "onprem")]
    assert onprem.cloud_access_token is None
