"""The rows of the page matrix: every simulator scenario, what it must page and how soon.

A row is one On-Premises deployment (`Scenario`, served by the `MultiSimulatorServer`) or one
Cloud API account (`GraphScenario`, its own `GraphServer`: the token, the WABA and the hourly
allowance are the account's). `tests/e2e/page_matrix.py` runs them all at once; the intervals,
the capped `for`s and the bounds here are what its assertions and the table measure against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from watchdog.base.durations import format_duration
from watchdog.config.alerts import ALERT_RULES, AlertSettings
from watchdog.poll.scheduler import backoff_seconds
from watchdog.simulator import GraphConfig, GraphScenario, Scenario, SimulatorConfig, Topology
from watchdog.simulator.graph import PHONE_NUMBER_ID, WABA_ID
from watchdog.state import THROTTLED

KEY = "page-matrix-key-0123456789"
USER = "admin"
PASSWORD = "Page-matrix-passw0rd!"
# The Cloud rows' access token (a Graph token's look); every Graph server of the matrix has it.
TOKEN = "EAApageMatrixGraphToken0123456789"

# The API allows 10 health calls per 60 s per deployment; 6 s would use the whole budget.
HEALTH_INTERVAL = 8.0
METRICS_INTERVAL = 2.0
STATS_APP_INTERVAL = 2.0
TIMEOUT = 5.0
# Cloud targets: the phone number every 10 s (the least a Cloud target may be set to), the WABA
# and the token as often, so that what they show is seen within the On-Prem rows' window (their
# defaults are 15 min and a day).
CLOUD_INTERVAL = 10.0
# Every rule's `for` is capped here (the defaults run to 60 s), and so is how long a gateway may
# stay `connecting` before it counts as degraded (default 5 min), so the matrix takes ~1.5 min.
FOR_CAP = 20.0
CONNECTING_FOR = 20.0
# Flapping: healthy for this long, then disconnected as long, and so on. A health poll sees the
# disconnected half within 8 s of its start, and `for` (20 s) later a poll of metrics or stats
# (every 2 s) fires the alert: 30 s into the half at the latest, 10 s before it ends. So it
# pages, deterministically, once (`keep_firing_for` holds it through the next healthy half).
FLAP_PERIOD = 40.0
# The `slow` scenario's delay, below the watchdog's timeout.
SLOW_DELAY = 3.0
# How long the proxy of `proxy_504` takes to give up. Shorter than `slow`'s: its 504 is seen only
# once it arrives, so a 3 s delay would put the worst case (next health poll 8 s after the
# switch, + 3 s, + `for` 20 s, + up to 4 s until the next evaluation) within 1 s of the bound.
PROXY_504_DELAY = 1.0
# The throttling account's hourly allowance, emptied at the switch: the first call after it
# reports 50 %, the second 100 % (with the minutes until calls fit again). The header climbs,
# and the watchdog, which then holds its polls, never meets the 80008 itself.
THROTTLING_ALLOWANCE = 2
# The throttling row's WABA is polled at its default interval, once before the switch: each
# endpoint paces itself on its own answers, so a second caller of the allowance after the
# switch could meet the 80008 or not, by the order of the two polls.
THROTTLING_WABA_INTERVAL = 900.0

_SETTINGS = AlertSettings()
ALERT_FOR: dict[str, float] = {
    rule: min(settings.for_, FOR_CAP) for rule, settings in _SETTINGS.rules().items()
}
RULE_OF: dict[str, str] = {alertname: rule for rule, alertname in ALERT_RULES.items()}
# A Cloud number's failure that may be a blip (Meta's temporary errors; an error page on the way
# to Meta) pages only after `transient_polls` failures in a row: rule -> its default.
TRANSIENT_POLLS_DEFAULT: dict[str, int] = {
    rule: int(settings.params["transient_polls"])
    for rule, settings in _SETTINGS.rules().items()
    if "transient_polls" in settings.params
}
# Capped like `for` where the failures back off: the polls after a 503 come one interval later
# after the first, three after the second, so health_failing's third failure would come up to 7
# intervals after the switch, 30 s past the On-Prem rows' window; its second, up to 3.
TRANSIENT_POLLS_CAP = {"health_failing": 2}
TRANSIENT_POLLS: dict[str, int] = {
    rule: min(polls, TRANSIENT_POLLS_CAP.get(rule, polls))
    for rule, polls in TRANSIENT_POLLS_DEFAULT.items()
}
# The HTTP status of each Graph scenario that fails every call (the simulator's).
FAILING_STATUS = {GraphScenario.TRANSIENT_503: 503, GraphScenario.HTML_PROXY: 502}
# The usage percentage from which WhatsAppCloudRateLimitNear holds, and the call after the
# switch that first reports it.
RATE_LIMIT_THRESHOLD = float(_SETTINGS.rule("cloud_rate_limit_near").params["threshold"])
THROTTLING_CALLS = math.ceil(RATE_LIMIT_THRESHOLD * THROTTLING_ALLOWANCE / 100)


@dataclass(frozen=True)
class Page:
    """An alert a row must raise: name, severity, and a phrase of its summary or description.

    `per_node`: one alert per node that reports the scenario's status (`node` label), instead
    of one for the target. `labels`: labels each such alert must carry (the entity of a Cloud
    alert). `after_failures`: the alert may become pending only at the poll of the target's
    primary endpoint that fails this many times after the switch (a temporary Graph failure).
    """

    alertname: str
    severity: str
    phrase: str
    per_node: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    after_failures: int = 0

    def text(self) -> str:
        each = " per node" if self.per_node else ""
        labels = "".join(f" {k}={v}" for k, v in self.labels)
        after = f" after {self.after_failures} failures" if self.after_failures else ""
        return f'{self.alertname} {self.severity}{each}{labels}{after} "{self.phrase}"'


@dataclass(frozen=True)
class Row:
    """One deployment or Cloud API account of the matrix: what it goes through, what must page."""

    name: str  # the row's name (test id); its target is `target`
    scenario: Scenario | GraphScenario
    pages: tuple[Page, ...] = ()
    topology: Topology = Topology.SINGLE
    webapps: int = 1
    webapp: int | None = None  # the scenario hits this Webapp only
    password_change: bool = False  # the first login must change the password (bearer watchdog)
    slow_delay: float = SLOW_DELAY  # how long `slow` and `proxy_504` take to answer

    @property
    def cloud(self) -> bool:
        """A Cloud API target (a Graph scenario), not an On-Premises deployment."""
        return isinstance(self.scenario, GraphScenario)

    @property
    def target(self) -> str:
        """The target's name and the simulator's path prefix: prefixed, so that no phrase an
        alert must carry can hide in it (a target named "overloaded" says "overloaded")."""
        return f"pm-{self.name}"

    @property
    def interval(self) -> float:
        """How often the endpoint that says whether the target works is polled."""
        return CLOUD_INTERVAL if self.cloud else HEALTH_INTERVAL

    @property
    def primary(self) -> str:
        """That endpoint's name (`watchdog.api.endpoints.primary`)."""
        return "phone_number" if self.cloud else "health"

    @property
    def waba_interval(self) -> float:
        throttling = self.scenario is GraphScenario.THROTTLING
        return THROTTLING_WABA_INTERVAL if throttling else CLOUD_INTERVAL

    @property
    def title(self) -> str:
        if self.password_change:
            return "first login needs a password change"
        if self.webapp is not None:
            return f"{self.scenario.value} on Webapp {self.webapp}"
        return f"cloud: {self.scenario.value}" if self.cloud else self.scenario.value

    @property
    def setup(self) -> str:
        if self.cloud:
            return self._cloud_setup()
        parts = [self.topology.value]
        if self.webapps > 1:
            parts.append(f"{self.webapps} Webapps")
        if self.password_change:
            parts.append("bearer")
        if self.scenario is Scenario.FLAPPING:
            parts.append(f"flap period {format_duration(FLAP_PERIOD)}")
        if self.scenario is Scenario.SLOW or self.scenario is Scenario.PROXY_504:
            parts.append(f"answers after {format_duration(self.slow_delay)}")
        return ", ".join(parts)

    def _cloud_setup(self) -> str:
        every = format_duration(CLOUD_INTERVAL)
        if self.scenario is not GraphScenario.THROTTLING:
            return f"Cloud API, phone number, WABA and token every {every}"
        return (
            f"Cloud API, phone number and token every {every}, WABA every "
            f"{format_duration(self.waba_interval)}; {THROTTLING_ALLOWANCE} calls an hour, "
            "none used at the switch"
        )

    @property
    def onset(self) -> float:
        """Seconds from the switch until the fault shows: a flapping gateway is healthy first."""
        return FLAP_PERIOD if self.scenario is Scenario.FLAPPING else 0.0

    def delay(self, alertname: str) -> float:
        """How long the condition takes to hold after the onset: `connecting_for` for a
        gateway that must stay connecting that long first; the polls after the first that a
        temporary Graph failure must repeat, or that the usage takes to reach the threshold."""
        delayed = {
            Scenario.GATEWAY_CONNECTING: ("WhatsAppGatewayDegraded", CONNECTING_FOR),
            GraphScenario.TRANSIENT_503: (
                "WhatsAppHealthFailing",
                self._failures_delay("health_failing"),
            ),
            GraphScenario.HTML_PROXY: ("WhatsAppUnreachable", self._failures_delay("unreachable")),
            GraphScenario.THROTTLING: (
                "WhatsAppCloudRateLimitNear",
                (THROTTLING_CALLS - 1) * self.interval,
            ),
        }
        for scenario, (name, seconds) in delayed.items():
            if self.scenario is scenario and alertname == name:
                return seconds
        return 0.0

    @property
    def _backs_off(self) -> bool:
        """Whether the polls back off after the scenario's failures (429 and 503 do)."""
        return isinstance(self.scenario, GraphScenario) and (
            FAILING_STATUS.get(self.scenario) in THROTTLED
        )

    def _failures_delay(self, rule: str) -> float:
        """From the first failing poll to the one that makes the rule's `transient_polls` in a
        row: an interval apart, and the backoff after each 503."""
        return sum(
            self.interval + (backoff_seconds(self.interval, failed) if self._backs_off else 0)
            for failed in range(1, TRANSIENT_POLLS[rule])
        )

    def _delay_text(self, alertname: str) -> str:
        seconds = self.delay(alertname)
        if self.scenario is Scenario.GATEWAY_CONNECTING:
            return f"connecting_for {seconds:g}"
        if self.scenario is GraphScenario.THROTTLING:
            return f"usage {RATE_LIMIT_THRESHOLD:g} % at call {THROTTLING_CALLS}: {seconds:g}"
        backoff = ", polls backed off" if self._backs_off else ""
        polls = TRANSIENT_POLLS[RULE_OF[alertname]]
        return f"failure {polls} in a row{backoff}: {seconds:g}"

    def bound(self, alertname: str) -> float:
        """Seconds from the switch within which `alertname` must reach Alertmanager."""
        rule_for = ALERT_FOR[RULE_OF[alertname]]
        return self.onset + self.delay(alertname) + rule_for + 2 * self.interval

    def bound_text(self, alertname: str) -> str:
        parts = []
        if self.onset:
            parts.append(f"first disconnected half at {self.onset:g}")
        if self.delay(alertname):
            parts.append(self._delay_text(alertname))
        parts.append(f"for {ALERT_FOR[RULE_OF[alertname]]:g}")
        parts.append(f"2 x {self.interval:g}")
        return " + ".join(parts)

    @property
    def quiet(self) -> float:
        """Seconds after the switch by which any rule would have paged: a poll of the target
        after this proves an alert that did not come will not (within the bounds)."""
        delay = max(self.delay(name) for name in RULE_OF)
        return self.onset + delay + max(ALERT_FOR.values()) + 2 * self.interval

    def config(self) -> SimulatorConfig:
        return SimulatorConfig(
            topology=self.topology,
            api_key=KEY,
            users={USER: PASSWORD},
            password_change_required=self.password_change,
            webapps=self.webapps,
            slow_delay=self.slow_delay,
            flap_period=FLAP_PERIOD,
        )

    def graph_config(self) -> GraphConfig:
        return GraphConfig(token=TOKEN, throttling_allowance=THROTTLING_ALLOWANCE)

    def target_entry(self, url: str) -> dict[str, Any]:
        """The target as an entry of the watchdog's YAML `targets`."""
        if not self.cloud:
            return {"name": self.target, "url": url}
        return {
            "name": self.target,
            "kind": "cloud",
            "url": url,
            "phone_number_id": PHONE_NUMBER_ID,
            "waba_id": WABA_ID,
            "waba_interval": format_duration(self.waba_interval),
        }

    def switch_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"scenario": self.scenario.value}
        if self.webapp is not None:
            body["webapp"] = self.webapp
        return body


