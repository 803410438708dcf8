"""Running the simulator: in the foreground (`watchdog simulate`) or in a background thread."""

from __future__ import annotations

from watchdog.serving import BackgroundServer, bind, serve
from watchdog.simulator.app import create_app
from watchdog.simulator.deployment import Deployment


def serve_simulator(
    deployment: Deployment, host: str, port: int, *, access_log: bool = True
) -> None:
    """Serve the simulator in the foreground until SIGTERM/SIGINT."""
    serve(create_app(deployment), bind(host, port), lifespan="off", access_log=access_log)


class SimulatorServer(BackgroundServer):
    """The simulator of one deployment on a free loopback port in a daemon thread.

    Used by the test suite (real sockets) and by `watchdog demo`.
    """

    def __init__(self, deployment: Deployment, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(deployment), host, port, name="wa-simulator")
        self.deployment = deployment
