"""One line per headline figure, so `benchmarks/run_all.py` can gather every script's results.

Each script prints its own tables for people; `figure()` adds a line starting with `FIGURE `
and a JSON object, which the driver collects into the summary table of `make bench`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

PREFIX = "FIGURE "


@dataclass(frozen=True)
class Figure:
    script: str  # e.g. "scale.py"
    name: str  # what was measured, e.g. "CPU per poll, watchdog / baseline"
    value: str  # the figure as printed, with its unit or "x" for a ratio
    goal: str = ""  # e.g. "≤ 1.5x"; empty when the figure is context only
    met: bool | None = None  # None when there is no goal

    def row(self) -> str:
        verdict = {True: "met", False: "NOT met", None: ""}[self.met]
        return f"| {self.script} | {self.name} | {self.value} | {self.goal} | {verdict} |"


def figure(script: str, name: str, value: str, goal: str = "", met: bool | None = None) -> Figure:
    """Print a figure's machine-readable line (and return it)."""
    found = Figure(script, name, value, goal, met)
    print(PREFIX + json.dumps(asdict(found), ensure_ascii=False), flush=True)
    return found


def parse(line: str) -> Figure | None:
    """The figure on a line printed by `figure`, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    try:
        return Figure(**json.loads(line[len(PREFIX) :]))
    except (TypeError, ValueError) as exc:
        print(f"unreadable figure line ({exc}): {line!r}", file=sys.stderr)
        return None


TABLE_HEAD = "| script | figure | value | goal | |\n|---|---|---:|---|---|"
