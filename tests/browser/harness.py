"""A real headless Chromium driven by Selenium, for the status page's browser tests and for
`docs/screenshots.py`; not collected as a test itself.

Debian's `chromium` and `chromium-driver` are required, not optional: CI installs them
(`.ci/run`), so a missing one fails the test with a message saying what to install. Selenium
Manager is kept offline (`SE_OFFLINE`), and Chromium's own background traffic (updates, sync,
field trials) is switched off, so the only requests are the ones the page makes, and each is
recorded from Chrome's performance log so a test can check where they went.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.html_tree import Element, parse

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "Debian/Ubuntu: apt-get install chromium chromium-driver; .ci/run installs them"

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a container's /dev/shm is often 64 MB: too small for tabs
)
# A phone's screen in CSS pixels: a page must not scroll sideways on it.
PHONE = (360, 740)
# Chrome's content setting: 2 blocks JavaScript on every site.
NO_JAVASCRIPT = {"profile.managed_default_content_settings.javascript": 2}

# The document's background as drawn: the body's, else the root's (CSS propagates a
# transparent body's background from <html> to the canvas).
BACKGROUND_JS = """
const clear = c => c === 'transparent' || c === 'rgba(0, 0, 0, 0)';
const body = getComputedStyle(document.body).backgroundColor;
return clear(body) ? getComputedStyle(document.documentElement).backgroundColor : body;
"""


class BrowserMissing(RuntimeError):
    """Chromium or its WebDriver is not installed where the harness looks."""


def require_browser() -> None:
    """Raise `BrowserMissing` naming what to install unless both binaries are there."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        raise BrowserMissing(
            f"{' and '.join(missing)} not found: the browser tests drive a real Chromium "
            f"through its WebDriver ({INSTALL})"
        )


class Browser:
    """One headless Chromium with a fresh profile; a context manager.

    `requested` holds the URL of every request the pages made (from Chrome's performance log,
    read after each `open`).
    """

    def __init__(self, *, javascript: bool = True, width: int = 1200, height: int = 900) -> None:
        require_browser()
        # Selenium Manager would otherwise look for a driver and browser on the network.
        os.environ["SE_OFFLINE"] = "true"
        self._profile = tempfile.TemporaryDirectory(
            prefix="wa-watchdog-chromium-", ignore_cleanup_errors=True
        )
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self._profile.name}"):
            options.add_argument(flag)
        if not javascript:
            options.add_experimental_option("prefs", NO_JAVASCRIPT)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        # Network events only: page and timeline events would fill the log for nothing.
        options.add_experimental_option(
            "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False}
        )
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except Exception:
            self._profile.cleanup()
            raise
        self._size = (width, height)
        self.driver.set_window_size(width, height)
        # Chromium opens its new-tab page, whose own chrome:// loads are not the page's.
        self.driver.get("about:blank")
        self._performance_log()
        self.requested: list[str] = []

    def open(self, url: str) -> Element:
        """Load `url` (waiting for its load event) and return the document as loaded."""
        self.driver.get(url)
        return self.dom()

    def dom(self) -> Element:
        """The document as it is now, in one read (see `tests.browser.dom`)."""
        tree = parse(self.driver.page_source)
        self.record_requests()
        return tree

    def script(self, source: str, *args: Any) -> Any:
        """Run JavaScript in the page (with JavaScript on) and return its value."""
        return self.driver.execute_script(source, *args)

    def cdp(self, command: str, params: Mapping[str, Any] | None = None) -> Any:
        """One Chrome DevTools Protocol command (emulation of media, viewport, ...)."""
        return self.driver.execute_cdp_cmd(command, dict(params or {}))

    def background(self) -> tuple[int, int, int]:
        """The page's background colour as drawn, in RGB."""
        return _rgb(str(self.script(BACKGROUND_JS)))

    def foreground(self) -> tuple[int, int, int]:
        """The body's text colour, in RGB."""
        return _rgb(str(self.script("return getComputedStyle(document.body).color")))

    def wider_than_a_phone(self, urls: Iterable[str]) -> list[str]:
        """Each of `urls` that scrolls sideways on a phone's screen, as "URL: N px wide"; the
        window gets its own size back afterwards."""
        self.driver.set_window_size(*PHONE)
        try:
            wide = []
            for url in urls:
                self.open(url)
                width, scrolled = self.script(
                    "return [innerWidth, document.documentElement.scrollWidth]"
                )
                assert width == PHONE[0], f"the window is {width} px wide, not a phone's"
                if scrolled > width:
                    wide.append(f"{url}: {scrolled} px wide")
            return wide
        finally:
            self.driver.set_window_size(*self._size)

    def record_requests(self) -> list[str]:
        """Move the requests logged since the last call into `requested`; return them all."""
        for entry in self._performance_log():
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                self.requested.append(message["params"]["url"])
        return self.requested

    def _performance_log(self) -> list[dict[str, Any]]:
        """The entries logged since the last read (reading empties Chrome's buffer)."""
        # Selenium leaves get_log unannotated.
        entries: list[dict[str, Any]] = self.driver.get_log("performance")  # type: ignore[no-untyped-call]
        return entries

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self._profile.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Browsers:
    """Chromium started on first use, inside a test, so that a missing one fails that test
    with what to install; one with JavaScript and one without, for a whole test module."""

    def __init__(self) -> None:
        self._started: dict[bool, Browser] = {}

    def get(self, *, javascript: bool = True) -> Browser:
        if javascript not in self._started:
            try:
                self._started[javascript] = Browser(javascript=javascript)
            except BrowserMissing as exc:
                missing = str(exc)
            else:
                return self._started[javascript]
            # Imported here: `docs/screenshots.py` uses this module without pytest.
            import pytest  # noqa: PLC0415

            pytest.fail(missing, pytrace=False)
        return self._started[javascript]

    def close(self) -> None:
        for browser in self._started.values():
            browser.close()


def _rgb(color: str) -> tuple[int, int, int]:
    """`rgb(r, g, b)` or `rgba(r, g, b, a)` as computed styles give it."""
    inside = color[color.index("(") + 1 : color.index(")")]
    red, green, blue = (int(float(part)) for part in inside.split(",")[:3])
    return red, green, blue


def luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance (WCAG 2), 0 for black to 1 for white."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
