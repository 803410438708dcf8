"""Integration fixtures: the simulator on a real loopback socket, driven by a fake clock; and
what the tests share around it: waiting for a condition, counting the requests an app serves."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any, Self

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from watchdog.simulator import (
    Deployment,
    GraphConfig,
    GraphDeployment,
    GraphScenario,
    GraphServer,
    Scenario,
    SimulatorConfig,
    SimulatorServer,
    Topology,
)
from watchdog.simulator.auth import KeyScope

API_KEY = "wa-watchdog-test-key-0123456789"
USER = "monitor"
PASSWORD = "S3cret!passw0rd"
START = 1_700_000_000.0


class FakeClock:
    """A clock the test moves by hand; the simulator reads it instead of `time.time`."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(check: Callable[[], bool], what: str = "the condition", timeout: float = 20.0) -> None:
    """Poll `check` until it holds; fail saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.02)


def answers(url: str) -> bool:
    """`url` answers 200 (a server still starting answers nothing)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class CountingApp:
    """Counts every HTTP request that reaches the wrapped app, by path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            with self._lock:
                self.requests[scope["path"]] += 1
        await self.app(scope, receive, send)

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests[path]

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.requests)


def php_utc(epoch: float) -> str:
    """An instant as the Webapp prints `expires_after`: `Y-m-d H:i:s+00:00` in UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def apikey(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Apikey {key}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(families: dict[str, Any], name: str, **match: str) -> float:
    """The sum of a JSON metric family's samples whose labels include `match`."""
    return float(
        sum(
            s["value"]
            for s in families.get(name, {"data": []})["data"]
            if all(s["labels"].get(k) == v for k, v in match.items())
        )
    )


def assert_error(
    response: httpx.Response, status: int, code: int, details: str | None = None
) -> None:
    """The response is the API's error envelope with this status, code and (part of) details."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"meta", "errors"}
    assert {"version", "api_status"} <= set(body["meta"])
    [error] = body["errors"]
    assert error["code"] == code
    assert isinstance(error["title"], str)
    assert error["title"]
    if details is not None:
        assert details in error["details"]


class Sim:
    """One running simulator with its clock and a keep-alive client."""

    def __init__(self, server: SimulatorServer, clock: FakeClock, client: httpx.Client) -> None:
        self.server = server
        self.clock = clock
        self.client = client
        self._token: str | None = None

    @property
    def deployment(self) -> Deployment:
        return self.server.deployment

    @property
    def topology(self) -> Topology:
        return self.deployment.config.topology

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GET with the API key unless other headers are given."""
        headers = apikey() if headers is None else headers
        return self.client.get(path, headers=headers, params=params)

    def login(self, user: str = USER, password: str = PASSWORD) -> httpx.Response:
        return self.client.post("/v1/users/login", auth=(user, password))

    @property
    def token(self) -> str:
        """A bearer token of the test user, logged in once per simulator."""
        if self._token is None:
            response = self.login()
            assert response.status_code == 200, response.text
            self._token = str(response.json()["users"][0]["token"])
        return self._token

    def set_scenario(self, scenario: Scenario | str) -> httpx.Response:
        response = self.client.post("/_sim/scenario", json={"scenario": str(scenario)})
        assert response.status_code == 200, response.text
        return response

    def admin_auth(self, **body: Any) -> httpx.Response:
        return self.client.post("/_sim/auth", json=body)

    def reset(self) -> None:
        """Make a shared simulator look fresh to the next test.

        Moving the clock past the health window also refills every request-rate bucket.
        """
        self.clock.advance(61)
        self.deployment.set_scenario(Scenario.HEALTHY)
        self.deployment.key_scope = KeyScope.ALL


class GraphSim:
    """One running Graph (Cloud API) simulator with its clock and a keep-alive client."""

    def __init__(self, server: GraphServer, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock
        self.client = httpx.Client(base_url=server.url, timeout=10)

    @classmethod
    def started(cls, config: GraphConfig) -> Self:
        """A simulator of `config` started on a fake clock of its own."""
        clock = FakeClock()
        return cls(GraphServer(GraphDeployment(config, clock=clock)).start(), clock)

    @property
    def deployment(self) -> GraphDeployment:
        return self.server.deployment

    def admin(self, path: str, **body: Any) -> httpx.Response:
        return self.client.post(f"/_sim/{path}", json=body)

    def switch(self, scenario: str, **body: Any) -> None:
        """Switch the scenario over HTTP, as a person would."""
        response = self.admin("scenario", scenario=scenario, **body)
        assert response.status_code == 200, response.text

    def reset(self) -> None:
        """Make a shared simulator look fresh to the next test: healthy, a full budget."""
        self.deployment.set_scenario(GraphScenario.HEALTHY)
        self.deployment.set_hourly_allowance(5_000)
        self.deployment.restart()

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def start(**config: Any) -> Sim:
    """A started simulator with the test credentials and `config` on top."""
    clock = FakeClock()
    settings = SimulatorConfig(**{"api_key": API_KEY, "users": {USER: PASSWORD}, **config})
    server = SimulatorServer(Deployment(settings, clock=clock)).start()
    return Sim(server, clock, httpx.Client(base_url=server.url, timeout=10))


@contextmanager
def running(**config: Any) -> Iterator[Sim]:
    """A simulator as in `start`, stopped on exit."""
    sim = start(**config)
    try:
        yield sim
    finally:
        sim.client.close()
        sim.server.stop()


@pytest.fixture(scope="session")
def _stop_later() -> Iterator[Callable[[SimulatorServer], None]]:
    """Stops servers in the background (uvicorn takes ~0.2 s to shut down); waits at the end."""
    threads: list[threading.Thread] = []

    def stop(server: SimulatorServer) -> None:
        thread = threading.Thread(target=server.stop, name="stop-simulator")
        thread.start()
        threads.append(thread)

    yield stop
    for thread in threads:
        thread.join()


MakeSim = Callable[..., Sim]


@pytest.fixture
def make_sim(_stop_later: Callable[[SimulatorServer], None]) -> Iterator[MakeSim]:
    """A factory of fresh simulators for tests that change state; all stopped afterwards."""
    made: list[Sim] = []

    def make(**config: Any) -> Sim:
        made.append(start(**config))
        return made[-1]

    yield make
    for sim in made:
        sim.client.close()
        _stop_later(sim.server)


@pytest.fixture(scope="session")
def shared_sims() -> Iterator[dict[Topology, Sim]]:
    """One long-lived simulator per topology, for tests whose changes `shared` undoes."""
    with ExitStack() as stack:
        yield {
            t: stack.enter_context(running(topology=t, slow_delay=0.02, flap_period=30))
            for t in Topology
        }


SharedSim = Callable[[Topology], Sim]


@pytest.fixture
def shared(shared_sims: dict[Topology, Sim]) -> SharedSim:
    """The shared simulator of a topology, reset (healthy, key scope all, budgets refilled)."""

    def get(topology: Topology) -> Sim:
        sim = shared_sims[topology]
        sim.reset()
        return sim

    return get
