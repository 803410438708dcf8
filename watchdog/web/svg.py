"""The status page's inline SVG: an hour's heartbeat strip, latency sparkline, queue trends.

Every drawing spans the same hour, so a mark and a latency point of one poll line up across
the strips. The x coordinate is seconds since the hour began: drawings scale to any width
through their viewBox (`preserveAspectRatio="none"`), and lines keep their stroke width.

A page for a hundred targets draws some forty thousand marks, so the loop per mark does no
formatting of its own: clock labels come from a table built once per page, and what the
marks of one kind share is built once per kind.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from functools import lru_cache
from html import escape
from typing import Any

HOUR = 3600
_DAY = 86400
_EDGE = 60  # seconds of room right of "now": a mark is drawn from its poll onwards
_STRIP_HEIGHT = 20
_CHART_HEIGHT = 100  # viewBox units; the CSS sets the height on screen
_MARGIN = 5
_TREND_POINTS = 30  # at most this many points (and one more) in a queue's trend
_USABLE = _CHART_HEIGHT - 2 * _MARGIN
# A height above the chart's bottom margin as the y coordinate that SVG counts from the top.
_YS = [str(_CHART_HEIGHT - _MARGIN - height) for height in range(_USABLE + 1)]
_HM = [f"{h:02}:{m:02}:" for h in range(24) for m in range(60)]
_SS = [f"{s:02}" for s in range(60)]
# The end of a mark's title by its latency, kept from page to page: latencies repeat, and
# there are at most 65536 of them (the timeline keeps whole milliseconds in 16 bits).
_ENDS: dict[Any, str] = {}
_ENDS_KEPT = 70_000
_MARK_CLASSES = {"ok": "ok", "warning": "warning", "critical": "critical"}
# A good poll is drawn lower than a bad one, so failures stand out without telling colours apart.
_FULL = f'y="0" height="{_STRIP_HEIGHT}"'
_MARK_SHAPE = {"ok": f'y="{_STRIP_HEIGHT * 3 // 10}" height="{_STRIP_HEIGHT * 7 // 10}"'}


@lru_cache(maxsize=1024)
def _token(value: object) -> str:
    """An escaped result, status code or mark: few distinct values, each seen thousands of
    times on a page."""
    return escape(str(value))


def clock(epoch: float) -> str:
    """HH:MM:SS of an epoch time, in UTC."""
    second = int(epoch) % _DAY
    return _HM[second // 60] + _SS[second % 60]


class Hour:
    """The hour every drawing of one page spans: `start` .. `now` (epoch seconds).

    Marks are placed at whole seconds (`at` is whole); `first` is the first whole second in
    the hour, and the viewBox starts a fraction of a second before it, at `start`."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.start = now - HOUR
        self.first = math.ceil(self.start)
        self.last = math.floor(now)
        self.shift = f"{self.start - self.first:.3f}"
        day_second = self.first % _DAY
        count = self.last - self.first + 1
        # By second in the hour: x, and a mark's x with the start of its title (the clock).
        self.xs = [str(x) for x in range(count)]
        self.places = [
            f'{x}"><title>{_HM[(t // 60) % 1440]}{_SS[t % 60]}'
            for x, t in enumerate(range(day_second, day_second + count))
        ]

    def span(self, at: list[int]) -> tuple[int, int]:
        """The slice of the sorted times `at` that falls within the hour. Times out of order
        (the timelines keep them in order, even when the clock steps back) are drawn as
        nothing rather than breaking the page."""
        low, high = bisect_left(at, self.first), bisect_right(at, self.last)
        if high > low and (min(at[low:high]) < self.first or max(at[low:high]) > self.last):
            return low, low
        return low, high

    def view_box(self, height: int) -> str:
        # Every drawing has the same room on the right (so a time is at the same place in each),
        # enough for the newest mark to be drawn whole.
        return f'viewBox="{self.shift} 0 {HOUR + _EDGE} {height}" preserveAspectRatio="none"'


