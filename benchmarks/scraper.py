"""A Prometheus-like scraper in a thread: `/metrics` every `interval` s, timed to the last byte.

It sends what Prometheus sends (the `Accept` header of Prometheus 2.x, asking for OpenMetrics
first, `Accept-Encoding: gzip`) from one HTTP client, reads the whole body and times each
scrape from the request to its last byte. Never more than one scrape is in flight: scrapes start
on a grid of `interval` s from the first, and a scrape that overruns its slot delays the next to
the next slot after it ended (as Prometheus's ticker does). The bodies are only checked (200,
gzip that decompresses, OpenMetrics ending in `# EOF`) after `stop()`, so the scraper spends no
CPU on them while the measured window runs.
"""

from __future__ import annotations

import gzip
import os
import statistics
import threading
import time
import zlib
from dataclasses import dataclass

import httpx
from report import figure

PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


@dataclass(frozen=True)
class Scrape:
    at: float  # epoch seconds when the request was sent
    took: float  # seconds from the request to the body's last byte
    wire: int  # bytes of body as sent (compressed, if it was)
    size: int  # bytes of body decompressed
    problems: tuple[str, ...]  # empty when 200, gzip, OpenMetrics ending in "# EOF"


@dataclass
class _Raw:
    at: float
    took: float
    status: int
    encoding: str
    content_type: str
    body: bytes
    error: str = ""


def check(raw: _Raw) -> Scrape:
    """What a scrape brought: its sizes, and what is wrong with it."""
    if raw.error:
        return Scrape(raw.at, raw.took, 0, 0, (raw.error,))
    problems = [] if raw.status == 200 else [f"status {raw.status}"]
    body = raw.body
    if raw.encoding == "gzip":
        try:
            body = gzip.decompress(raw.body)
        except (OSError, EOFError, zlib.error):
            problems.append("gzip body does not decompress")
    else:
        problems.append(f"not gzipped (Content-Encoding: {raw.encoding or 'none'})")
    if not raw.content_type.startswith("application/openmetrics-text"):
        problems.append(f"not OpenMetrics ({raw.content_type})")
    if not body.endswith(b"# EOF\n"):
        problems.append("does not end in # EOF")
    return Scrape(raw.at, raw.took, len(raw.body), len(body), tuple(problems))


class Scraper:
    """Scrapes `url` every `interval` s from `start()` to `stop()`, on CPU core `core` (-1: any)."""

    def __init__(self, url: str, interval: float, core: int = -1, timeout: float = 300.0) -> None:
        self.url, self.interval, self.core = url, interval, core
        self._stop = threading.Event()
        self._raws: list[_Raw] = []
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)
        # Made here: a client takes a fifth of a second to make (its TLS context).
        self._client = httpx.Client(timeout=timeout, headers=PROMETHEUS_HEADERS)

    def start(self) -> Scraper:
        self._thread.start()
        return self

    def stop(self) -> list[Scrape]:
        """Start no more scrapes, wait for the one in flight, and check every scrape."""
        self._stop.set()
        self._thread.join()
        scrapes = [check(raw) for raw in self._raws]
        self._raws.clear()
        return scrapes

    def _run(self) -> None:
        if self.core >= 0:  # Linux: a thread's own affinity, by its kernel id
            os.sched_setaffinity(threading.get_native_id(), {self.core})
        with self._client as client:
            due = time.monotonic()
            while not self._stop.wait(max(0.0, due - time.monotonic())):
                self._raws.append(self._scrape(client))
                due += self.interval
                while due < time.monotonic():  # overran its slot: the next slot after it
                    due += self.interval

    def _scrape(self, client: httpx.Client) -> _Raw:
        at, began = time.time(), time.monotonic()
        try:
            with client.stream("GET", self.url) as answer:
                body = b"".join(answer.iter_raw())
        except httpx.HTTPError as exc:
            return _Raw(at, time.monotonic() - began, 0, "", "", b"", f"{type(exc).__name__}")
        return _Raw(
            at, time.monotonic() - began, answer.status_code,
            answer.headers.get("content-encoding", ""), answer.headers.get("content-type", ""),
            body,
        )  # fmt: skip


def scrape_table(scrapes: list[Scrape], start: float) -> None:
    """Print one row per scrape; `start`: the window's start (epoch seconds)."""
    print("| started, s into the window | took | body, on the wire | decompressed | problems |")
    print("|---:|---:|---:|---:|---|")
    for one in scrapes:
        print(
            f"| {one.at - start:.1f} | {one.took:.2f} s | {one.wire / 1e6:.2f} MB "
            f"| {one.size / 1e6:.2f} MB | {'; '.join(one.problems) or 'none'} |"
        )


def scrape_figures(n: int, scrapes: list[Scrape], interval: float, goal: float) -> None:
    """`scale.py`'s figures of the scrapes: p50 and max time, and how many were whole."""
    took = sorted(one.took for one in scrapes) or [float("inf")]
    p50 = statistics.median(took)
    wire = statistics.median(one.wire for one in scrapes) if scrapes else 0
    size = statistics.median(one.size for one in scrapes) if scrapes else 0
    good = sum(not one.problems for one in scrapes)
    figure(
        "scale.py",
        f"/metrics scrape at {n} targets, p50 of {len(scrapes)}, one every {interval:.0f} s "
        "(request to last byte)",
        f"{p50:.2f} s ({wire / 1e6:.1f} MB on the wire, {size / 1e6:.1f} MB)",
        f"≤ {goal:g} s", p50 <= goal,
    )  # fmt: skip
    figure("scale.py", f"/metrics scrape at {n} targets, max", f"{took[-1]:.2f} s")
    figure(
        "scale.py", f"/metrics scrapes at {n} targets answered 200, gzip, OpenMetrics to # EOF",
        f"{good} of {len(scrapes)}", "all", bool(scrapes) and good == len(scrapes),
    )  # fmt: skip
