"""Line charts that keep every point and redraw a few times a second at most.

Each chart owns a private plotext `Plot` (through textual-plotext's PlotextPlot), never the global plotext
module. New points only mark the chart dirty; a 1 s timer replots when it is dirty *and* on screen, and
each series is reduced to about two points per column first (the min and max of each column's bucket, in
their original order), so spikes survive and plotting cost does not grow with the run.

The title and legend sit on the chart's top border line, never over the data; the y axis has round,
evenly spaced ticks (1, 2 or 5 times a power of ten); a loss chart can switch to a log scale and draw an
exponential moving average over the raw points, with its strength in the title, as TensorBoard does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from rich.text import Text
from textual_plotext import PlotextPlot

MARKER_GLYPH = {"braille": "⣿", "hd": "▞", "fhd": "🬗", "dot": "•"}  # any other marker is its own character
# One marker per series, in order, for charts that overlay many (compare, sweeps). plotext's "fhd" draws with
# Unicode 13's sextants (U+1FB00), which the monospace fonts terminals ship with mostly lack (xterm with DejaVu
# Sans Mono showed nothing for that run): the default set keeps to glyphs those fonts carry, block elements,
# braille, the bullet and ASCII. WORKBENCH_MARKERS picks another set; `m` cycles them where charts overlay.
MARKER_SETS = {
    "common": ("hd", "braille", "dot", "+", "x", "o", "*", "#"),
    "sextants": ("hd", "fhd", "braille", "dot", "+", "x", "o", "*"),  # kitty, WezTerm, fonts with Unicode 13
    "ascii": ("+", "x", "o", "*", "#", "@", "%", "="),  # any font, and copy-pastes
    "braille": ("braille",) * 8,  # one fine line each, told apart by colour alone
}


def marker_set(environ=None) -> str:
    """The marker set to start with: $WORKBENCH_MARKERS when it names one, else "common"."""
    import os

    name = ((environ if environ is not None else os.environ).get("WORKBENCH_MARKERS") or "").strip().lower()
    return name if name in MARKER_SETS else "common"


def next_marker_set(name: str) -> str:
    names = list(MARKER_SETS)
    return names[(names.index(name) + 1) % len(names)] if name in names else names[0]


def markers(name: str, count: int) -> list[str]:
    chosen = MARKER_SETS.get(name, MARKER_SETS["common"])
    return [chosen[i % len(chosen)] for i in range(count)]
REDRAW_SECONDS = 1.0  # at most once a second: each replot costs the trainer CPU on a small machine


def reduce_series(xs: list[float], ys: list[float], target: int) -> tuple[list[float], list[float]]:
    """At most about `target` points: all of them if few, else min and max of target/2 equal buckets."""
    n = len(ys)
    if n <= max(2, target):
        return list(xs), list(ys)
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    buckets = max(1, target // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    out_x: list[float] = []
    out_y: list[float] = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        seg = y[a:b]
        for k in sorted({int(np.argmin(seg)), int(np.argmax(seg))}):
            out_x.append(float(x[a + k]))
            out_y.append(float(seg[k]))
    return out_x, out_y


def nice_step(span: float, most: int) -> float:
    """The smallest of 1, 2, 5 x 10^k that splits `span` into at most `most` steps."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, most)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10 * power


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round, evenly spaced ticks covering lo..hi (the first at or below lo, the last at or above hi)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, most)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """As many decimals as the step needs, and no more ("0.25", "1.5", "40")."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:
        decimals += 1  # 0.25 steps need two decimals, 0.2 one
    return f"{value:.{decimals}f}"


def log_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Ticks for a log axis between positive lo and hi: 1-2-5 per decade, thinned to at most ~`most`."""
    if lo <= 0 or hi <= 0:
        return []
    ticks = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            ticks.append(m * 10.0 ** k)
    inside = [t for t in ticks if lo <= t <= hi]
    below = [t for t in ticks if t < lo][-1:] if not inside or inside[0] > lo else []
    above = [t for t in ticks if t > hi][:1] if not inside or inside[-1] < hi else []
    chosen = below + inside + above
    if len(chosen) > most + 1:  # keep the decades only
        chosen = [t for t in chosen if math.isclose(10 ** round(math.log10(t)), t)] or chosen[::2]
        if chosen[0] > lo:
            chosen.insert(0, chosen[0] / 10)
        if chosen[-1] < hi:
            chosen.append(chosen[-1] * 10)
    return chosen