def _mark_width(interval: Any) -> int:
    """A mark covers most of its poll interval, so steady polling reads as a bar with seams."""
    try:
        seconds = float(interval)
    except (TypeError, ValueError):
        seconds = 0.0
    return min(_EDGE, max(4, round(seconds * 0.8))) if math.isfinite(seconds) else 4


def strip(
    out: list[str], endpoint: str, history: dict[str, list[Any]], hour: Hour, interval: Any
) -> tuple[int, Counter[str]]:
    """One endpoint's heartbeat strip: a `<rect>` per poll in the hour, coloured by its mark,
    with its time, result, status code and latency as its title (tooltip and accessible name).

    Appends to *out*; returns the number of polls drawn and how many of each mark."""
    at = history.get("at") or []
    low, high = hour.span(at)
    results, marks, codes, durations = (
        (history.get(column) or [])[low:high]
        for column in ("result", "mark", "status_code", "duration_ms")
    )
    counts = Counter(marks)
    width = _mark_width(interval)
    name = escape(endpoint)
    summary = ", ".join(f"{counts[m]} {escape(m)}" for m in sorted(counts))
    out.append(
        f'<svg class="strip" data-strip="{name}" role="group" '
        f'aria-label="{name}: {high - low} polls in the last hour{": " if summary else ""}'
        f'{summary}" {hour.view_box(_STRIP_HEIGHT)}>'
        f'<rect class="track" x="{hour.shift}" width="{HOUR + _EDGE}" height="{_STRIP_HEIGHT}"/>'
    )
    # Each mark is six pieces, put in place column by column (the loops run in C), each
    # piece built once per distinct value of its column: the mark, the result, x and the
    # clock (from the hour's table), the result again, the status code, the latency.
    size = f'" width="{width}" role="img" x="'
    css = {
        m: f'<rect class="mark m-{_MARK_CLASSES.get(m) or _token(m)}" {_MARK_SHAPE.get(m, _FULL)} '
        'data-result="'
        for m in counts
    }
    texts = {r: _token(r) for r in set(results)}
    before = {r: t + size for r, t in texts.items()}
    after = {r: f" UTC · {t} · " for r, t in texts.items()}
    answers = {c: f"{'no answer' if c is None else _token(c)} · " for c in set(codes)}
    ends = _ENDS
    missing = set(durations).difference(ends)
    if missing:
        made = {ms: f"{ms} ms</title></rect>" for ms in missing}
        if len(ends) + len(made) <= _ENDS_KEPT:
            ends.update(made)
        else:
            ends = {**ends, **made}
    pieces: list[str] = [""] * (6 * len(marks))
    pieces[0::6] = map(css.__getitem__, marks)
    pieces[1::6] = map(before.__getitem__, results)
    places, first = hour.places, hour.first
    pieces[2::6] = [places[second - first] for second in at[low:high]]
    pieces[3::6] = map(after.__getitem__, results)
    pieces[4::6] = map(answers.__getitem__, codes)
    pieces[5::6] = map(ends.__getitem__, durations)
    out.append("".join(pieces))
    out.append("</svg>")
    return high - low, counts


def _points(hour: Hour, at: list[int], heights: list[int]) -> str:
    """A polyline's points, "x y x y ...", from whole seconds and heights above the bottom."""
    xs, first = hour.xs, hour.first
    pieces: list[str] = [""] * (2 * len(heights))
    pieces[0::2] = [xs[second - first] for second in at]
    pieces[1::2] = map(_YS.__getitem__, heights)
    return " ".join(pieces)


