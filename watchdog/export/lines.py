"""Families as exposition text: sample lines, shared by both formats, and each format's head.

The Prometheus text format (0.0.4) and OpenMetrics write a sample the same way when its metric
and label names are legacy names, which every name the watchdog exports is (its own, a target's
validated labels, and the API's names, which `watchdog.api.payloads` only accepts in that form):
`name{label="value",...} value`, labels sorted, values escaped and floats written as Go does.
So a target's samples are encoded once, whichever format a scraper asks for; only the heads
(`# HELP`, `# TYPE`) differ, and those are taken from prometheus_client itself, so the names,
types and help text stay exactly what `generate_latest` writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import cast

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

__all__ = ["Encoder", "Heads", "encode"]

_EOF = b"# EOF\n"

Encoder = Callable[[CollectorRegistry], bytes]
# prometheus_client's own float format (Go's), so values read exactly as `generate_latest`'s.
_go_float = cast(Callable[[float], str], floatToGoString)
# Values repeat (0 and 1 of every state set, small counts): formatted once each, up to this many.
_FLOATS_KEPT = 100_000
_floats: dict[float, str] = {}


def _float(value: float) -> str:
    if value == 0:  # 0.0 and -0.0 are one key, and two texts
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = _floats.get(value)
    if text is None:
        text = _go_float(value)
        if len(_floats) >= _FLOATS_KEPT:
            _floats.clear()
        _floats[value] = text
    return text


def _value(text: str) -> str:
    if "\\" in text or "\n" in text or '"' in text:
        return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return text


def encode(samples: Iterable[Sample]) -> bytes:
    """Sample lines as both formats write them (no timestamps or exemplars: none are made)."""
    lines = []
    for sample in samples:
        labels = sample.labels
        if labels:
            inner = ",".join([f'{k}="{_value(v)}"' for k, v in sorted(labels.items())])
            lines.append(f"{sample.name}{{{inner}}} {_float(sample.value)}\n")
        else:
            lines.append(f"{sample.name} {_float(sample.value)}\n")
    return "".join(lines).encode()


class _One(Collector):
    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterable[Metric]:
        return [self.family]


class Heads:
    """`# HELP` and `# TYPE` of a family in each format, made once per name, type and help."""

    # A bound on memory: the API's help texts come from outside.
    LIMIT = 20_000

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str, str], bytes] = {}

    def __call__(
        self, content_type: str, encoder: Encoder, name: str, kind: str, help_text: str
    ) -> bytes:
        """The head `encoder` (prometheus_client's, for `content_type`) writes for a family."""
        key = (content_type, name, kind, help_text)
        head = self._known.get(key)
        if head is None:
            family = Metric(name, help_text, kind)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_One(family))
            head = encoder(registry).removesuffix(_EOF)
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[key] = head
        return head