def _down(phrase: str) -> Page:
    return Page("WhatsAppGatewayDown", "critical", phrase)


def _failing(phrase: str) -> Page:
    return Page("WhatsAppHealthFailing", "critical", phrase)


def _proxy(status: int) -> Page:
    return Page(
        "WhatsAppUnreachable",
        "critical",
        f"unavailable behind its proxy/load balancer (HTTP {status})",
    )


def _blocked(phrase: str, entity_type: str, entity_id: str) -> Page:
    labels = (("entity_type", entity_type), ("entity_id", entity_id))
    return Page("WhatsAppCloudBlocked", "critical", phrase, labels=labels)


OVERLOADED = Page("WhatsAppOverloaded", "critical", "overloaded (503, code 1016)")
HA, MC = Topology.HA, Topology.MULTICONNECT
# HA: one coreapp of three connected when healthy. Multiconnect: three coreapps, two of them
# connected shards (`expected_shards` 0: the count seen at the first health answer).
HA_DOWN = "0 of 3 coreapps connected (ha, 1 expected)"
MC_DOWN = "1 of 3 coreapps connected (multiconnect, 2 expected)"
G = GraphScenario

ONPREM_ROWS: tuple[Row, ...] = (
    Row("healthy", Scenario.HEALTHY),
    Row("overloaded", Scenario.OVERLOADED, (OVERLOADED,)),
    # Only the API's counters show the 503s: none of the watchdog's own polls got one.
    Row("busy", Scenario.BUSY,
        (Page("WhatsAppOverloaded", "critical", "0 of the watchdog's polls got 503"),)),
    Row("rate-limited", Scenario.RATE_LIMITED,
        (Page("WhatsAppRateLimitSpike", "warning", "rate limiting requests (429)"),
         _failing("rate limits the watchdog (429)"))),
    Row("gw-disconnected", Scenario.GATEWAY_DISCONNECTED, (_down("gateway disconnected"),)),
    Row("gw-disconnected-ha", Scenario.GATEWAY_DISCONNECTED, (_down(HA_DOWN),), HA),
    Row("gw-disconnected-mc", Scenario.GATEWAY_DISCONNECTED, (_down(MC_DOWN),), MC),
    Row("coreapp-down", Scenario.COREAPP_DOWN, (_down("Coreapp unreachable"),)),
    Row("coreapp-down-ha", Scenario.COREAPP_DOWN, (_down(HA_DOWN),), HA),
    Row("uninitialized", Scenario.UNINITIALIZED,
        (Page("WhatsAppNotRegistered", "warning", "is uninitialized", per_node=True),)),
    Row("unregistered", Scenario.UNREGISTERED,
        (Page("WhatsAppNotRegistered", "warning", "is unregistered", per_node=True),)),
    Row("slow", Scenario.SLOW),
    Row("malformed", Scenario.MALFORMED, (_failing("unusable answer (decode)"),)),
    Row("not-ready", Scenario.NOT_READY, (_failing("is not ready (500, code 1011)"),)),
    Row("proxy-502", Scenario.PROXY_502, (_proxy(502),)),
    Row("proxy-503", Scenario.PROXY_503, (_proxy(503),)),
    Row("proxy-504", Scenario.PROXY_504, (_proxy(504),), slow_delay=PROXY_504_DELAY),
    Row("database-down", Scenario.DATABASE_DOWN, (_failing("database error"),)),
    Row("health-unusable", Scenario.HEALTH_UNUSABLE, (_failing("unusable answer (shape)"),)),
    Row("gw-connecting", Scenario.GATEWAY_CONNECTING,
        (Page("WhatsAppGatewayDegraded", "warning", "connecting for"),)),
    Row("master-lost-mc", Scenario.MASTER_LOST,
        (_down(MC_DOWN),
         Page("WhatsAppGatewayDegraded", "warning", "primary master")), MC),
    Row("webapps3-healthy", Scenario.HEALTHY, webapps=3),
    Row("webapps3-one-overloaded", Scenario.OVERLOADED, (OVERLOADED,), webapps=3, webapp=1),
    Row("first-login", Scenario.HEALTHY,
        (Page("WhatsAppAuthRejected", "critical", "password"),), password_change=True),
    Row("flapping", Scenario.FLAPPING, (_down("gateway disconnected"),)),
)  # fmt: skip

