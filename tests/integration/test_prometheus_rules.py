"""The chart's Prometheus rule file: promtool accepts it, its unit tests pass, and it defines
every alert the watchdog raises, with the watchdog's own defaults.

`helm/wa-watchdog/files/prometheus-rules.yaml` is the one source the chart embeds;
`prometheus-rules.test.yaml` beside it holds the promtool unit tests (input series per alert:
fires on the fault, stays quiet when healthy and in the look-alike case), and
`prometheus-rules.day.test.yaml` those that span a day (evaluated every 5 minutes). promtool is
required, not optional: CI installs Prometheus, so a missing binary fails with a message saying
what to install. That every metric the rules query is one the watchdog emits is proven in
test_dashboard.py, for the rules and the dashboard alike.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promtool import run_promtool
from watchdog.alerts.checks import CLOUD_HEALTH_RULES, HEALTH_RULES
from watchdog.alerts.rules import RULES
from watchdog.api.diagnosis import Failure, diagnose
from watchdog.api.endpoints import REASONS, Endpoint
from watchdog.api.payloads import ApiErrorInfo
from watchdog.api.results import PollResult
from watchdog.base.durations import parse_duration
from watchdog.base.targets import DEFAULT_CLOUD_HEALTH_INTERVAL
from watchdog.config.alerts import ALERT_RULES, AlertSettings

CHART = Path(__file__).resolve().parents[2] / "helm" / "wa-watchdog"
RULE_FILE = CHART / "files" / "prometheus-rules.yaml"
RULE_TESTS = CHART / "files" / "prometheus-rules.test.yaml"
DAY_TESTS = CHART / "files" / "prometheus-rules.day.test.yaml"
# A range-vector window or an offset: `[1m]`, `offset 1m`.
_WINDOW = re.compile(r"\[(\d+[smh])\]|offset (\d+[smh])")
# A selector of whatsapp_poll_failing, and one label matcher in it.
_POLL_FAILING = re.compile(r"\bwhatsapp_poll_failing\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')

# Every alert the watchdog raises (its rule keys' alertnames): the rule file defines the same.
ALERTS = tuple(ALERT_RULES.values())


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
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


@pytest.mark.parametrize("tests", [RULE_TESTS, DAY_TESTS], ids=lambda path: path.name)
def test_promtool_unit_tests_pass(tests: Path) -> None:
    """`promtool test rules`: every alert fires on its fault and only there (input series)."""
    result = run_promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_cover_every_alert_firing_and_quiet() -> None:
    """The promtool tests expect each alert to fire in some case and not in another."""
    fired: Counter[str] = Counter()
    quiet: Counter[str] = Counter()
    for tests in (RULE_TESTS, DAY_TESTS):
        document = yaml.safe_load(tests.read_text())
        assert document["rule_files"] == [RULE_FILE.name]
        for case in document["tests"]:
            for check in case["alert_rule_test"]:
                (fired if check.get("exp_alerts") else quiet)[check["alertname"]] += 1
    for alertname in ALERTS:
        assert fired[alertname] > 0, f"no test expects {alertname} to fire"
        assert quiet[alertname] > 0, f"no test expects {alertname} to stay quiet"


def test_every_watchdog_alert_is_defined_exactly_once() -> None:
    """The rule file has one group `wa-watchdog` defining each alert the watchdog raises exactly
    once, and no other."""
    document = yaml.safe_load(RULE_FILE.read_text())
    assert [group["name"] for group in document["groups"]] == ["wa-watchdog"]
    names = Counter(rule["alert"] for rule in alert_rules())
    assert {name: names[name] for name in ALERTS} == dict.fromkeys(ALERTS, 1)
    assert set(names) == set(ALERTS), "an alert the watchdog does not raise"
    # The settings' rule keys and the rules the engine runs name the same alerts.
    assert {rule.alertname for rule in RULES} == set(ALERTS)
    assert {ALERT_RULES[rule.key] for rule in RULES} == set(ALERTS)


_BLIP_WINDOW = re.compile(r"count_over_time\(.*?\[\d+m:\d+m\]\)", re.DOTALL)


def poll_failing_matches(expr: str, labels: dict[str, str]) -> bool:
    """Whether a `whatsapp_poll_failing` selector of `expr` selects a series with `labels` (the
    label matchers on other labels are ignored: they do not tell health failures apart).

    A window of failures in a row (`count_over_time(...)`) counts every failure that may be a
    blip, whichever kind; the selector beside it names the failure the rule speaks for, so the
    window is left out."""
    expr = _BLIP_WINDOW.sub("", expr)
    for selector in _POLL_FAILING.findall(expr):
        matchers = _MATCHER.findall(selector)
        assert matchers, selector
        if all(
            _matches(op, pattern, labels[name]) for name, op, pattern in matchers if name in labels
        ):
            return True
    return False


def _matches(op: str, pattern: str, value: str) -> bool:
    if op == "=":
        return value == pattern
    if op == "!=":
        return value != pattern
    found = re.fullmatch(pattern, value) is not None  # PromQL anchors its regexes
    return found if op == "=~" else not found


def test_poll_failing_matches_reads_the_matchers() -> None:
    """The selector reader honours =, !=, =~ and !~ and ignores other labels."""
    expr = 'max(whatsapp_poll_failing{target="x", endpoint="health", diagnosis=~"a|b"})'
    assert poll_failing_matches(expr, {"endpoint": "health", "diagnosis": "b"})
    assert not poll_failing_matches(expr, {"endpoint": "health", "diagnosis": "ab"})
    assert not poll_failing_matches(expr, {"endpoint": "metrics", "diagnosis": "a"})
    assert poll_failing_matches('whatsapp_poll_failing{diagnosis!~"a"}', {"diagnosis": "c"})
    assert not poll_failing_matches('whatsapp_poll_failing{diagnosis!="c"}', {"diagnosis": "c"})
    assert not poll_failing_matches("whatsapp_up == 0", {"diagnosis": "c"})


def cloud_failures() -> set[Failure]:
    """What a Cloud number's failed poll can be diagnosed as, over every reason, several
    statuses and with or without Graph's error envelope."""
    found = set()
    for reason in REASONS:
        for status in (None, 200, 302, 400, 401, 403, 404, 429, 500, 502, 503):
            for error in (None, ApiErrorInfo(2, "error", None)):
                result = PollResult("t", Endpoint.PHONE_NUMBER, 0.0, 0.0, status, reason, "", error)
                diagnosis = diagnose(result)
                assert diagnosis is not None
                found.add(diagnosis.failure)
    return found


