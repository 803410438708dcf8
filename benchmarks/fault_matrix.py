"""The fault matrix: what the watchdog makes of every way a target can fail, as a table.

Runs the harness `tests/integration/test_fault_matrix.py` asserts (its `run_matrix`): one
`watchdog run` process watching a healthy control target, a simulator that restarts mid-run and
one purpose-built faulty server per cell; all faults on at once, then all removed. Writes
`benchmarks/fault_matrix.md` (the only thing that writes it; tests never do), each cell as
observed, and prints whether the matrix is the expected one. About a minute.

    .venv/bin/python benchmarks/fault_matrix.py [--output benchmarks/fault_matrix.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from report import figure

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.integration.test_fault_matrix import (  # noqa: E402
    CELLS,
    ENDPOINTS,
    MatrixRun,
    expected_matrix,
    faulty,
    observed_matrix,
    run_matrix,
)

OUTPUT = ROOT / "benchmarks" / "fault_matrix.md"
SCRIPT = "fault_matrix.py"


def render(run: MatrixRun) -> str:
    """The matrix as observed, in Markdown."""
    lines = [
        "# Fault matrix",
        "",
        "Written by `benchmarks/fault_matrix.py` from what one run observed; the same harness",
        "(`run_matrix` in `tests/integration/test_fault_matrix.py`) is asserted by that test",
        "module, and the tests never write this file. One `watchdog run` process watches a healthy",
        "control target, a simulator that restarts mid-run, and one faulty target per cell (a",
        "small purpose-built server, `tests/integration/fault_servers.py`); all faults start",
        "together and are removed together once every cell shows. Each cell gives the `reason`",
        "counted in `whatsapp_poll_errors_total` (with `whatsapp_up` 0 for that endpoint) and the",
        "alert that fired, then resolved once the fault was removed. *no alert* is by design:",
        'see README "Alerting" — a failure pages only when health has it (whatever the',
        "reason: every failing health answer pages); other endpoints only page for overload",
        "(503/1016), rate limits and refused credentials.",
        "",
        "Connection faults (refused, DNS, connect timeout, TLS) happen before a request is read,",
        "so they hit every endpoint of their target at once; their alert is shown under health,",
        "the only endpoint `WhatsAppUnreachable` looks at. Path faults hit one endpoint of their",
        "target, whose other endpoints stayed up. Settings: `WATCHDOG_TIMEOUT=0.5s`, intervals",
        "health 6 s and 1 s for the others, every rule's `for` and `keep_firing_for` `0s`, 503",
        "window 10 s, 429 window 19 s, `rate_limit_spike` threshold 2 (after a 429 an endpoint",
        "backs off, so one endpoint alone cannot reach the default 5 in a window). The body cap is",
        "exercised by its announced length here; a streamed body is cut at the cap in unit tests.",
        "",
        "| fault | made by | " + " | ".join(ENDPOINTS) + " |",
        "|---|---|" + "---|" * len(ENDPOINTS),
    ]
    for cell in CELLS:
        entries = []
        for target, endpoint in faulty(cell):
            reasons = ", ".join(f"`{r}`" for r in sorted(run.fired.reasons(target, endpoint)))
            if cell.path_fault is None and endpoint != "health":
                entries.append(f"{reasons}, the alert under health")
                continue
            fired = sorted(run.healed.alert_states(target))
            entries.append(f"{reasons} → {', '.join(fired) or 'no alert'}")
        lines.append(f"| {cell.title} | {cell.how} | " + " | ".join(entries) + " |")
    lines += [
        "| API restart (counters reset) | simulator `POST /_sim/restart` | no failed poll, no "
        "alert | `watchdog_api_restarts_total` +1, no failed poll, no alert | same | no "
        "counters (db stats are gauges), no failed poll, no alert |",
        "| bearer token expiring mid-run | simulator, tokens living 3 s, "
        "`WATCHDOG_AUTH_MODE=bearer` | renewed: no failed poll, no 401, no alert | same | "
        "same | same |",
        "",
        "Meanwhile the control target and every healthy endpoint of the faulty targets were",
        "polled on schedule (last success never older than the interval + 1.5 s), `/livez`",
        "answered 200 throughout, nothing was logged at error level, and the process exited 0",
        "on SIGTERM (all asserted by the test module, not by this script). The last two rows are",
        "asserted by `test_api_restart_counts_a_counter_reset_and_alerts_nothing` and",
        "`test_bearer_token_expiring_mid_run_is_renewed_without_a_failed_poll`.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the table")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as workdir:
        try:
            run = run_matrix(Path(workdir))
        except AssertionError as exc:  # the harness asserts as it goes (ready, fired, healed)
            print(f"fault matrix failed to run: {exc}", file=sys.stderr)
            return 1
    table = render(run)
    args.output.write_text(table)
    print(table)
    for cell in CELLS:
        for target, endpoint in faulty(cell):
            print(f"{cell.key} / {endpoint}: {run.detail(target, endpoint)}")
    print(f"\nwritten to {args.output} after {time.monotonic() - started:.0f} s")

    observed, expected = observed_matrix(run), expected_matrix()
    wrong = sorted(key for key in expected if observed.get(key) != expected[key])
    for key in wrong:
        print(f"{key}: observed {observed.get(key)}, expected {expected[key]}")
    figure(SCRIPT, "fault matrix cells as expected (fault x endpoint: reason, alert)",
           f"{len(expected) - len(wrong)} of {len(expected)}", "all", not wrong)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