# One Graph account per row. The phrases are the facts the answer carried: Meta's error codes,
# the status, the level the limit fell to. calling_blocked is the documented SIP quirk (overall
# BLOCKED, every can_send_message AVAILABLE): nothing pages.
CLOUD_ROWS: tuple[Row, ...] = (
    Row("cloud-healthy", G.HEALTHY),
    Row("cloud-blocked", G.BLOCKED, (_blocked("131031", "PHONE_NUMBER", PHONE_NUMBER_ID),)),
    Row("cloud-limited", G.LIMITED,
        (Page("WhatsAppCloudLimited", "warning", "display name has not been approved"),)),
    Row("cloud-quality-red", G.QUALITY_RED,
        (Page("WhatsAppCloudQualityLow", "warning", "RED quality rating"),)),
    Row("cloud-disconnected", G.DISCONNECTED,
        (Page("WhatsAppCloudNotConnected", "critical", "status is DISCONNECTED"),)),
    Row("cloud-calling-blocked", G.CALLING_BLOCKED),
    Row("cloud-waba-blocked", G.WABA_BLOCKED, (_blocked("141006", "WABA", WABA_ID),)),
    Row("cloud-limit-dropped", G.LIMIT_DROPPED,
        (Page("WhatsAppCloudLimitDropped", "warning", "from TIER_10K to TIER_2K"),)),
    Row("cloud-throttling", G.THROTTLING,
        (Page("WhatsAppCloudRateLimitNear", "warning", "call_count 100 %"),)),
    Row("cloud-token-expired", G.TOKEN_EXPIRED,
        (Page("WhatsAppAuthRejected", "critical", "the access token has expired"),)),
    Row("cloud-token-expiring", G.TOKEN_EXPIRING,
        (Page("WhatsAppTokenExpiring", "warning", "expires on"),)),
    Row("cloud-transient-503", G.TRANSIENT_503,
        (Page("WhatsAppHealthFailing", "critical", "temporary failure at Meta",
              after_failures=TRANSIENT_POLLS["health_failing"]),)),
    # The proxy's page is no Graph answer: the way to Meta, not the number, fails.
    Row("cloud-html-proxy", G.HTML_PROXY,
        (Page("WhatsAppUnreachable", "critical", "answers HTTP 502",
              after_failures=TRANSIENT_POLLS["unreachable"]),)),
)  # fmt: skip

