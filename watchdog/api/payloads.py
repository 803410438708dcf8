"""Parse the API's JSON answers into typed values: health per node, and metric samples.

The API is not trusted: anything can arrive (a proxy's HTML page, a version with other fields,
a hostile server). Parsers raise `PayloadError` when the shape makes the answer unusable and
otherwise keep what is usable — an odd sample is skipped, never fatal. Every limit here bounds
the work and memory one answer can cost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["counter", "gauge", "untyped"]
Labels = tuple[tuple[str, str], ...]

# The gateway states the API documents (reference §1.3); anything else is kept as "unknown".
GATEWAY_STATES = ("connected", "connecting", "disconnected", "uninitialized", "unregistered")
MAX_SAMPLES = 50_000
MAX_NODES = 1_000
MAX_LABELS = 32
MAX_LABEL_VALUE = 256
MAX_DETAILS = 200
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


class PayloadError(ValueError):
    """The answer parsed as JSON but its shape is not one the API produces."""


@dataclass(frozen=True)
class ApiErrorInfo:
    """The first entry of an `errors` array: what the API said went wrong."""

    code: int | None
    title: str | None
    # The API's own words on what failed (reference §5.1); cut to MAX_DETAILS characters.
    # Callers that show it (logs, pages, alerts) pass it through the redactor first.
    details: str | None = None


@dataclass(frozen=True)
class NodeHealth:
    """One node's health: its gateway status, or the error the Webapp got from it."""

    node: str
    role: str | None
    status: str | None
    error: ApiErrorInfo | None = None

    @property
    def known_status(self) -> str:
        """The status, or `unknown` when it is missing or not one the API documents."""
        return self.status if self.status in GATEWAY_STATES else "unknown"


@dataclass(frozen=True)
class Health:
    nodes: tuple[NodeHealth, ...]
    # single | ha | multiconnect; see `_topology` for how a cluster is told apart.
    topology: str
    version: str | None
    api_status: str | None


@dataclass(frozen=True)
class Sample:
    name: str
    kind: Kind
    help: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Samples:
    samples: tuple[Sample, ...]
    # How many entries were dropped as unusable (non-numeric value, bad name, over a limit).
    skipped: int
    version: str | None


def _clean(text: str, limit: int) -> str:
    """`text` cut to `limit` characters and made encodable: JSON may carry lone surrogates
    (`"\\ud800"`), which would make the UTF-8 exposition of every later scrape fail."""
    text = text[:limit]
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def _text(value: Any, limit: int = MAX_LABEL_VALUE) -> str | None:
    if isinstance(value, str):
        return _clean(value, limit)
    return None


def _meta(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    meta = body.get("meta")
    if not isinstance(meta, Mapping):
        return None, None
    return _text(meta.get("version"), 64), _text(meta.get("api_status"), 64)


def api_error(body: Any) -> ApiErrorInfo | None:
    """The first entry of the body's `errors` array, if it has a usable one."""
    if not isinstance(body, Mapping):
        return None
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], Mapping):
        return None
    first = errors[0]
    code = first.get("code")
    return ApiErrorInfo(
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        title=_text(first.get("title"), 128),
        details=_details(first.get("details")),
    )


def _details(value: Any) -> str | None:
    text = _text(value, MAX_DETAILS * 4)
    if not text:
        return None
    # One line, whatever the API put in it (PHP messages carry newlines and tabs).
    line = " ".join(text.split())
    return line if len(line) <= MAX_DETAILS else f"{line[: MAX_DETAILS - 3]}..."


