"""The `?format=prometheus` rendering of metric families (reference §2.3 and §3.3)."""

from __future__ import annotations

from typing import Any

from watchdog.simulator.deployment import Families


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def merge_nodes(per_node: dict[str, Families]) -> Families:
    """Merge per-node stats by metric name, each sample getting `node` as its first label."""
    merged: Families = {}
    for node, families in per_node.items():
        for name, family in families.items():
            target = merged.setdefault(
                name, {"type": family["type"], "help": family["help"], "data": []}
            )
            for sample in family["data"]:
                labels = {"node": node, **sample.get("labels", {})}
                target["data"].append({"labels": labels, "value": sample["value"]})
    return merged


def prometheus_text(families: Families) -> str:
    """`# HELP`, `# TYPE`, then one line per sample; families without data are skipped."""
    lines: list[str] = []
    for name, family in families.items():
        data: list[dict[str, Any]] = family["data"]
        if not data:
            continue
        lines.append(f"# HELP {name} {family['help']}")
        lines.append(f"# TYPE {name} {family['type']}")
        for sample in data:
            labels = sample.get("labels") or {}
            inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            lines.append(
                f"{name}{{{inner}}} {sample['value']}" if inner else f"{name} {sample['value']}"
            )
    return "\n".join(lines) + "\n" if lines else ""
