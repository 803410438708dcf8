"""The page matrix: which alert each simulator scenario pages, and how soon, as a table.

Runs the harness `tests/e2e/test_page_matrix.py` asserts (`tests/e2e/page_matrix.py`): one
simulator with one deployment per On-Premises row, one simulated Cloud API account per Cloud
row, one `watchdog run` polling them all (a second one in bearer mode for the password row),
one real Alertmanager; every row switched from healthy at once. Writes
`benchmarks/page_matrix.md` (the only thing that writes it; tests never do) and prints its
figures. About a minute and a half.

    .venv/bin/python benchmarks/page_matrix.py [--output benchmarks/page_matrix.md]

Needs the Alertmanager binary (`prometheus-alertmanager` on Debian, or `alertmanager`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from report import figure

from watchdog.config.alerts import AlertSettings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.e2e.page_matrix import Matrix, MatrixError, RowResult, run_matrix  # noqa: E402
from tests.e2e.page_matrix_rows import (  # noqa: E402
    ALERT_FOR,
    CLOUD_INTERVAL,
    CONNECTING_FOR,
    FLAP_PERIOD,
    HEALTH_INTERVAL,
    THROTTLING_ALLOWANCE,
    TRANSIENT_POLLS,
)

OUTPUT = ROOT / "benchmarks" / "page_matrix.md"
SCRIPT = "page_matrix.py"
# Characters of a description shown either side of the phrase found in it.
CONTEXT = 30


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def expected_text(result: RowResult) -> str:
    if not result.row.pages:
        return "none"
    lines = []
    for page in result.row.pages:
        count = result.expected()[(page.alertname, page.severity)]
        each = f" x{count} (one per node)" if page.per_node else ""
        labels = "".join(f" {k}={v}" for k, v in page.labels)
        after = (
            f", pending no sooner than failing poll {page.after_failures}"
            if page.after_failures
            else ""
        )
        lines.append(f'{page.alertname} {page.severity}{each}{labels}{after}: "{page.phrase}"')
    return "<br>".join(_cell(line) for line in lines)


def observed_text(result: RowResult) -> str:
    if not result.alerts:
        return "none"
    lines = []
    for alert in result.alerts:
        resolved = "" if alert.listed_at_end else " (resolved before the end)"
        line = f"{alert.text()}: {alert.summary}{resolved}"
        phrases = [p.phrase for p in result.row.pages if p.alertname == alert.alertname]
        for phrase in phrases:
            at = alert.description.find(phrase)
            if phrase not in alert.summary.replace(result.row.target, "") and at != -1:
                start, end = max(0, at - CONTEXT), at + len(phrase) + CONTEXT
                excerpt = alert.description[start:end]
                line += f' — description: "{"…" * (start > 0)}{excerpt}…"'
        lines.append(line)
    return "<br>".join(_cell(line) for line in lines)


def timing_text(result: RowResult) -> str:
    if not result.alerts:
        return "—"
    lines = []
    for alert in result.alerts:
        took = result.since_switch(alert)
        bound = result.row.bound(alert.alertname)
        lines.append(f"{took:.1f} s / {bound:g} s ({result.row.bound_text(alert.alertname)})")
    return "<br>".join(_cell(line) for line in lines)


def verdict(result: RowResult) -> str:
    problems = result.problems()
    return "as expected" if not problems else "**NOT as expected**: " + _cell("; ".join(problems))


def table(matrix: Matrix) -> str:
    head = (
        "| scenario | setup | expected alerts | observed in Alertmanager "
        "| time to page / bound | |\n|---|---|---|---|---|---|"
    )
    rows = [
        f"| {_cell(r.row.title)} | {_cell(r.row.setup)} | {expected_text(r)} "
        f"| {observed_text(r)} | {timing_text(r)} | {verdict(r)} |"
        for r in matrix.rows.values()
    ]
    return "\n".join([head, *rows])


def report(matrix: Matrix, when: datetime) -> str:
    settings = "\n".join(f"- {name}: {value}" for name, value in matrix.settings.items())
    good = sum(1 for r in matrix.rows.values() if not r.problems())
    pending = [f"{r.row.name}: {', '.join(r.pending)}" for r in matrix.rows.values() if r.pending]
    pending_text = (
        "Nothing was pending at the watchdogs for any row at the end."
        if not pending
        else f"Pending at the watchdogs at the end: {'; '.join(pending)}."
    )
    longest = max(ALERT_FOR.values())
    keep = AlertSettings().gateway_down.keep_firing_for
    return f"""# Page matrix

Written by `benchmarks/page_matrix.py` from what one run observed ({when:%Y-%m-%d %H:%M} UTC,
{matrix.duration:.0f} s in all; {good} of {len(matrix.rows)} rows as expected).
`tests/e2e/test_page_matrix.py` runs the same harness (`tests/e2e/page_matrix.py`) and
asserts every row; the tests never write this file.

