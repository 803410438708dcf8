"""Prometheus's promtool, for the tests that have it check an exposition or the chart's rules.

promtool is required, not optional: CI installs Prometheus, so a missing binary fails the test
(never skips it) with a message saying what to install.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool() -> str:
    """The promtool binary; fails the test when Prometheus is not installed."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "the 'promtool' binary is not on PATH: this test needs it "
            "(Debian/Ubuntu: apt-get install prometheus; CI installs it)",
            pytrace=False,
        )
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`promtool ARGS`, with `stdin` as its input (`check metrics` reads an exposition there)."""
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
