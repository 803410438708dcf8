"""Per-rule alert settings: YAML `alerts:`, `WATCHDOG_ALERT_<RULE>_<KEY>`, defaults and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.unit.config.support import (
    BASE,
    DURATION_HINT,
    KEY,
    assert_messages,
    case,
    fill,
    load,
    messages_of,
    write_yaml,
)
from watchdog.alerts.rules import RULES, GatewayDown, RateLimitSpike
from watchdog.api.gateways import Expectation
from watchdog.config.settings import ALERT_RULES, AlertSettings, Settings, load_settings

INVALID = [
    case(
        "alert-enabled-not-bool",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED": "off"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED: must be true or false (yes/no and 1/0 also work) "
        "(got 'off')",
    ),
    case(
        "alert-for-over-1h",
        {"WATCHDOG_ALERT_OVERLOADED_FOR": "61m"},
        "WATCHDOG_ALERT_OVERLOADED_FOR: must be at most 1h (got 1h1m)",
    ),
    case(
        "alert-for-negative",
        {"WATCHDOG_ALERT_NOT_REGISTERED_FOR": "-1m"},
        "WATCHDOG_ALERT_NOT_REGISTERED_FOR: must not be negative (got '-1m')",
    ),
    case(
        "alert-keep-firing-for-word",
        {"WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR": "long"},
        f"WATCHDOG_ALERT_AUTH_REJECTED_KEEP_FIRING_FOR: expected {DURATION_HINT} (got 'long')",
    ),
    case(
        "alert-keep-firing-for-over-1h",
        {"WATCHDOG_ALERT_GATEWAY_DOWN_KEEP_FIRING_FOR": "2h"},
        "WATCHDOG_ALERT_GATEWAY_DOWN_KEEP_FIRING_FOR: must be at most 1h (got 2h)",
    ),
    case(
        "alert-for-empty",
        {"WATCHDOG_ALERT_UNREACHABLE_FOR": ""},
        f"WATCHDOG_ALERT_UNREACHABLE_FOR: is empty; expected {DURATION_HINT}",
    ),
    case(
        "alert-window-under-10s",
        {"WATCHDOG_ALERT_OVERLOADED_WINDOW": "5s"},
        "WATCHDOG_ALERT_OVERLOADED_WINDOW: must be at least 10s and at most 1h (got 5s)",
    ),
    case(
        "alert-window-over-1h",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW": "90m"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_WINDOW: must be at least 10s and at most 1h (got 1h30m)",
    ),
    case(
        "alert-threshold-zero",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD": "0"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD: must be at least 1 (got 0)",
    ),
    case(
        "alert-threshold-not-whole",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD": "2.5"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD: expected a whole number (got '2.5')",
    ),
    case(
        "alert-ratio-zero",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "0"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share such "
        "as 0.05 for 5% (got 0)",
    ),
    case(
        "alert-ratio-percent",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "5%"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: expected a share such as 0.05 for 5% (got '5%')",
    ),
    case(
        "alert-ratio-nan",
        {"WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "nan"},
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share such "
        "as 0.05 for 5% (got nan)",
    ),
    case(
        "alert-expected-shards-negative",
        {"WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS": "-1"},
        "WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS: must be at least 0 (got -1); 0 means the "
        "number of coreapps seen connected at the first health answer",
    ),
    case(
        "alert-pending-messages-zero",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_PENDING_MESSAGES": "0"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_PENDING_MESSAGES: must be at least 1 (got 0)",
    ),
    case(
        "alert-callback-queue-size-word",
        {"WATCHDOG_ALERT_QUEUE_BACKLOG_CALLBACK_QUEUE_SIZE": "many"},
        "WATCHDOG_ALERT_QUEUE_BACKLOG_CALLBACK_QUEUE_SIZE: expected a whole number (got 'many')",
    ),
    case(
        "alert-env-param-typo",
        {"WATCHDOG_ALERT_OVERLOADED_WINDOWS": "30s"},
        "WATCHDOG_ALERT_OVERLOADED_WINDOWS: unknown variable; did you mean "
        "'WATCHDOG_ALERT_OVERLOADED_WINDOW'?",
    ),
    case(
        "alert-env-param-of-other-rule",
        {"WATCHDOG_ALERT_OVERLOADED_THRESHOLD": "3"},
        "WATCHDOG_ALERT_OVERLOADED_THRESHOLD: unknown variable; the parameters of OVERLOADED "
        "are ENABLED, FOR, KEEP_FIRING_FOR, WINDOW",
    ),
    case(
        "alert-env-rule-typo",
        {"WATCHDOG_ALERT_GATEWAY_EXPECTED_SHARDS": "2"},
        "WATCHDOG_ALERT_GATEWAY_EXPECTED_SHARDS: unknown variable; did you mean "
        "'WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS'?",
    ),
    case(
        "alert-env-rule-without-param",
        {"WATCHDOG_ALERT_UNREACHABLE": "false"},
        "WATCHDOG_ALERT_UNREACHABLE: unknown variable; name a parameter too: "
        "WATCHDOG_ALERT_UNREACHABLE_<PARAM> with PARAM one of ENABLED, FOR, KEEP_FIRING_FOR, "
        "TRANSIENT_POLLS",
    ),
    case(
        "alert-env-plural-prefix",
        {"WATCHDOG_ALERTS_UNREACHABLE_FOR": "1m"},
        "WATCHDOG_ALERTS_UNREACHABLE_FOR: unknown variable; did you mean "
        "'WATCHDOG_ALERT_UNREACHABLE_FOR'?",
    ),
    case(
        "alert-env-lower-case",
        {"WATCHDOG_ALERT_unreachable_for": "1m"},
        "WATCHDOG_ALERT_unreachable_for: unknown variable; did you mean "
        "'WATCHDOG_ALERT_UNREACHABLE_FOR'?",
    ),
    case(
        "alert-env-unknown-rule",
        {"WATCHDOG_ALERT_DISK_FULL": "true"},
        "WATCHDOG_ALERT_DISK_FULL: unknown variable; alert variables are "
        "WATCHDOG_ALERT_<RULE>_<PARAM> with RULE one of OVERLOADED, RATE_LIMIT_SPIKE, "
        "HEALTH_FAILING, GATEWAY_DOWN, GATEWAY_DEGRADED, UNREACHABLE, AUTH_REJECTED, "
        "NOT_REGISTERED, QUEUE_BACKLOG, CLOUD_BLOCKED, CLOUD_LIMITED, CLOUD_QUALITY_LOW, "
        "CLOUD_LIMIT_DROPPED, CLOUD_RATE_LIMIT_NEAR, CLOUD_NOT_CONNECTED, TOKEN_EXPIRING",
    ),
    case(
        "alerts-yaml-not-mapping",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-list.yaml"},
        "alerts in {tmp}/alerts-list.yaml: expected a mapping of alert rules to their settings, "
        "such as {overloaded: {for: 30s}} (got list)",
    ),
    case(
        "alerts-yaml-rule-typo",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-typo.yaml"},
        "alerts.overload in {tmp}/alerts-rule-typo.yaml: unknown alert rule; did you mean "
        "'overloaded'?",
    ),
    case(
        "alerts-yaml-alertname-as-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-alertname.yaml"},
        "alerts.WhatsAppGatewayDown in {tmp}/alerts-alertname.yaml: unknown alert rule; in the "
        "file, WhatsAppGatewayDown is called 'gateway_down'",
    ),
    case(
        "alerts-yaml-unknown-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-unknown.yaml"},
        "alerts.disk_full in {tmp}/alerts-rule-unknown.yaml: unknown alert rule; known rules: "
        "overloaded, rate_limit_spike, health_failing, gateway_down, gateway_degraded, "
        "unreachable, auth_rejected, not_registered, queue_backlog, cloud_blocked, "
        "cloud_limited, cloud_quality_low, cloud_limit_dropped, cloud_rate_limit_near, "
        "cloud_not_connected, token_expiring",
    ),
    case(
        "alerts-yaml-rule-not-mapping",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-rule-scalar.yaml"},
        "alerts.queue_backlog in {tmp}/alerts-rule-scalar.yaml: expected a mapping of the "
        "rule's settings, such as {enabled: false} (got bool)",
    ),
    case(
        "alerts-yaml-key-typo",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-key-typo.yaml"},
        "alerts.overloaded.for_ in {tmp}/alerts-key-typo.yaml: unknown key; did you mean 'for'?",
    ),
    case(
        "alerts-yaml-key-of-other-rule",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-key-of-other-rule.yaml"},
        "alerts.overloaded.threshold in {tmp}/alerts-key-of-other-rule.yaml: unknown key; "
        "known keys: enabled, for, keep_firing_for, window",
    ),
    case(
        "alerts-yaml-env-name",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-env-name.yaml"},
        "WATCHDOG_ALERT_UNREACHABLE_FOR in {tmp}/alerts-env-name.yaml: unknown key; in the "
        "file, WATCHDOG_ALERT_UNREACHABLE_FOR is called 'alerts.unreachable.for'",
    ),
    case(
        "alert-transient-polls-zero",
        {"WATCHDOG_ALERT_HEALTH_FAILING_TRANSIENT_POLLS": "0"},
        "WATCHDOG_ALERT_HEALTH_FAILING_TRANSIENT_POLLS: must be at least 1 (got 0)",
    ),
    case(
        "alert-hold-zero",
        {"WATCHDOG_ALERT_CLOUD_LIMIT_DROPPED_HOLD": "0s"},
        "WATCHDOG_ALERT_CLOUD_LIMIT_DROPPED_HOLD: must be more than 0s and at most 168h (got 0s)",
    ),
    case(
        "alert-hold-over-a-week",
        {"WATCHDOG_ALERT_CLOUD_LIMIT_DROPPED_HOLD": "169h"},
        "WATCHDOG_ALERT_CLOUD_LIMIT_DROPPED_HOLD: must be more than 0s and at most 168h (got 169h)",
    ),
    case(
        "alert-within-word",
        {"WATCHDOG_ALERT_TOKEN_EXPIRING_WITHIN": "a week"},
        f"WATCHDOG_ALERT_TOKEN_EXPIRING_WITHIN: expected {DURATION_HINT} (got 'a week')",
    ),
    case(
        "alert-within-over-90-days",
        {"WATCHDOG_ALERT_TOKEN_EXPIRING_WITHIN": "2161h"},
        "WATCHDOG_ALERT_TOKEN_EXPIRING_WITHIN: must be more than 0s and at most 2160h (got 2161h)",
    ),
    case(
        "alert-usage-threshold-over-100",
        {"WATCHDOG_ALERT_CLOUD_RATE_LIMIT_NEAR_THRESHOLD": "101"},
        "WATCHDOG_ALERT_CLOUD_RATE_LIMIT_NEAR_THRESHOLD: must be at most 100, a percentage of "
        "the hourly allowance (got 101)",
    ),
    case(
        "alert-usage-threshold-share",
        {"WATCHDOG_ALERT_CLOUD_RATE_LIMIT_NEAR_THRESHOLD": "0.8"},
        "WATCHDOG_ALERT_CLOUD_RATE_LIMIT_NEAR_THRESHOLD: expected a whole number (got '0.8')",
    ),
    case(
        "alerts-yaml-values",
        {"WATCHDOG_CONFIG_FILE": "{tmp}/alerts-values.yaml"},
        "alerts.rate_limit_spike.window in {tmp}/alerts-values.yaml: must be at least 10s and "
        "at most 1h (got 5s)",
        "alerts.rate_limit_spike.threshold in {tmp}/alerts-values.yaml: expected a whole number "
        "(got 2.5)",
        "alerts.rate_limit_spike.ratio in {tmp}/alerts-values.yaml: must be more than 0 and at "
        "most 1, a share such as 0.05 for 5% (got 1.5)",
        "alerts.gateway_down.expected_shards in {tmp}/alerts-values.yaml: expected a whole "
        "number (got a boolean)",
        "alerts.unreachable.enabled in {tmp}/alerts-values.yaml: must be true or false (yes/no "
        "and 1/0 also work) (got 'maybe')",
        "alerts.unreachable.for in {tmp}/alerts-values.yaml: must be at most 1h (got 2h)",
    ),
]


@pytest.mark.parametrize(("env", "expected"), INVALID)
def test_invalid_input_gets_exact_messages(
    env: dict[str, str], expected: list[str], tmp: str
) -> None:
    """Every invalid input is reported with exactly these messages, naming what the user wrote."""
    assert_messages(env, expected, tmp)


ALERT_DEFAULTS = {
    "overloaded": {"enabled": True, "for": "0s", "keep_firing_for": "2m", "window": "1m"},
    "rate_limit_spike": {
        "enabled": True,
        "for": "0s",
        "keep_firing_for": "2m",
        "window": "1m",
        "threshold": 5,
        "ratio": 0.05,
    },
    "health_failing": {
        "enabled": True,
        "for": "1m",
        "keep_firing_for": "1m",
        "transient_polls": 3,
    },
    "gateway_down": {
        "enabled": True,
        "for": "30s",
        "keep_firing_for": "1m",
        "expected_shards": 0,
    },
    "gateway_degraded": {
        "enabled": True,
        "for": "1m",
        "keep_firing_for": "1m",
        "connecting_for": "5m",
    },
    "unreachable": {"enabled": True, "for": "30s", "keep_firing_for": "1m", "transient_polls": 3},
    "auth_rejected": {"enabled": True, "for": "0s", "keep_firing_for": "1m"},
    "not_registered": {"enabled": True, "for": "1m", "keep_firing_for": "1m"},
    "queue_backlog": {
        "enabled": True,
        "for": "1m",
        "keep_firing_for": "2m",
        "pending_messages": 50000,
        "callback_queue_size": 50000,
    },
    "cloud_blocked": {"enabled": True, "for": "0s", "keep_firing_for": "10m"},
    "cloud_limited": {"enabled": True, "for": "0s", "keep_firing_for": "10m"},
    "cloud_quality_low": {"enabled": True, "for": "0s", "keep_firing_for": "10m"},
    "cloud_limit_dropped": {
        "enabled": True,
        "for": "0s",
        "keep_firing_for": "10m",
        "hold": "24h",
    },
    "cloud_rate_limit_near": {
        "enabled": True,
        "for": "0s",
        "keep_firing_for": "10m",
        "threshold": 80,
    },
    "cloud_not_connected": {"enabled": True, "for": "0s", "keep_firing_for": "10m"},
    "token_expiring": {"enabled": True, "for": "0s", "keep_firing_for": "10m", "within": "168h"},
}


def test_alert_defaults() -> None:
    """Unset alert settings take the documented per-rule defaults."""
    alerts = load_settings(BASE).alerts
    assert alerts == AlertSettings()
    assert alerts.effective() == ALERT_DEFAULTS
    gateway = alerts.rule("gateway_down")
    assert isinstance(gateway, GatewayDown)
    assert (gateway.enabled, gateway.for_, gateway.keep_firing_for, gateway.expected_shards) == (
        True,
        30.0,
        60.0,
        0,
    )
    assert alerts.rule("rate_limit_spike").params == {"window": 60.0, "threshold": 5, "ratio": 0.05}
    assert alerts.rule("unreachable").params == {"transient_polls": 3}
    assert alerts.rule("health_failing").params == {"transient_polls": 3}
    assert alerts.rule("cloud_limit_dropped").params == {"hold": 86400.0}
    assert alerts.rule("cloud_rate_limit_near").params == {"threshold": 80}
    assert alerts.rule("token_expiring").params == {"within": 604800.0}
    assert list(alerts.rules()) == list(ALERT_RULES)


def test_alert_rule_names_and_alertnames() -> None:
    """Rule keys map to the alertnames the alert rules use, in the same order; the gateway
    parameters default to what the gateway expectation does."""
    assert ALERT_RULES == {
        "overloaded": "WhatsAppOverloaded",
        "rate_limit_spike": "WhatsAppRateLimitSpike",
        "health_failing": "WhatsAppHealthFailing",
        "gateway_down": "WhatsAppGatewayDown",
        "gateway_degraded": "WhatsAppGatewayDegraded",
        "unreachable": "WhatsAppUnreachable",
        "auth_rejected": "WhatsAppAuthRejected",
        "not_registered": "WhatsAppNotRegistered",
        "queue_backlog": "WhatsAppQueueBacklog",
        "cloud_blocked": "WhatsAppCloudBlocked",
        "cloud_limited": "WhatsAppCloudLimited",
        "cloud_quality_low": "WhatsAppCloudQualityLow",
        "cloud_limit_dropped": "WhatsAppCloudLimitDropped",
        "cloud_rate_limit_near": "WhatsAppCloudRateLimitNear",
        "cloud_not_connected": "WhatsAppCloudNotConnected",
        "token_expiring": "WhatsAppTokenExpiring",
    }
    assert list(AlertSettings.model_fields) == list(ALERT_RULES)
    assert {rule.key: rule.alertname for rule in RULES} == ALERT_RULES
    assert AlertSettings().expectation() == Expectation()


def test_alert_rule_lookup_of_unknown_name() -> None:
    """rule() names only known rules; a near miss gets a suggestion."""
    with pytest.raises(KeyError, match="unknown alert rule 'overload'; did you mean 'overloaded'"):
        AlertSettings().rule("overload")


def test_alerts_from_yaml(tmp: str) -> None:
    """YAML sets any key of any rule; the others keep their defaults; null means unset."""
    config = write_yaml(
        tmp,
        {
            "alerts": {
                "overloaded": {"for": "15s", "window": "2m"},
                "rate_limit_spike": {"threshold": 10, "ratio": 0.1, "keep_firing_for": None},
                "gateway_down": {"expected_shards": 4},
                "queue_backlog": {"enabled": False, "pending_messages": "100_000"},
                "unreachable": None,
            }
        },
    )
    alerts = load(tmp, WATCHDOG_CONFIG_FILE=config).alerts
    assert (alerts.overloaded.for_, alerts.overloaded.window) == (15.0, 120.0)
    assert alerts.overloaded.keep_firing_for == 120.0
    spike = alerts.rate_limit_spike
    assert (spike.threshold, spike.ratio, spike.keep_firing_for) == (10, 0.1, 120.0)
    assert alerts.gateway_down.expected_shards == 4
    assert (alerts.queue_backlog.enabled, alerts.queue_backlog.pending_messages) == (False, 100000)
    assert alerts.unreachable == AlertSettings().unreachable


def test_alerts_yaml_null_is_no_alert_settings(tmp: str) -> None:
    """An empty alerts mapping or a null leaves every rule at its defaults."""
    documents: list[dict[str, Any]] = [{"alerts": None}, {"alerts": {}}]
    for document in documents:
        config = write_yaml(tmp, document)
        assert load(tmp, WATCHDOG_CONFIG_FILE=config).alerts == AlertSettings()


def test_alerts_from_env(tmp: str) -> None:
    """WATCHDOG_ALERT_<RULE>_<PARAM> sets one key of one rule."""
    alerts = load(
        tmp,
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_THRESHOLD="10",
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO=" 0.5 ",
        WATCHDOG_ALERT_OVERLOADED_FOR="15s",
        WATCHDOG_ALERT_GATEWAY_DOWN_EXPECTED_SHARDS="4",
        WATCHDOG_ALERT_QUEUE_BACKLOG_ENABLED="false",
        WATCHDOG_ALERT_NOT_REGISTERED_KEEP_FIRING_FOR="1h",
        WATCHDOG_ALERT_UNREACHABLE_FOR="0",
    ).alerts
    assert (alerts.rate_limit_spike.threshold, alerts.rate_limit_spike.ratio) == (10, 0.5)
    assert alerts.overloaded.for_ == 15.0
    assert alerts.gateway_down.expected_shards == 4
    assert alerts.queue_backlog.enabled is False
    assert alerts.not_registered.keep_firing_for == 3600.0
    assert alerts.unreachable.for_ == 0.0
    # Untouched keys and rules keep their defaults.
    assert alerts.overloaded.window == 60.0
    assert alerts.auth_rejected == AlertSettings().auth_rejected


@pytest.mark.parametrize(("text", "value"), [("YES", True), ("0", False), ("No", False)])
def test_alert_enabled_is_a_flag(tmp: str, text: str, value: bool) -> None:
    """enabled is parsed like every other boolean."""
    alerts = load(tmp, WATCHDOG_ALERT_AUTH_REJECTED_ENABLED=text).alerts
    assert alerts.auth_rejected.enabled is value


def test_alert_env_wins_over_yaml_per_parameter(tmp: str) -> None:
    """A variable overrides its key only: the same rule's other YAML keys still apply, and an
    invalid YAML value the environment overrides is not reported."""
    config = write_yaml(
        tmp,
        {
            "alerts": {
                "overloaded": {"for": "2h", "window": "30s"},
                "rate_limit_spike": {"threshold": 8, "ratio": 0.2},
                "gateway_down": {"expected_shards": 2},
            }
        },
    )
    alerts = load(
        tmp,
        WATCHDOG_CONFIG_FILE=config,
        WATCHDOG_ALERT_OVERLOADED_FOR="10s",
        WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO="0.3",
        WATCHDOG_ALERT_UNREACHABLE_ENABLED="no",
    ).alerts
    assert (alerts.overloaded.for_, alerts.overloaded.window) == (10.0, 30.0)
    assert (alerts.rate_limit_spike.threshold, alerts.rate_limit_spike.ratio) == (8, 0.3)
    assert alerts.gateway_down.expected_shards == 2
    assert alerts.unreachable.enabled is False


def test_alert_problem_names_the_source_of_each_value(tmp: str) -> None:
    """With env and YAML both setting one rule, each message names where its value came from."""
    config = write_yaml(tmp, {"alerts": {"rate_limit_spike": {"threshold": 0}}})
    env = fill(
        {**BASE, "WATCHDOG_CONFIG_FILE": config, "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO": "2"},
        tmp,
    )
    assert messages_of(env) == [
        f"alerts.rate_limit_spike.threshold in {config}: must be at least 1 (got 0)",
        "WATCHDOG_ALERT_RATE_LIMIT_SPIKE_RATIO: must be more than 0 and at most 1, a share "
        "such as 0.05 for 5% (got 2)",
    ]


def test_alert_numbers_in_yaml_forms(tmp: str) -> None:
    """YAML numbers work as they are written: 5.0 is a whole number, 1 a ratio, 90 seconds."""
    config = write_yaml(
        tmp,
        {"alerts": {"rate_limit_spike": {"threshold": 5.0, "ratio": 1, "window": 90}}},
    )
    spike = load(tmp, WATCHDOG_CONFIG_FILE=config).alerts.rate_limit_spike
    assert (spike.threshold, spike.ratio, spike.window) == (5, 1.0, 90.0)
    assert isinstance(spike.threshold, int)


def test_cloud_alerts_from_yaml_and_env(tmp: str) -> None:
    """The Cloud rules' parameters, in YAML and the environment, in the forms durations take."""
    config = write_yaml(
        tmp,
        {
            "alerts": {
                "cloud_limit_dropped": {"hold": "6h"},
                "token_expiring": {"within": "720h", "keep_firing_for": "1h"},
                "cloud_blocked": {"for": "5m"},
            }
        },
    )
    alerts = load(
        tmp,
        WATCHDOG_CONFIG_FILE=config,
        WATCHDOG_ALERT_CLOUD_RATE_LIMIT_NEAR_THRESHOLD="90",
        WATCHDOG_ALERT_HEALTH_FAILING_TRANSIENT_POLLS="5",
        WATCHDOG_ALERT_CLOUD_QUALITY_LOW_ENABLED="no",
    ).alerts
    assert alerts.cloud_limit_dropped.hold == 6 * 3600.0
    assert (alerts.token_expiring.within, alerts.token_expiring.keep_firing_for) == (
        30 * 86400.0,
        3600.0,
    )
    assert alerts.cloud_blocked.for_ == 300.0
    assert alerts.cloud_rate_limit_near.threshold == 90
    assert alerts.health_failing.transient_polls == 5
    assert alerts.cloud_quality_low.enabled is False
    assert alerts.effective()["token_expiring"]["within"] == "720h"


