"""The page matrix: what every simulator scenario, On-Premises and Cloud API, pages through
`watchdog run` and a real Alertmanager, which alert and how soon, and that nothing else pages.

The matrix runs once for the module (`tests/e2e/page_matrix.py`: all rows at once, about a
minute and a half); each test asserts one property per row, so a failure names the row. The
table of one run is `benchmarks/page_matrix.md`, written by `benchmarks/page_matrix.py` only.
"""

from __future__ import annotations

import pytest

from tests.e2e.page_matrix import ROWS, Matrix, MatrixError, Row, RowResult, run_matrix
from watchdog.simulator import GraphScenario, Scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROW_IDS = [row.name for row in ROWS]
PAGING = [row for row in ROWS if row.pages]
PAGING_IDS = [row.name for row in PAGING]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """Every row of the matrix, run once for the whole module."""
    try:
        return run_matrix(tmp_path_factory.mktemp("page-matrix"))
    except MatrixError as exc:  # a missing binary, a process that would not start, ...
        pytest.fail(str(exc), pytrace=False)


def result_of(matrix: Matrix, row: Row) -> RowResult:
    return matrix.rows[row.name]


def context(matrix: Matrix, result: RowResult) -> str:
    logs = ", ".join(f"{name}: {path}" for name, path in matrix.logs.items())
    return f"\n{result.describe()}\nlogs: {logs}"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_exactly_the_expected_alerts_reach_alertmanager(matrix: Matrix, row: Row) -> None:
    """Alertmanager gets exactly the row's alerts (name, severity, one per node where per
    node, the entity's labels where a Cloud alert names one) and no other, none pending,
    checked after a poll past the row's quiet window."""
    result = result_of(matrix, row)
    assert result.proven, context(matrix, result)
    assert result.wrong_alerts() == [], context(matrix, result)
    assert result.pending == [], context(matrix, result)


@pytest.mark.parametrize("row", PAGING, ids=PAGING_IDS)
def test_each_alert_says_what_happened(matrix: Matrix, row: Row) -> None:
    """Each alert's summary or description carries the key phrase of what the API did."""
    result = result_of(matrix, row)
    assert result.alerts, context(matrix, result)
    assert result.phrase_misses() == [], context(matrix, result)


@pytest.mark.parametrize("row", PAGING, ids=PAGING_IDS)
def test_each_alert_arrives_within_for_plus_two_health_intervals(matrix: Matrix, row: Row) -> None:
    """Each alert reaches Alertmanager within its rule's `for` + 2 health intervals (a Cloud
    target's: 2 phone-number intervals) of the fault's onset (the switch; a flapping gateway's
    first disconnected half; a connecting gateway once `connecting_for` is over; a temporary
    Graph failure once it repeated `transient_polls` times; a climbing usage once a poll
    reports the threshold)."""
    result = result_of(matrix, row)
    assert result.alerts, context(matrix, result)
    assert result.late() == [], context(matrix, result)


WAITING = [row for row in ROWS if any(page.after_failures for page in row.pages)]


@pytest.mark.parametrize("row", WAITING, ids=[row.name for row in WAITING])
def test_alerts_that_wait_for_failures_in_a_row_do_not_page_sooner(
    matrix: Matrix, row: Row
) -> None:
    """An alert that pages only after several failures in a row (a temporary Graph failure)
    becomes pending no sooner than the failing poll that makes them."""
    result = result_of(matrix, row)
    assert result.alerts, context(matrix, result)
    assert result.early() == [], context(matrix, result)


def test_watchdogs_and_alertmanager_exit_cleanly_after_the_matrix(matrix: Matrix) -> None:
    """Both `watchdog run` processes and Alertmanager exit 0 on SIGTERM after the run."""
    assert matrix.exit_codes == dict.fromkeys(matrix.logs, 0), matrix.logs


def test_matrix_rows_cover_every_scenario() -> None:
    """Every scenario of both simulators, On-Premises and Cloud API (Graph), has at least one
    row in the matrix."""
    # Apart: the two enums share values ("healthy"), which a single set would merge.
    assert {row.scenario for row in ROWS if not row.cloud} == set(Scenario)
    assert {row.scenario for row in ROWS if row.cloud} == set(GraphScenario)