def _object(body: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise PayloadError(f"expected a JSON object, got {type(body).__name__}")
    value = body.get(key)
    if not isinstance(value, Mapping):
        raise PayloadError(f"expected an object under {key!r}")
    return value


def parse_health(body: Any) -> Health:
    """`{"health": {...}, "meta": {...}}` in its single-instance or per-node form (§1.2)."""
    health = _object(body, "health")
    version, api_status = _meta(body)
    if "gateway_status" in health:
        status = _text(health.get("gateway_status"), 64)
        node = NodeHealth("webapp", None, status)
        return Health((node,), "single", version, api_status)
    nodes = []
    for key, entry in list(health.items())[:MAX_NODES]:
        if not isinstance(entry, Mapping):
            raise PayloadError(f"node {str(key)[:64]!r} is not an object")
        nodes.append(
            NodeHealth(
                node=_clean(str(key), MAX_LABEL_VALUE),
                role=_text(entry.get("role"), 64),
                status=_text(entry.get("gateway_status"), 64),
                error=api_error(entry),
            )
        )
    if not nodes:
        raise PayloadError("the health object lists no nodes")
    return Health(tuple(nodes), _topology(nodes), version, api_status)


def _topology(nodes: list[NodeHealth]) -> str:
    """HA and multiconnect share one shape; the primary master tells them apart.

    In multiconnect the primary master is connected, in HA it reports disconnected (reference
    §1.2). With the master itself failing this guess can be wrong; topology-aware rules take
    the expected shard count from configuration where it matters.
    """
    for node in nodes:
        if node.role == "primary_master" and node.status in ("connected", "connecting"):
            return "multiconnect"
    return "ha"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range, as `float("1e400")` gives inf
            number = math.inf if value > 0 else -math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def _labels(raw: Any, node: str | None) -> Labels | None:
    if raw is None:
        raw = {}
    # The `node` label added to per-node samples counts towards the limit too.
    if not isinstance(raw, Mapping) or len(raw) + (node is not None) > MAX_LABELS:
        return None
    pairs: dict[str, str] = {}
    if node is not None:
        pairs["node"] = node
    for key, value in raw.items():
        name = str(key)[:64]
        if not _LABEL_NAME.fullmatch(name):
            name = _INVALID_LABEL_CHARS.sub("_", name) or "_"
            if name[0].isdigit():
                name = "_" + name
        if name.startswith("__"):
            continue
        text = value if isinstance(value, str) else "" if value is None else str(value)
        pairs.setdefault(name, _clean(text, MAX_LABEL_VALUE))
    return tuple(pairs.items())


def _family_samples(
    families: Mapping[str, Any], node: str | None, budget: int
) -> Iterator[Sample | None]:
    """Samples of one `{name: {"type","help","data"}}` object; None marks a skipped entry."""
    for name, family in families.items():
        if budget <= 0:
            return
        if not isinstance(family, Mapping) or not _METRIC_NAME.fullmatch(str(name)):
            yield None
            continue
        kind_raw = family.get("type")
        kind: Kind = kind_raw if kind_raw in ("counter", "gauge") else "untyped"
        help_text = _text(family.get("help"), 512) or ""
        data = family.get("data")
        if not isinstance(data, list):
            yield None
            continue
        for entry in data:
            budget -= 1
            if budget < 0:
                return
            if not isinstance(entry, Mapping):
                yield None
                continue
            value = _number(entry.get("value"))
            labels = _labels(entry.get("labels"), node)
            if value is None or labels is None:
                yield None
                continue
            yield Sample(str(name), kind, help_text, labels, value)


def _collect(items: Iterator[Sample | None], version: str | None) -> Samples:
    samples: list[Sample] = []
    skipped = 0
    for item in items:
        if item is None:
            skipped += 1
        else:
            samples.append(item)
    return Samples(tuple(samples), skipped, version)


def parse_metrics(body: Any) -> Samples:
    """`{"metrics": {name: family}}` from the Webapp's `/metrics` (reference §2.2)."""
    families = _object(body, "metrics")
    return _collect(_family_samples(families, None, MAX_SAMPLES), _meta(body)[0])


def parse_stats(body: Any, kind: str) -> Samples:
    """`{"stats": {"app"|"db": ...}}`, single-instance or keyed by node (reference §3.2).

    Per-node answers get a `node` label (the API's own Prometheus rendering does the same);
    a node with `{}` (every db-stats node but the primary master) contributes nothing.
    """
    stats = _object(_object(body, "stats"), kind)
    version = _meta(body)[0]
    values = list(stats.values())
    # A single instance maps names to families (which carry "data"); a cluster maps node keys
    # to such maps, `{}` included.
    per_node = bool(values) and all(isinstance(v, Mapping) and "data" not in v for v in values)

    def items() -> Iterator[Sample | None]:
        if not per_node:
            yield from _family_samples(stats, None, MAX_SAMPLES)
            return
        budget = MAX_SAMPLES
        for node, families in list(stats.items())[:MAX_NODES]:
            for item in _family_samples(families, _clean(str(node), MAX_LABEL_VALUE), budget):
                budget -= 1
                yield item

    return _collect(items(), version)