def latency(
    out: list[str], history: dict[str, list[Any]], hour: Hour, endpoint: str = "health"
) -> str:
    """The polls' durations of *endpoint* (the one that says whether the target works) as a
    sparkline; returns its caption (min, max, last ms)."""
    at = history.get("at") or []
    low, high = hour.span(at)
    durations = list(map(int, (history.get("duration_ms") or [])[low:high]))
    name = escape(endpoint)
    if not durations:
        return f"no {name} polls in the last hour"
    least, most = min(durations), max(durations)
    spread = most - least
    if spread:
        heights = [(ms - least) * _USABLE // spread for ms in durations]
    else:
        heights = [_USABLE // 2] * len(durations)
    out.append(
        f'<svg class="chart" data-sparkline="{name}" role="img" '
        f'aria-label="{name} latency, last hour: {least} to {most} ms" '
        f"{hour.view_box(_CHART_HEIGHT)}>"
        f'<polyline points="{_points(hour, at[low:high], heights)}" '
        'vector-effect="non-scaling-stroke"/></svg>'
    )
    return f"min {least} ms · max {most} ms · last {durations[-1]} ms"


def _number(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def _heights(values: list[float]) -> tuple[float, list[int]]:
    """The highest value, and each value's height above the bottom, scaled from 0."""
    most = max(values, default=0.0)
    try:
        scale = _USABLE / most if most > 0 else 0.0
        heights = list(map(int, map(scale.__mul__, values)))
        if heights and not 0 <= min(heights) <= max(heights) <= _USABLE:
            raise ValueError("off the chart")
    except (TypeError, ValueError, OverflowError):
        # NaN, infinity or a negative depth from the API: drawn at 0, not a broken page.
        values = [v if isinstance(v, int | float) and 0 < v < math.inf else 0.0 for v in values]
        return _heights(values)
    return most, heights


def queue(out: list[str], doc: dict[str, Any], hour: Hour) -> None:
    """One gauge of one node: its latest value and a small trend, from 0 to its highest value
    over its points in the hour. The trend spans its own points, not the whole hour: a trend
    is read by its shape, and a watchdog started minutes ago still draws one."""
    gauge, node = escape(str(doc["gauge"])), escape(str(doc["node"]))
    at: list[int] = doc.get("at") or []
    low, high = hour.span(at)
    # A trend is read by its shape: every few of the hour's points are enough (the newest
    # always among them), and a page of a hundred HA targets draws a thousand trends.
    step = max(1, (high - low) // _TREND_POINTS)
    times = at[low:high][::-1][::step][::-1]
    values = doc["values"][low:high]
    most, heights = _heights(values[::-1][::step][::-1])
    try:  # the caption's highest is the hour's, not only the drawn points'
        highest = max(values, default=0.0)
        most = highest if math.isfinite(highest) and highest > most else most
    except TypeError:
        pass
    first = times[0] if times else hour.first
    width = max(hour.last - first, 1)
    points = " ".join([f"{t - first} {_YS[h]}" for t, h in zip(times, heights, strict=True)])
    who = node or "the single instance"
    now = _number(float(doc["value"]))
    out.append(
        f'<span class="qv">{now}</span><svg class="spark" data-queue="{gauge}" '
        f'data-node="{node}" role="img" aria-label="{gauge} on {who}: {now} now, highest '
        f'{_number(most)} in the last {width // 60 or 1} min" viewBox="0 0 {width} '
        f'{_CHART_HEIGHT}" preserveAspectRatio="none"><polyline points="{points}" '
        f'vector-effect="non-scaling-stroke"/></svg><small>max {_number(most)}</small>'
    )


def usage_bar(out: list[str], dimension: str, percent: Any, mark: float) -> None:
    """One share of an hourly allowance as a bar from 0 to 100 %, with a line at *mark* (where
    the watchdog slows down); a share past 100 fills the bar. Coloured by level: the mark and
    more warns, 100 % is throttled."""
    try:
        value = float(percent)
    except (TypeError, ValueError):
        value = math.nan
    known = math.isfinite(value)
    level = "ok" if not known or value < mark else "warning" if value < 100 else "critical"
    width = _number(min(100.0, max(0.0, value))) if known else "0"
    said = f"{_number(value)} %" if known else "unknown"
    name = escape(dimension)
    out.append(
        f'<svg class="usage" data-usage="{name}" data-level="{level}" role="img" '
        f'aria-label="{name}: {said} of the hourly allowance" viewBox="0 0 100 10" '
        f'preserveAspectRatio="none"><rect class="track" width="100" height="10"/>'
        f'<rect class="m-{level}" width="{width}" height="10"/>'
        f'<line class="limit" x1="{_number(mark)}" x2="{_number(mark)}" y1="0" y2="10" '
        'vector-effect="non-scaling-stroke"/></svg>'
    )
