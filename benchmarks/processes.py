"""What the benchmark scripts share about the processes they start: ports, readiness, CPU, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_port(port: int, timeout: float) -> float | None:
    """Seconds until something listens on the loopback `port`; None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    return None


def answers(url: str) -> bool:
    """True when `url` answers 200."""
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready(
    url: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> float | None:
    """Seconds until `url` answers 200; None after `timeout` or once `process` has exited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            return None
        if answers(url):
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_simulator(
    port: int, deployments: int, env: dict[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    """`watchdog simulate --deployments N` on `port` (quiet), serving `/wa-0/` ... ."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "watchdog", "simulate", "--port", str(port),
         "--deployments", str(deployments), "--log-level", "warning", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def simulator_targets(port: int, count: int) -> str:
    """`WATCHDOG_TARGETS` for the first `count` deployments of the simulator on `port`."""
    return ",".join(f"wa-{i}=http://127.0.0.1:{port}/wa-{i}" for i in range(count))


def wait_simulator(port: int, deployments: int, timeout: float) -> float | None:
    """Wait for `start_simulator`'s process, saying how long it took or that it did not come."""
    took = wait_port(port, timeout)
    if took is None:
        print(f"simulator with {deployments} deployments not listening after {timeout:.0f} s; "
              "try fewer --targets")  # fmt: skip
    else:
        print(f"simulator: {deployments} deployments listening after {took:.1f} s")
    return took
