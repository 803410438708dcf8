"""Running the simulator: in the foreground (`watchdog simulate`) or in a background thread."""

from __future__ import annotations

import gc
from collections.abc import Mapping

from watchdog.simulator.app import create_app, create_multi_app
from watchdog.simulator.deployment import Deployment
from watchdog.simulator.graph import GraphDeployment
from watchdog.simulator.graph_app import create_graph_app
from watchdog.web.serving import BackgroundServer, bind, serve


def serve_simulator(
    deployments: Mapping[str, Deployment] | Deployment,
    host: str,
    port: int,
    *,
    access_log: bool = True,
) -> None:
    """Serve one deployment at `/`, or several under `/<name>/`, until SIGTERM/SIGINT."""
    if isinstance(deployments, Deployment):
        app = create_app(deployments)
    else:
        app = create_multi_app(deployments)
        # Thousands of deployments and their apps are a few hundred thousand objects that live
        # as long as the process: out of the collector's way, or every full collection walks
        # them all (200 ms and more at 2,000 deployments, seen as late polls by benchmarks).
        gc.freeze()
    serve(app, bind(host, port), lifespan="off", access_log=access_log)


class SimulatorServer(BackgroundServer):
    """The simulator of one deployment on a free loopback port in a daemon thread.

    Used by the test suite (real sockets) and by `watchdog demo`.
    """

    def __init__(self, deployment: Deployment, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(deployment), host, port, name="wa-simulator")
        self.deployment = deployment


class MultiSimulatorServer(BackgroundServer):
    """Several simulated deployments under `/<name>/` on one loopback port, in a thread."""

    def __init__(self, deployments: Mapping[str, Deployment], host: str = "127.0.0.1") -> None:
        super().__init__(create_multi_app(deployments), host, 0, name="wa-simulator-multi")
        self.deployments = dict(deployments)

    def target_url(self, name: str) -> str:
        return f"{self.url}/{name}"


def serve_graph(
    deployment: GraphDeployment, host: str, port: int, *, access_log: bool = True
) -> None:
    """Serve a simulated Cloud API (Graph) account until SIGTERM/SIGINT."""
    serve(create_graph_app(deployment), bind(host, port), lifespan="off", access_log=access_log)


class GraphServer(BackgroundServer):
    """The simulated Cloud API (Graph) on a free loopback port in a daemon thread."""

    def __init__(self, deployment: GraphDeployment, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_graph_app(deployment), host, port, name="wa-graph-simulator")
        self.deployment = deployment
