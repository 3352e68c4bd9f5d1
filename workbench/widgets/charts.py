"""Line charts that keep every point and redraw a few times a second at most.

Each chart owns a private plotext `Plot` (through textual-plotext's PlotextPlot), never the global plotext
module. New points only mark the chart dirty; a 1 s timer replots when it is dirty *and* on screen, and
each series is reduced to about two points per column first (the min and max of each column's bucket, in
their original order), so spikes survive and plotting cost does not grow with the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from textual_plotext import PlotextPlot

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
                 integer_x: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.percent = percent
        self.integer_x = integer_x
        self.series = {label: Series(label, color, marker) for label, color, marker in series}
        self.dirty = False
        self.replots = 0  # how many times the plot was rebuilt (tests watch the throttle)

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
        plt.clear_figure()
        plt.title(self.title)  # no axis labels: at 80x24 every row of plot counts

    def replot(self) -> None:
        self.dirty = False
        self.replots += 1
        plt = self.plt
        self._setup()
        target = max(8, 2 * self.size.width)
        xmax = 0.0
        for series in self.series.values():
            if not series.ys:
                continue
            xs, ys = reduce_series(series.xs, series.ys, target)
            if self.percent:
                ys = [100.0 * y for y in ys]
            plt.plot(xs, ys, label=series.label, color=series.color, marker=series.marker)
            xmax = max(xmax, max(xs))
        if self.integer_x and xmax >= 1:
            plt.xticks(integer_ticks(int(xmax), most=max(3, self.size.width // 12)))
        self.refresh()