def test_alert_settings_built_directly() -> None:
    """Settings(...) takes alerts keyed as in YAML; for_ works as well as for. Frozen."""
    settings = Settings(alerts={"overloaded": {"for": "15s"}, "unreachable": {"for_": 5}})
    assert (settings.alerts.overloaded.for_, settings.alerts.unreachable.for_) == (15.0, 5.0)
    assert RateLimitSpike(threshold="7").threshold == 7
    with pytest.raises(ValidationError):
        settings.alerts.overloaded.for_ = 1.0  # type: ignore[misc]


def test_effective_with_alerts_reads_back(tmp: str) -> None:
    """effective() holds external_url and every rule's keys (for, not for_), durations written
    like the other settings, and loads back to the same settings."""
    config = write_yaml(
        tmp,
        {
            "external_url": "https://wd.example/",
            "alerts": {
                "overloaded": {"for": 15, "keep_firing_for": "90s"},
                "rate_limit_spike": {"ratio": 0.25, "window": "10s"},
                "gateway_down": {"expected_shards": 3, "enabled": "no"},
            },
            "targets": [{"name": "a", "url": "https://wa-a.example"}],
        },
    )
    first = load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": config})
    effective = first.effective()
    assert effective["external_url"] == "https://wd.example"
    expected = {
        **ALERT_DEFAULTS,
        "overloaded": {**ALERT_DEFAULTS["overloaded"], "for": "15s", "keep_firing_for": "1m30s"},
        "rate_limit_spike": {**ALERT_DEFAULTS["rate_limit_spike"], "ratio": 0.25, "window": "10s"},
        "gateway_down": {**ALERT_DEFAULTS["gateway_down"], "expected_shards": 3, "enabled": False},
    }
    assert effective["alerts"] == expected
    text = yaml.safe_dump(effective, sort_keys=False)
    path = Path(tmp) / "effective.yaml"
    path.write_text(text, encoding="utf-8")
    again = load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": str(path)})
    assert again == first
    # Defaults read back too, with external_url null.
    plain = load_settings(BASE)
    assert plain.effective()["external_url"] is None
    path.write_text(yaml.safe_dump(plain.effective()), encoding="utf-8")
    assert load_settings({"WA_API_KEY": KEY, "WATCHDOG_CONFIG_FILE": str(path)}) == plain
