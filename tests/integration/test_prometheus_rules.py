"""The chart's Prometheus rule file: promtool accepts it, its unit tests pass, and it defines the
contract's alerts with the watchdog's own defaults.

`helm/wa-watchdog/files/prometheus-rules.yaml` is the one source the chart embeds;
`prometheus-rules.test.yaml` beside it holds the promtool unit tests (input series per alert:
fires on the fault, stays quiet when healthy and on an HA standby). promtool is required, not
optional: CI installs Prometheus, so a missing binary fails with a message saying what to install.
That every metric the rules query is one the watchdog emits is proven in test_dashboard.py, for
the rules and the dashboard alike.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog.alert_settings import ALERT_RULES, AlertSettings
from watchdog.alerts.rules import RULES
from watchdog.durations import parse_duration

CHART = Path(__file__).resolve().parents[2] / "helm" / "wa-watchdog"
RULE_FILE = CHART / "files" / "prometheus-rules.yaml"
RULE_TESTS = CHART / "files" / "prometheus-rules.test.yaml"
# A range-vector window or an offset: `[1m]`, `offset 1m`.
_WINDOW = re.compile(r"\[(\d+[smh])\]|offset (\d+[smh])")

# DESIGN.md "Alerts": the names every sender uses.
CONTRACT_ALERTS = (
    "WhatsAppOverloaded",
    "WhatsAppRateLimitSpike",
    "WhatsAppGatewayDown",
    "WhatsAppUnreachable",
    "WhatsAppAuthRejected",
    "WhatsAppNotRegistered",
    "WhatsAppQueueBacklog",
)


def promtool() -> str:
    """The promtool binary; fails the test (never skips it) when Prometheus is not installed."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "the 'promtool' binary is not on PATH: the rule tests need it "
            "(Debian/Ubuntu: apt-get install prometheus; CI installs it)",
            pytrace=False,
        )
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def alert_rules() -> list[dict[str, Any]]:
    """The alerting rules of the rule file, in order."""
    document = yaml.safe_load(RULE_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def rule_queries() -> list[str]:
    """Every PromQL expression of the rule file (alerting and recording rules)."""
    document = yaml.safe_load(RULE_FILE.read_text())
    return [str(rule["expr"]) for group in document["groups"] for rule in group["rules"]]


def test_promtool_check_rules_accepts_the_rule_file() -> None:
    """`promtool check rules` parses every rule and template of the chart's rule file."""
    result = run_promtool("check", "rules", str(RULE_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(CONTRACT_ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules`: every alert fires on its fault and only there (input series)."""
    result = run_promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_cover_every_alert_firing_and_quiet() -> None:
    """The promtool tests expect each contract alert to fire in some case and not in another."""
    document = yaml.safe_load(RULE_TESTS.read_text())
    assert document["rule_files"] == [RULE_FILE.name]
    fired: Counter[str] = Counter()
    quiet: Counter[str] = Counter()
    for case in document["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else quiet)[check["alertname"]] += 1
    for alertname in CONTRACT_ALERTS:
        assert fired[alertname] > 0, f"no test expects {alertname} to fire"
        assert quiet[alertname] > 0, f"no test expects {alertname} to stay quiet"


def test_every_contract_alert_is_defined_exactly_once() -> None:
    """The rule file has one group `wa-watchdog` defining each contract alert exactly once."""
    document = yaml.safe_load(RULE_FILE.read_text())
    assert [group["name"] for group in document["groups"]] == ["wa-watchdog"]
    names = Counter(rule["alert"] for rule in alert_rules())
    assert {name: names[name] for name in CONTRACT_ALERTS} == dict.fromkeys(CONTRACT_ALERTS, 1)
    assert set(names) == set(CONTRACT_ALERTS), "an alert outside the contract"
    # The watchdog's own rules raise the same set.
    assert set(ALERT_RULES.values()) == set(CONTRACT_ALERTS)


def test_rules_use_the_watchdogs_severities_durations_and_thresholds() -> None:
    """Severity, `for`, `keep_firing_for` and thresholds equal the watchdog's own defaults."""
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    defaults = AlertSettings()
    for rule in RULES:
        promql = by_name[rule.alertname]
        settings = defaults.rule(rule.key)
        assert promql["labels"]["severity"] == rule.severity, rule.alertname
        assert parse_duration(promql.get("for", "0s")) == settings.for_, rule.alertname
        assert parse_duration(promql["keep_firing_for"]) == settings.keep_firing_for
        assert set(promql["annotations"]) == {"summary", "description"}
        assert "$labels.target" in promql["annotations"]["summary"]
    rate = defaults.rate_limit_spike
    spike = by_name["WhatsAppRateLimitSpike"]["expr"]
    assert spike.count(f">= {rate.threshold}\n") == 2
    assert f">= {rate.ratio}\n" in spike
    assert windows(spike) == {format_window(rate.window)}
    assert windows(by_name["WhatsAppOverloaded"]["expr"]) == {
        format_window(defaults.overloaded.window)
    }
    backlog = by_name["WhatsAppQueueBacklog"]["expr"]
    queue = defaults.queue_backlog
    assert f"whatsapp_app_pending_messages) > {queue.pending_messages}" in backlog
    assert f"whatsapp_app_callback_queue_size) > {queue.callback_queue_size}" in backlog


def windows(expr: str) -> set[str]:
    """The range-vector windows and offsets an expression counts over (`[1m]`, `offset 1m`)."""
    return {window or offset for window, offset in _WINDOW.findall(expr)}


def format_window(seconds: float) -> str:
    """A whole number of minutes as PromQL writes it (`1m`)."""
    assert seconds % 60 == 0
    return f"{seconds / 60:.0f}m"
