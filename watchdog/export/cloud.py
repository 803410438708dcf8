"""The Cloud API's own families (`whatsapp_cloud_*`): what a Cloud number's latest fresh Graph
answers say, in one scrape.

Like the On-Prem gateway statuses, only fresh answers are exported (`EndpointState.fresh`): a
value older than 3 poll intervals is not what Meta says now. Each series carries the target's
labels; a user label named like the series' own (`type`, `tier`, `rating`, ...) gives way to it
on that series, so no series has a label twice. Facts: `whatsapp-cloud-api-monitoring.md`
§1 (health status), §2 (phone-number fields), §3 (debug_token), §4 (usage header).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

from watchdog.api.cloud import CloudMemory, target_entities
from watchdog.api.endpoints import Endpoint
from watchdog.api.graph import PhoneNumber
from watchdog.api.graph_health import AVAILABILITY
from watchdog.api.results import Observation
from watchdog.base.targets import Target
from watchdog.export.reexport import Exposition
from watchdog.state import EndpointState

__all__ = ["CLOUD_FAMILIES", "QUALITY_RATINGS", "USAGE_DIMENSIONS", "CloudFamilies"]

Labels = dict[str, str]

CAN_SEND = "whatsapp_cloud_can_send_message"
QUALITY = "whatsapp_cloud_quality_rating"
LIMIT = "whatsapp_cloud_messaging_limit"
PHONE_STATUS = "whatsapp_cloud_phone_status"
USAGE = "whatsapp_cloud_rate_limit_usage_percent"
TOKEN_EXPIRY = "whatsapp_cloud_token_expiry_timestamp_seconds"  # noqa: S105 (a metric name)
CLOUD_FAMILIES = (CAN_SEND, QUALITY, LIMIT, PHONE_STATUS, USAGE, TOKEN_EXPIRY)

# The documented ratings (GREEN, YELLOW, RED, NA [PNAPI]; UNKNOWN in Meta's examples [PN]); an
# undocumented current rating adds its own series.
QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "NA", "UNKNOWN")
# The usage header's percentages (reference §4), as the `dimension` label.
USAGE_DIMENSIONS = ("call_count", "total_cputime", "total_time")


class CloudFamilies:
    """The `whatsapp_cloud_*` families of one scrape, owned by the watchdog (so a re-exported
    On-Prem series can never take their names)."""

    def __init__(self, out: Exposition) -> None:
        self.can_send = out.own(
            GaugeMetricFamily(
                CAN_SEND,
                "Whether each entity behind a Cloud API number can send messages "
                "(can_send_message of the entities of the number's health_status, and of the "
                "WABA's when polled; the newer answer wins for an entity in both), from the "
                "last fresh answers: 1 for the entity's current status, 0 for the others",
            )
        )
        self.quality = out.own(
            GaugeMetricFamily(
                QUALITY,
                "Quality rating of a Cloud API number (its quality_rating field), from the last "
                "fresh answer: 1 for the current rating, 0 for the others",
            )
        )
        self.limit = out.own(
            GaugeMetricFamily(
                LIMIT,
                "Messaging limit of a Cloud API number's business portfolio (the number's "
                "whatsapp_business_manager_messaging_limit), from the last fresh answer: 1 for "
                "the current tier",
            )
        )
        self.status = out.own(
            GaugeMetricFamily(
                PHONE_STATUS,
                "Status of a Cloud API number (its status field; only CONNECTED sends and "
                "receives), from the last fresh answer: 1 for the current status",
            )
        )
        self.usage = out.own(
            GaugeMetricFamily(
                USAGE,
                "Percent of the hourly business use case allowance used, per business, type "
                "and dimension, from the X-Business-Use-Case-Usage header of the latest Graph "
                "answer while fresh (Graph may throttle from 100)",
            )
        )
        self.token = out.own(
            GaugeMetricFamily(
                TOKEN_EXPIRY,
                "When the Cloud API access token expires (Unix time), from the last fresh "
                "debug_token answer; absent when the token never expires",
            )
        )

    def add(
        self,
        target: Target,
        base: Labels,
        now: float,
        endpoints: Mapping[Endpoint, EndpointState],
        memory: CloudMemory | None,
    ) -> None:
        """The series of one Cloud target, from its endpoints' states and its memory."""
        phone = _fresh_success(endpoints.get(Endpoint.PHONE_NUMBER), now)
        number = phone.phone if phone is not None else None
        waba = _fresh_success(endpoints.get(Endpoint.WABA), now)
        self._can_send(base, target, phone, waba)
        if number is not None:
            self._phone(base, number)
        phone_state = endpoints.get(Endpoint.PHONE_NUMBER)
        if memory is not None and phone_state is not None:
            self._usage(base, now, phone_state.stale_after, memory)
        token = _fresh_success(endpoints.get(Endpoint.TOKEN), now)
        info = token.token if token is not None else None
        if info is not None and info.expires_at is not None:
            self.token.samples.append(Sample(TOKEN_EXPIRY, base, info.expires_at))

    def _can_send(
        self, base: Labels, target: Target, phone: Observation | None, waba: Observation | None
    ) -> None:
        for entity in target_entities(target, phone, waba):
            assert entity.can_send_message is not None  # messaging_entities keeps only these
            labels = {**base, "entity_type": entity.entity_type or "", "entity_id": entity.id or ""}
            _state_set(self.can_send, labels, "status", AVAILABILITY, entity.can_send_message)

    def _phone(self, base: Labels, number: PhoneNumber) -> None:
        if number.quality_rating is not None:
            _state_set(self.quality, base, "rating", QUALITY_RATINGS, number.quality_rating)
        if number.messaging_limit is not None:
            _state_set(self.limit, base, "tier", (), number.messaging_limit)
        if number.status is not None:
            _state_set(self.status, base, "status", (), number.status)

    def _usage(self, base: Labels, now: float, stale_after: float, memory: CloudMemory) -> None:
        # The header comes with every answer (the WABA's and debug_token's too), so it is as
        # old as the latest one; the number's interval is the pace it is expected at.
        at = memory.usage_at
        if at is None or now - at > stale_after:
            return
        seen: set[tuple[str, str, str]] = set()
        for usage in memory.usage:
            for dimension in USAGE_DIMENSIONS:
                value = getattr(usage, dimension)
                key = (usage.business_id or "", usage.type or "", dimension)
                if value is None or key in seen:
                    continue
                seen.add(key)
                labels = {**base, "business_id": key[0], "type": key[1], "dimension": dimension}
                self.usage.samples.append(Sample(USAGE, labels, float(value)))


def _fresh_success(state: EndpointState | None, now: float) -> Observation | None:
    return state.fresh_success(now) if state is not None else None


def _state_set(
    family: Metric, labels: Labels, key: str, states: tuple[str, ...], current: str
) -> None:
    """1 for `current`, 0 for the other `states`; a `current` not among them adds its own."""
    for state in states:
        family.samples.append(Sample(family.name, {**labels, key: state}, float(state == current)))
    if current not in states:
        family.samples.append(Sample(family.name, {**labels, key: current}, 1.0))
