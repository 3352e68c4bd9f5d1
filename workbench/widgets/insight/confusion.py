"""Where a model goes wrong, from the whole test pass: a classifier's confusion matrix, per-class accuracy
and its most confidently wrong images (trainers.events.Confusion); an autoencoder's code scattered on its
two principal components, coloured by class, and its worst reconstructions (trainers.events.Latent)."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual_plotext import PlotextPlot

from workbench.render.images import grid
from workbench.render.tiling import cell_size, wrap_label
from workbench.widgets.insight.activations import characters, joined

# ten colours told apart on a dark background (matplotlib's tab10), then round again
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
MARKERS = "0123456789abcdefghijklmnopqrstuvwxyz"


def abbreviate(name: str, width: int) -> str:
    """`name` in at most `width` characters, still readable: whole if it fits, else its first word (split
    at "/", " " or "-") when that says enough, else cut with a full stop ("Pullover" -> "Pullov.")."""
    if len(name) <= width:
        return name
    for sep in ("/", " ", "-"):
        head = name.split(sep)[0]
        if 3 <= len(head) <= width:
            return head
    return name[:max(1, width - 1)] + "." if width > 1 else name[:1]


def fit_label(prefix: str, name: str, suffix: str, width: int) -> str:
    """"pred Ankle boot 97%" in `width` columns: whole; else the name's first word; else without the
    prefix; else the name shortened (abbreviate)."""
    short = name.split("/")[0].split(" ")[0] if any(sep in name for sep in "/ ") else name
    for text in (f"{prefix}{name}{suffix}", f"{prefix}{short}{suffix}", f"{name}{suffix}", f"{short}{suffix}"):
        if len(text) <= width:
            return text
    return abbreviate(name, max(1, width - len(suffix))) + suffix


def matrix_lines(matrix: np.ndarray, classes: tuple[str, ...], per_class, width: int) -> list[Text]:
    """The confusion matrix as a table: rows the true class, columns the predicted one, both numbered,
    each row ending in its accuracy and its class's name (the numbers' legend). Wrong cells are shaded
    by how many images they hold; the diagonal is bold."""
    c = len(classes)
    cell = max(3, len(str(int(matrix.max(initial=0)))) + 1)
    label_w = len(str(c - 1)) + 1
    shown = max(1, min(c, (width - label_w - 6) // cell))  # columns that fit; the rest are said
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    worst = max(1, int(off.max(initial=0)))
    head = Text(" " * label_w, no_wrap=True, end="")
    for j in range(shown):
        head.append(f"{j:>{cell}}")
    head.append("   acc  class")
    lines = [head]
    for i in range(c):
        line = Text(f"{i:<{label_w}}", no_wrap=True, end="")
        for j in range(shown):
            v = int(matrix[i, j])
            if i == j:
                style = Style(bold=True, color="green")
            elif v:
                share = v / worst
                style = Style(color="red", bold=share > 0.5) if share > 0.2 else Style(color="yellow")
            else:
                style = Style(dim=True)
            line.append(f"{v:>{cell}}", style=style)
        acc = per_class[i]
        line.append(f"  {'   –' if acc is None else f'{100 * acc:3.0f}%'}")
        room = max(3, width - len(line.plain) - 2)
        line.append(f"  {abbreviate(classes[i], room)}")
        lines.append(line)
    if shown < c:
        lines.append(Text(f"(columns {shown}–{c - 1} do not fit at this width)", style="dim"))
    return lines


class ConfusionView(Widget):
    """The Confusion of the latest epoch: matrix, per-class accuracy, then the worst images, each with
    "pred X 97%" over "true Y". Tall: it sits in a scrolling container."""

    DEFAULT_CSS = "ConfusionView { text-wrap: nowrap; text-overflow: ellipsis; }"

    rendering: reactive[str] = reactive("blocks")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None

    def show(self, event) -> None:
        self.event = event
        self.refresh(layout=True)

    def clear(self) -> None:
        self.event = None
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.lines(width))

    def worst_lines(self, width: int) -> list[Text]:
        e = self.event
        n = len(e.worst_true)
        if not n:
            return [Text("No test image is wrong.", style="dim")]
        h, w = e.worst_images.shape[2:]
        # wide enough for "pred Ankle boot 97%" where the width allows, never under 10 columns
        per_row = max(1, min(n, (width + 1) // 16))
        cw, ch = cell_size((h, w), per_row, (width, 10 * 4), rows_per_band=1, extra_lines=0)
        ch = min(ch, 7)
        rendering = characters(self.rendering, self.app)
        lines = [Text(f"the {n} most confidently wrong test images, worst first (↓ PgDn End scroll)", style="bold",
                      no_wrap=True)]
        for start in range(0, n, per_row):
            idx = range(start, min(n, start + per_row))
            lines += grid([e.worst_images[i] for i in idx], cw, ch, rendering)
            for row in (0, 1):
                line = Text(no_wrap=True, end="")
                for k, i in enumerate(idx):
                    if k:
                        line.append(" ")
                    if row == 0:
                        pct = f" {100 * e.worst_confidence[i]:.0f}%"
                        text = fit_label("pred ", e.classes[e.worst_predicted[i]], pct, cw)
                        line.append(text[:cw].ljust(cw), style="red")
                    else:
                        text = fit_label("true ", e.classes[e.worst_true[i]], "", cw)
                        line.append(text[:cw].ljust(cw))
                lines.append(line)
        return lines

    def lines(self, width: int) -> list[Text]:
        e = self.event
        if e is None:
            return [Text("The confusion matrix of the whole test set appears here after the first epoch.",
                         style="dim")]
        total = int(e.matrix.sum())
        right = int(np.trace(e.matrix))
        title = (f"epoch {e.epoch}: {right:,} of {total:,} test images right ({100 * right / max(total, 1):.1f}%)"
                 f" · rows true, columns predicted")
        lines = [Text(line, style="bold", no_wrap=True) for line in wrap_label(title, width)]
        lines += matrix_lines(e.matrix, e.classes, e.per_class, width)
        lines.append(Text(""))
        return lines + self.worst_lines(width)

    def render(self) -> RenderResult:
        return joined(self.lines(self.size.width))


class ScatterPlot(PlotextPlot):
    """The latent scatter: one series per class, each in its colour and drawn with its class's digit, so
    it reads in monochrome too. The legend is a line outside the plot (the widget beside it)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None
        self.replots = 0

    def show(self, event) -> None:
        self.event = event
        self.replot()

    def clear(self) -> None:
        self.event = None
        self.replot()

    def on_resize(self) -> None:
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_figure()
        e = self.event
        if e is None or e.points is None:
            # the title rides on the top border, as the line charts' do: every row of plot counts
            self.border_title = ("the code's scatter appears after the first epoch" if e is None
                                 else "this model shows no code (no encode() method or encoder module)")
            self.refresh()
            return
        self.replots += 1
        points = e.points.astype(np.float32)
        labels = e.labels.astype(int)
        for c in np.unique(labels):
            mask = labels == c
            plt.scatter(points[mask, 0].tolist(), points[mask, 1].tolist(),
                        color=PALETTE[int(c) % len(PALETTE)], marker=MARKERS[int(c) % len(MARKERS)])
        round_axes(plt, points, self.size.width, self.size.height)
        share = sum(e.explained[:2]) if e.explained else 0.0
        self.border_title = Text(f"PCA of {len(labels)} codes: {100 * share:.0f}% of variance in 2 axes",
                                 style="bold")
        self.refresh()