@pytest.mark.parametrize("failure", sorted(cloud_failures()))
def test_each_cloud_number_failure_pages_through_the_alert_the_watchdog_names(
    failure: Failure,
) -> None:
    """A Cloud number's own poll (endpoint phone_number) failing as `failure` is selected by
    exactly one alert's whatsapp_poll_failing, the one the watchdog's CLOUD_HEALTH_RULES give it
    (Graph throttling: WhatsAppCloudRateLimitNear)."""
    labels = {"endpoint": "phone_number", "diagnosis": failure.value}
    selecting = {
        rule["alert"] for rule in alert_rules() if poll_failing_matches(rule["expr"], labels)
    }
    assert selecting == {ALERT_RULES[CLOUD_HEALTH_RULES[failure]]}


@pytest.mark.parametrize("failure", list(Failure))
def test_each_health_failure_pages_through_the_alert_the_watchdog_names(failure: Failure) -> None:
    """A health poll failing as `failure` is selected by exactly one alert's
    whatsapp_poll_failing, the one the watchdog's HEALTH_RULES give it: every failing health
    answer pages, none twice (the promtool case "Every failing health answer pages through
    exactly one alert" runs it)."""
    labels = {"endpoint": "health", "diagnosis": failure.value}
    selecting = {
        rule["alert"] for rule in alert_rules() if poll_failing_matches(rule["expr"], labels)
    }
    assert selecting == {ALERT_RULES[HEALTH_RULES[failure]]}


def test_rules_use_the_watchdogs_severities_durations_and_thresholds() -> None:
    """Severity, `for`, `keep_firing_for` and thresholds equal the watchdog's own defaults."""
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    defaults = AlertSettings()
    assert len(RULES) == len(ALERTS)
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
    # The Cloud rules' parameters.
    near = by_name["WhatsAppCloudRateLimitNear"]["expr"]
    assert f") >= {defaults.cloud_rate_limit_near.threshold}\n" in near
    assert (
        f"< {defaults.token_expiring.within / 86400:.0f} * 86400"
        in (by_name["WhatsAppTokenExpiring"]["expr"])
    )
    hold = defaults.cloud_limit_dropped.hold
    assert windows(by_name["WhatsAppCloudLimitDropped"]["expr"]) == {f"{hold / 3600:.0f}h"}
    # A temporary Graph error pages once it has lasted the polls after the first of
    # transient_polls, at a Cloud number's default interval.
    lasted = (defaults.health_failing.transient_polls - 1) * DEFAULT_CLOUD_HEALTH_INTERVAL
    assert f"[{format_window(lasted)}:1m]) ) >= {lasted / 60:.0f}" in " ".join(
        by_name["WhatsAppHealthFailing"]["expr"].split()
    )
    backlog = by_name["WhatsAppQueueBacklog"]["expr"]
    queue = defaults.queue_backlog
    assert f"whatsapp_app_pending_messages) > {queue.pending_messages}" in backlog
    assert f"whatsapp_app_callback_queue_size) > {queue.callback_queue_size}" in backlog
    # The watchdog exports degraded nodes by its own connecting_for; the text says the default.
    degraded = by_name["WhatsAppGatewayDegraded"]["annotations"]["description"]
    assert f"more than {format_window(defaults.gateway_degraded.connecting_for)}" in degraded


def windows(expr: str) -> set[str]:
    """The range-vector windows and offsets an expression counts over (`[1m]`, `offset 1m`)."""
    return {window or offset for window, offset in _WINDOW.findall(expr)}


def format_window(seconds: float) -> str:
    """A whole number of minutes as PromQL writes it (`1m`)."""
    assert seconds % 60 == 0
    return f"{seconds / 60:.0f}m"