def ema(ys: list[float], strength: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the start is not pulled to 0."""
    if strength <= 0:
        return list(ys)
    out, last = [], 0.0
    for i, y in enumerate(ys, start=1):
        last = strength * last + (1 - strength) * y
        out.append(last / (1 - strength ** i))
    return out


def rich_color(plotext_color: str) -> str:
    """The Rich colour for a plotext colour name (plotext's "orange" is Rich's "dark_orange")."""
    from rich.color import Color, ColorParseError

    name = {"orange": "dark_orange", "gray": "grey50"}.get(plotext_color, plotext_color)
    try:
        Color.parse(name)
    except ColorParseError:
        return ""
    return name


SMOOTHING = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)  # the strengths `m` steps through


def integer_ticks(last: int, most: int = 6) -> list[int]:
    """Whole-number ticks from 1 to `last`, at most about `most` of them (epochs are not fractional)."""
    step = max(1, math.ceil(last / most))
    ticks = list(range(1, last + 1, step))
    if ticks[-1] != last:
        if last - ticks[-1] < step / 2 and len(ticks) > 1:
            ticks[-1] = last  # two labels side by side would run together
        else:
            ticks.append(last)
    return ticks


@dataclass
class Series:
    label: str
    color: str
    marker: str
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)


class LineChart(PlotextPlot):
    """A titled chart of named series. Data down through `add()`; it repaints itself when it is seen."""

    def __init__(self, title: str, series: list[tuple[str, str, str]], *, percent: bool = False,
                 integer_x: bool = False, legend: bool = True, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.percent = percent
        self.integer_x = integer_x
        self.legend = legend  # off where the screen draws one legend for several charts (compare)
        self.series = {label: Series(label, color, marker) for label, color, marker in series}
        self.dirty = False
        self.replots = 0  # how many times the plot was rebuilt (tests watch the throttle)
        self.log_y = False
        self.smoothing = 0.0
        self.y_ticks: list[float] = []  # the ticks of the last replot (tests read them)
        self.update_title()

    def update_title(self) -> None:
        """Title, legend and the view's settings on the top border: nothing is drawn over the data."""
        title = Text(self.title, style="bold")
        if self.legend and len(self.series) > 1:
            for i, series in enumerate(self.series.values()):
                title.append("  " if i == 0 else " ")
                title.append(MARKER_GLYPH.get(series.marker, series.marker), style=rich_color(series.color))
                title.append(f" {series.label}")
        notes = ([f"smoothing {self.smoothing:g}"] if self.smoothing else []) + (["log"] if self.log_y else [])
        for note in notes:
            title.append(f" · {note}", style="bold")
        self.border_title = title

    def set_markers(self, markers: list[str]) -> None:
        """One marker per series, in their order."""
        for series, marker in zip(self.series.values(), markers):
            series.marker = marker
        self.set_view()

    def set_view(self, log_y: bool | None = None, smoothing: float | None = None) -> None:
        if log_y is not None:
            self.log_y = log_y
        if smoothing is not None:
            self.smoothing = smoothing
        self.update_title()
        self.dirty = True
        if self.is_mounted:
            self.call_later(self.redraw_if_needed)

    def on_mount(self) -> None:
        # PlotextPlot.on_mount (theme registration) runs too: Textual calls each class's handler
        self._setup()
        self.set_interval(REDRAW_SECONDS, self.redraw_if_needed)

    def add(self, label: str, x: float, y: float | None) -> None:
        """Keep the point (non-finite values are skipped, they cannot be drawn)."""
        if y is None or not math.isfinite(y):
            return
        first = self.points == 0
        series = self.series[label]
        series.xs.append(float(x))
        series.ys.append(float(y))
        self.dirty = True
        if first and self.is_mounted:
            self.call_later(self.redraw_if_needed)  # the first point is drawn at once, the rest at the timer's pace

    def clear(self) -> None:
        for series in self.series.values():
            series.xs.clear()
            series.ys.clear()
        self.dirty = True

    @property
    def points(self) -> int:
        return sum(len(s.ys) for s in self.series.values())

    def on_resize(self) -> None:
        self.dirty = True  # the reduction depends on the width

    def redraw_if_needed(self) -> None:
        if self.dirty and self.is_on_screen and self.screen.is_current:
            self.replot()

    def _setup(self) -> None:
        plt = self.plt
        plt.clear_figure()  # no plotext title or axis labels: the title is on the border, every row counts

    def replot(self) -> None:
        self.dirty = False
        self.replots += 1
        plt = self.plt
        self._setup()
        target = max(8, 2 * self.size.width)
        xmin, xmax, lo, hi = math.inf, 0.0, math.inf, -math.inf
        for series in self.series.values():
            if not series.ys:
                continue
            raw = [100.0 * y for y in series.ys] if self.percent else list(series.ys)
            drawn = [(series.xs, raw, series.color)]
            if self.smoothing:  # the raw points stay, faint, under the average
                drawn = [(series.xs, raw, "gray"), (series.xs, ema(raw, self.smoothing), series.color)]
            for xs_all, ys_all, color in drawn:
                if self.log_y:
                    kept = [(x, math.log10(y)) for x, y in zip(xs_all, ys_all) if y > 0]
                    if not kept:
                        continue
                    xs_all, ys_all = [k[0] for k in kept], [k[1] for k in kept]
                xs, ys = reduce_series(xs_all, ys_all, target)
                plt.plot(xs, ys, color=color, marker=series.marker)
                xmin, xmax = min(xmin, min(xs)), max(xmax, max(xs))
                lo, hi = min(lo, min(ys)), max(hi, max(ys))
        if self.integer_x and xmax >= 1:
            plt.xticks(integer_ticks(int(xmax), most=max(3, self.size.width // 12)))
        elif math.isfinite(xmin) and xmax > xmin:  # round ticks from 0: "0 1 2 3" epochs, or "0 0.2 0.4"
            ticks = nice_ticks(0.0 if xmin >= 0 else xmin, xmax, most=max(2, self.size.width // 12))
            step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
            plt.xlim(ticks[0], ticks[-1])
            plt.xticks(ticks, [tick_label(t, step) for t in ticks])
        if math.isfinite(lo):
            self.set_y_ticks(lo, hi)
        self.refresh()

    def set_y_ticks(self, lo: float, hi: float) -> None:
        most = max(2, min(6, (self.size.height - 3) // 2))
        plt = self.plt
        if self.log_y:
            low, high = 10 ** lo, 10 ** hi
            ticks = [t for t in nice_ticks(low, high, most) if t > 0] if high / low < 20 else []
            if len(ticks) > 1 and ticks[0] <= low * (1 + 1e-9):
                # less than a decade or so: round values, placed on the log axis
                step = ticks[1] - ticks[0]
                labels = [tick_label(t, step) for t in ticks]
            else:  # wider, or the round ticks would start above the lowest point (a tick at 0 has no log)
                ticks = log_ticks(low, high, most)
                labels = [f"{t:.3g}" for t in ticks]
            positions = [math.log10(t) for t in ticks]
        else:
            ticks = nice_ticks(lo, hi, most)
            step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
            labels = [tick_label(t, step) for t in ticks]
            positions = ticks
        if not ticks:
            return
        self.y_ticks = ticks
        # the first and last ticks on the frame (no space wasted), never a point outside it
        plt.ylim(min(positions[0], lo), max(positions[-1], hi))
        plt.yticks(positions, labels)