def round_axes(plt, points: np.ndarray, width: int, height: int) -> None:
    """Round, evenly spaced ticks on both axes, as the line charts have (workbench.widgets.shared.charts)."""
    from workbench.widgets.shared.charts import nice_ticks, tick_label

    if not len(points):
        return
    for axis, most, lim, ticks_of in ((0, max(2, width // 12), plt.xlim, plt.xticks),
                                      (1, max(2, min(6, (height - 3) // 2)), plt.ylim, plt.yticks)):
        ticks = nice_ticks(float(points[:, axis].min()), float(points[:, axis].max()), most)
        if len(ticks) < 2:
            continue
        step = ticks[1] - ticks[0]
        lim(ticks[0], ticks[-1])
        ticks_of(ticks, [tick_label(t, step) for t in ticks])


def legend_lines(classes: tuple[str, ...], present, width: int) -> list[Text]:
    """"0 T-shirt/top  1 Trouser ..." in the scatter's colours, packed into lines of `width`; an entry is
    never split between lines."""
    lines, line = [], Text(no_wrap=True, end="")
    for c in sorted(set(int(v) for v in present)):
        name = classes[c] if 0 <= c < len(classes) else str(c)
        entry = f"{MARKERS[c % len(MARKERS)]} {name}"
        if len(line) and len(line) + 2 + len(entry) > width:
            lines.append(line)
            line = Text(no_wrap=True, end="")
        if len(line):
            line.append("  ")
        r, g, b = PALETTE[c % len(PALETTE)]
        line.append(entry[0], style=Style(color=f"rgb({r},{g},{b})", bold=True))
        line.append(entry[1:])
    if len(line):
        lines.append(line)
    return lines


class Legend(Widget):
    """The scatter's legend, below the plot (never over its points)."""

    DEFAULT_CSS = "Legend { height: auto; max-height: 3; text-wrap: nowrap; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.classes_shown: tuple[str, ...] = ()
        self.present: tuple[int, ...] = ()

    def show(self, classes: tuple[str, ...], present) -> None:
        self.classes_shown, self.present = tuple(classes), tuple(sorted(set(int(v) for v in present)))
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(legend_lines(self.classes_shown, self.present, width)) if self.present else 0

    def render(self) -> RenderResult:
        return joined(legend_lines(self.classes_shown, self.present, self.size.width))


class WorstReconstructions(Widget):
    """The worst reconstructed test images, each above its reconstruction and its error."""

    rendering: reactive[str] = reactive("blocks")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None

    def show(self, event) -> None:
        self.event = event
        self.refresh()

    def clear(self) -> None:
        self.event = None
        self.refresh()

    def render(self) -> RenderResult:
        e = self.event
        if e is None:
            return Text("The worst reconstructions appear here after the first epoch.", style="dim")
        width, height = self.size
        n = len(e.worst_errors)
        if not n:
            return Text("No test images were evaluated.", style="dim")
        h, w = e.worst_images.shape[2:]
        per_row = max(1, min(n, 4, (width + 1) // 7))
        bands = max(1, min(-(-n // per_row), (height - 2) // 6))
        cw, ch = cell_size((h, w), per_row, (width, height - 2), bands=bands, rows_per_band=2, extra_lines=1)
        rendering = characters(self.rendering, self.app)
        lines = [Text(f"worst first · mean error {e.mean_error:.4f}", style="bold", no_wrap=True,
                      overflow="ellipsis")]
        for band in range(bands):
            idx = list(range(band * per_row, min(n, (band + 1) * per_row)))
            if not idx:
                break
            lines += grid([e.worst_images[i] for i in idx], cw, ch, rendering)
            lines += grid([e.worst_outputs[i] for i in idx], cw, ch, rendering)
            line = Text(no_wrap=True, end="")
            for k, i in enumerate(idx):
                if k:
                    line.append(" ")
                line.append(f"{e.worst_errors[i]:.3f}"[:cw].ljust(cw), style="red")
            lines.append(line)
        return joined(lines[:height])


class LatentView(Widget):
    """An autoencoder's tab 7: the scatter and its legend on the left, the worst reconstructions right."""

    DEFAULT_CSS = """
    LatentView { layout: horizontal; height: 1fr; }
    LatentView > Vertical { width: 3fr; }
    LatentView ScatterPlot { height: 1fr; border-top: solid $primary-muted; border-title-align: left; }
    LatentView WorstReconstructions { width: 2fr; min-width: 20; padding-left: 1; text-wrap: nowrap;
                                      text-overflow: ellipsis; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield ScatterPlot(id="latent-scatter")
            yield Legend(id="latent-legend")
        yield WorstReconstructions(id="latent-worst")

    def show(self, event) -> None:
        self.query_one(ScatterPlot).show(event)
        self.query_one(WorstReconstructions).show(event)
        self.query_one(Legend).show(event.classes, event.labels if event.labels is not None else ())

    def clear(self) -> None:
        self.query_one(ScatterPlot).clear()
        self.query_one(WorstReconstructions).clear()
        self.query_one(Legend).show((), ())

    def set_rendering(self, rendering: str) -> None:
        self.query_one(WorstReconstructions).rendering = rendering

