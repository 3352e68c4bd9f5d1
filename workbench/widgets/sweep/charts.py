"""A sweep's two charts, on the shared LineChart: the metric per epoch of every trial overlaid (the best
drawn last, in its own colour and marker, so it stands out in colour and in monochrome), and the best
value so far against the trial number."""

from __future__ import annotations

from rich.text import Text

from workbench.widgets.shared.charts import MARKER_GLYPH, LineChart, Series, rich_color

BEST = ("orange", "hd")
STATE_COLOR = {"running": "cyan", "finished": "gray", "pruned": "gray", "failed": "red", "interrupted": "red",
               "stopped": "yellow", "waiting": "gray"}
WORDS = {"test_accuracy": "acc %", "test_loss": "loss"}  # the metric is named in full above the table


class TrialCurves(LineChart):
    """One series a trial, named by its number."""

    def __init__(self, metric: str, *, id: str | None = None) -> None:
        super().__init__(f"{WORDS.get(metric, metric)} per epoch", [], percent=metric == "test_accuracy",
                         integer_x=True, legend=False, id=id)

    def show(self, trials) -> None:
        series: dict[str, Series] = {}
        best = next((t for t in trials if t.best), None)
        for t in [t for t in trials if not t.best] + ([best] if best else []):  # the best on top
            color, marker = BEST if t.best else (STATE_COLOR.get(t.state, "gray"), "braille")
            series[str(t.number)] = Series(str(t.number), color, marker, list(range(1, len(t.curve) + 1)),
                                           list(t.curve))
        changed = {k: (s.color, s.marker, s.ys) for k, s in series.items()} != \
            {k: (s.color, s.marker, s.ys) for k, s in self.series.items()}
        self.series = series
        title = Text(self.title, style="bold")
        if best is not None:
            title.append(f"  {MARKER_GLYPH[BEST[1]]} best #{best.number}", style=rich_color(BEST[0]))
        self.border_title = title
        if changed:
            self.dirty = True
            if self.is_mounted:
                self.call_later(self.redraw_if_needed)


class BestSoFar(LineChart):
    """The best finished value up to each trial number."""

    def __init__(self, metric: str, *, id: str | None = None) -> None:
        super().__init__("best so far by trial", [("best so far", BEST[0], BEST[1])],
                         percent=metric == "test_accuracy", legend=False, id=id)

    def show(self, points: list[tuple[int, float]]) -> None:
        series = self.series["best so far"]
        xs, ys = [float(n) for n, _ in points], [float(v) for _, v in points]
        if (xs, ys) == (series.xs, series.ys):
            return
        series.xs, series.ys = xs, ys
        self.dirty = True
        if self.is_mounted:
            self.call_later(self.redraw_if_needed)
