"""Settings for the whole suite: the Hypothesis profiles.

`ci` is loaded when the `CI` environment variable is set (CI services set it), `dev` otherwise;
`pytest --hypothesis-profile NAME` chooses one explicitly. Both draw new examples on every run
(`derandomize` off: a fixed seed would test the same inputs forever) and print the blob that
replays a failure (`@reproduce_failure`), since a CI run's random examples are gone with its
machine. Tests that build large inputs set their own `max_examples` and `deadline`
(`tests/unit/api/test_payloads.py`, `tests/unit/export/test_collector.py`); a profile gives only
what they leave unset.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Hypothesis's default count, stated: the suite's time stays what it was.
MAX_EXAMPLES = 100
# Hypothesis's own settings, not whichever profile it loaded itself: when CI is set it loads a
# built-in `ci` profile, derandomized, which these replace.
BASE = settings.get_profile("default")

settings.register_profile(
    "dev",
    BASE,
    max_examples=MAX_EXAMPLES,
    derandomize=False,
    print_blob=True,
    deadline=200,  # ms, Hypothesis's default: a slow example shows up while developing
)
# A shared CI machine stalls now and then (other jobs, GC, a cold cache): timing is not what
# these properties assert, and pytest-timeout still ends a test that hangs. No example database:
# the machine is thrown away; the printed blob is what replays a failure.
settings.register_profile(
    "ci",
    BASE,
    max_examples=MAX_EXAMPLES,
    derandomize=False,
    print_blob=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if "CI" in os.environ else "dev")