How: one simulator (`MultiSimulatorServer`) serves one deployment per On-Premises row, each
with its own topology, Webapps and credentials, and one simulated Cloud API account
(`GraphServer`) serves each Cloud row (the token, the WABA and the hourly allowance are an
account's); one `watchdog run` process polls one target per row (the API key; the access token
for the `kind: cloud` targets of its YAML file) and sends its alerts to one real Alertmanager
(Debian's `prometheus-alertmanager`). Everything starts healthy; once the watchdog is ready
(`/readyz`) and every target's health (a Cloud target's phone number) has been polled once
more with no alert anywhere, every row's scenario is switched on at once (`POST
<target>/_sim/scenario`; the throttling account's allowance emptied with it) and the time
noted. The password row needs bearer mode, a global setting: a second `watchdog run` (same
Alertmanager) starts at the switch, and its first login is that row's onset. Alertmanager's
`GET /api/v2/alerts` is read every 0.2 s: *time to page* is from the switch to the alert's
first listing there. A row ends once the watchdog has polled its target after its quiet window
(the longest `for`, {longest:g} s, + 2 intervals of health or of the phone number; +
{CONNECTING_FOR:g} s of `connecting_for` for the connecting gateway; + the {FLAP_PERIOD:g} s
healthy first half for the flapping one; + the polls a temporary Graph failure must repeat or
the usage takes to climb). The watchdog evaluates a target's rules after every poll, so every
alert that was going to page has paged by then: *none* and the absence of other alerts are
observed, not assumed. {pending_text}

The bound is the rule's `for` + 2 intervals of the endpoint that says whether the target works
(health, {2 * HEALTH_INTERVAL:g} s; a Cloud target's phone number, {2 * CLOUD_INTERVAL:g} s)
from the fault's onset: the switch; for `gateway_connecting` `connecting_for` after it (the
condition is "a gateway connecting for longer than that"); for `flapping` its first
disconnected half, one flap period after the switch; for `transient_503` and `html_proxy`
the poll that makes the rule's `transient_polls` failures in a row (a Cloud number's failure
that may be a blip), and that alert must not be pending before that poll (each poll after a
503 comes an interval and its backoff later: `health_failing`'s `transient_polls` is capped at
{TRANSIENT_POLLS["health_failing"]} like `for`, since the third failure would come up to 7
intervals after the switch, past the On-Premises rows' window); for `throttling` the poll
whose usage header reports the threshold (an allowance of {THROTTLING_ALLOWANCE} calls: 50 % at
the first call, 100 % at the second, after which the watchdog holds its polls until Meta lets
calls through).
The flap period ({FLAP_PERIOD:g} s) outlasts `for` + 2 health intervals
({ALERT_FOR["gateway_down"] + 2 * HEALTH_INTERVAL:g} s), so the first disconnected half pages,
and once; `keep_firing_for` ({keep:g} s) holds the alert through the healthy half that follows
(not observed here: the run ends before). The phrase is looked for in the summary and the
description, the target's name left out; where only the description has it, an excerpt is
shown. A Cloud alert that names an entity (`WhatsAppCloudBlocked`) must carry its
`entity_type` and `entity_id`.

Settings:

{settings}

{table(matrix)}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the table")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="page-matrix-") as workdir:
        try:
            matrix = run_matrix(
                Path(workdir),
                progress=lambda text: print(
                    f"[{time.monotonic() - started:5.1f} s] {text}", flush=True
                ),
            )
        except MatrixError as exc:
            print(f"page matrix failed to run: {exc}", file=sys.stderr)
            return 1
    when = datetime.now(UTC)
    args.output.write_text(report(matrix, when))
    print(table(matrix))
    print(f"\nwritten to {args.output}")

    results = list(matrix.rows.values())
    good = [r for r in results if not r.problems()]
    for result in results:
        if result.problems():
            print(f"\n{result.describe()}\n  problems: {result.problems()}")
    figure(SCRIPT, "page matrix rows as expected", f"{len(good)} of {len(results)}",
           "all", len(good) == len(results))  # fmt: skip
    timed = [
        (r.since_switch(a) / r.row.bound(a.alertname), r, a) for r in results for a in r.alerts
    ]
    if timed:
        share, result, alert = max(timed, key=lambda t: t[0])
        figure(
            SCRIPT,
            "time to page, closest to its bound (share of for + 2 health intervals)",
            f"{result.since_switch(alert):.1f} s of {result.row.bound(alert.alertname):g} s "
            f"({share:.0%}, {result.row.name} {alert.alertname})",
            "≤ 100 %",
            share <= 1.0,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
