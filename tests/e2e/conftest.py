"""End-to-end fixtures: the real Prometheus binary, started on a free port and stopped cleanly.

The binaries are not optional here: CI installs them, so a missing one fails the test with a
message saying what to install, instead of skipping it quietly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    """The path of a required binary; fails the test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"the {name!r} binary is not on PATH: the end-to-end tests need it "
            f"(Debian/Ubuntu: apt-get install prometheus; CI installs it)",
            pytrace=False,
        )
    return path


class Prometheus:
    """A running Prometheus server scraping the given targets every second."""

    def __init__(self, executable: str, workdir: Path, targets: Sequence[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        config = workdir / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: watchdog\n"
            "    static_configs:\n"
            f"      - targets: [{listed}]\n"
        )
        command = [
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus not ready after {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        response = self.client.get("/api/v1/query", params={"query": promql})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, and the exit code once it has shut down (killed if it takes too long)."""
        self.client.close()
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    return self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    pytest.fail(f"prometheus ignored SIGTERM for {timeout:g} s")
            return self.process.returncode
        finally:
            self._log.close()


StartPrometheus = Callable[[Sequence[str]], Prometheus]


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[StartPrometheus]:
    """Starts Prometheus scraping `targets` (`host:port`), waits until it is ready."""
    started: list[Prometheus] = []

    def start(targets: Sequence[str]) -> Prometheus:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        # Looked up here, in the test: a missing binary fails the test (not its setup).
        prometheus = Prometheus(binary("prometheus"), workdir, targets)
        started.append(prometheus)
        prometheus.wait_ready()
        return prometheus

    yield start
    for prometheus in started:
        if prometheus.process.poll() is None:
            prometheus.stop()