ROWS: tuple[Row, ...] = ONPREM_ROWS + CLOUD_ROWS


def settings_summary() -> dict[str, str]:
    """The settings that shape the matrix, for the report."""
    defaults = _SETTINGS.rules()
    return {
        "health interval (On-Premises)": format_duration(HEALTH_INTERVAL),
        "metrics / stats_app interval": (
            f"{format_duration(METRICS_INTERVAL)} / {format_duration(STATS_APP_INTERVAL)}"
        ),
        "Cloud API: phone number / WABA / token interval": (
            f"{format_duration(CLOUD_INTERVAL)} each (the throttling row's WABA: "
            f"{format_duration(THROTTLING_WABA_INTERVAL)})"
        ),
        "timeout": format_duration(TIMEOUT),
        "for (default → used)": ", ".join(
            f"{rule} {format_duration(defaults[rule].for_)}"
            + (f" → {format_duration(v)}" if v != defaults[rule].for_ else "")
            for rule, v in ALERT_FOR.items()
        ),
        "gateway_degraded connecting_for": format_duration(CONNECTING_FOR),
        "transient_polls (default → used)": ", ".join(
            f"{rule} {default}"
            + (f" → {TRANSIENT_POLLS[rule]}" if TRANSIENT_POLLS[rule] != default else "")
            for rule, default in TRANSIENT_POLLS_DEFAULT.items()
        ),
        "flap period": format_duration(FLAP_PERIOD),
        "slow delay (slow / proxy_504)": (
            f"{format_duration(SLOW_DELAY)} / {format_duration(PROXY_504_DELAY)}"
        ),
        "throttling allowance": (
            f"{THROTTLING_ALLOWANCE} calls an hour, emptied at the switch "
            f"(cloud_rate_limit_near threshold {RATE_LIMIT_THRESHOLD:g} %: call "
            f"{THROTTLING_CALLS})"
        ),
    }
