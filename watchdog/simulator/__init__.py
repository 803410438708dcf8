"""A faithful simulator of the WhatsApp Business On-Premises API's monitoring surface, and of
the Cloud API's (Meta Graph API: `GraphDeployment`, `GraphServer`).

The real API was sunset in 2025; this is what the test suite, `watchdog demo` and users testing
their alert routing run against. Facts it imitates are in the project's API reference; every
UNCONFIRMED choice is commented where it is made.
"""

from watchdog.simulator.auth import KeyScope
from watchdog.simulator.deployment import Deployment, SimulatorConfig
from watchdog.simulator.graph import GraphConfig, GraphDeployment
from watchdog.simulator.graph_scenarios import GRAPH_DESCRIPTIONS, GraphScenario
from watchdog.simulator.launch import (
    GraphServer,
    MultiSimulatorServer,
    SimulatorServer,
    serve_graph,
    serve_simulator,
)
from watchdog.simulator.scenarios import DESCRIPTIONS, Scenario
from watchdog.simulator.topology import Topology

__all__ = [
    "DESCRIPTIONS",
    "GRAPH_DESCRIPTIONS",
    "Deployment",
    "GraphConfig",
    "GraphDeployment",
    "GraphScenario",
    "GraphServer",
    "KeyScope",
    "MultiSimulatorServer",
    "Scenario",
    "SimulatorConfig",
    "SimulatorServer",
    "Topology",
    "serve_graph",
    "serve_simulator",
]
