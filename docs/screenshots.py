"""Screenshots of the status page: one simulator with three deployments (healthy HA, overloaded,
flapping) watched by one watchdog, each target's focus view (`/?target=<name>`) captured by a
headless Chromium at 1200 px wide and the full height of the page.

Uses the harness of the browser tests (`tests/browser/`), so the pictures show what those tests
check. Writes `docs/status-healthy-ha.png`, `docs/status-overloaded.png` and
`docs/status-flapping.png` (the only thing that writes them; tests never do). About five
minutes: the strips show the last hour, and four minutes of it reads as a strip.

    .venv/bin/python docs/screenshots.py [--output docs] [--seconds 240] [--dark]

Needs Debian's `chromium` and `chromium-driver` (`make screenshots` runs this).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests` is importable from the repository root
    sys.path.insert(0, str(ROOT))

from tests.browser.harness import Browser, BrowserMissing  # noqa: E402
from tests.browser.scenarios import (  # noqa: E402
    FLAPPING,
    HEALTH_INTERVAL,
    OVERLOADED,
    TARGETS,
    ScenarioError,
    Scenarios,
    running,
    wait_for,
)
from watchdog.base.log import configure_logging  # noqa: E402

WIDTH = 1200
# Below this the page's own layout decides; a short page still makes a whole picture.
MIN_HEIGHT = 600


def capture(browser: Browser, url: str, path: Path) -> tuple[int, int]:
    """The page at `url`, WIDTH px wide and as tall as its content, as a PNG at `path`."""
    metrics = {"width": WIDTH, "height": MIN_HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    browser.cdp("Emulation.setDeviceMetricsOverride", metrics)
    try:
        browser.open(url)
        height = max(MIN_HEIGHT, int(browser.script("return document.body.scrollHeight")))
        browser.cdp("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
        shot = browser.cdp("Page.captureScreenshot", {"format": "png"})
    finally:
        browser.cdp("Emulation.clearDeviceMetricsOverride")
    path.write_bytes(base64.b64decode(shot["data"]))
    return WIDTH, height


def wait_for_story(scenarios: Scenarios, seconds: float) -> None:
    """Until the pictures tell it: the overload's alert firing, the flapping gateway gone and
    back at least twice, and `seconds` of history since start."""
    start = time.monotonic()
    wait_for(
        lambda: scenarios.alert_state("WhatsAppOverloaded", OVERLOADED) == "firing",
        "WhatsAppOverloaded to fire",
        2 * HEALTH_INTERVAL,
    )
    scenarios.wait_flapping()

    def flapped() -> bool:
        marks = scenarios.target(FLAPPING)["endpoints"]["health"]["history"]["mark"]
        return sum(1 for a, b in itertools.pairwise(marks) if a != b) >= 3

    wait_for(flapped, f"{FLAPPING} to change three times", 6 * HEALTH_INTERVAL)
    left = seconds - (time.monotonic() - start)
    if left > 0:
        time.sleep(left)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs", help="directory")
    parser.add_argument(
        "--seconds", type=float, default=240.0, help="history to gather first (default 240)"
    )
    parser.add_argument("--dark", action="store_true", help="as a system in dark mode sees it")
    args = parser.parse_args(argv)
    configure_logging(level="error", stream=sys.stderr)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        with Browser(width=WIDTH) as browser, running() as scenarios:
            if args.dark:
                scheme = {"name": "prefers-color-scheme", "value": "dark"}
                browser.cdp("Emulation.setEmulatedMedia", {"features": [scheme]})
            print(f"watchdog {scenarios.url}; gathering history", file=sys.stderr)
            wait_for_story(scenarios, args.seconds)
            for target in TARGETS:
                path = args.output / f"status-{target}{'-dark' if args.dark else ''}.png"
                width, height = capture(browser, scenarios.page_url(target), path)
                print(f"{path} ({width}x{height})")
    except (BrowserMissing, ScenarioError) as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
