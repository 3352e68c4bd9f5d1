"""A classifier's view of test images: each image with its predicted (and, when wrong, true) label, a page
at a time, and the softmax probabilities of the one in focus as bars."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from workbench.render.images import grid
from workbench.render.tiling import Tiling, page_start, tile, turn_page, wrap_label
from workbench.widgets.shared.pictures import PixelPictures


def probability_bars(probabilities: np.ndarray, classes: tuple[str, ...], width: int) -> list[str]:
    """One line per class: name, a bar of █ proportional to p, and p as a percentage."""
    name_w = min(14, max((len(c) for c in classes), default=1))
    bar_w = max(1, width - name_w - 9)
    lines = []
    for name, p in zip(classes, probabilities):
        p = float(p)
        filled = int(round(p * bar_w))
        lines.append(f"{name[:name_w]:>{name_w}} {'█' * filled}{'·' * (bar_w - filled)} {100 * p:5.1f}%")
    return lines


def image_labels(classes: tuple[str, ...], label: int, guess: int, width: int) -> tuple[list[str], list[str]]:
    """The lines under one image: "✓name" when right; "✗guess" over "=truth" when wrong; wrapped to
    `width`, never cut."""
    if label == guess:
        return wrap_label(f"✓{classes[guess]}", width), []
    return wrap_label(f"✗{classes[guess]}", width), wrap_label(f"={classes[label]}", width)


class PredictionView(PixelPictures, Widget):
    """Images through `show()`, a page at a time (n/N); the focused image (`focus_index`) moves with [ and ],
    and the page follows it."""

    COMPONENT_CLASSES = {"predictions--right", "predictions--wrong", "predictions--focus"}
    DEFAULT_CSS = "PredictionView { text-wrap: nowrap; text-overflow: ellipsis; }"

    rendering: reactive[str] = reactive("blocks")
    focus_index: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None  # trainers.events.Predictions

    def show(self, predictions) -> None:
        self.event = predictions
        self.focus_index = min(self.focus_index, len(predictions.labels) - 1)
        self.refresh()
        self.sync_pictures()

    def clear(self) -> None:
        self.event = None
        self.refresh()
        self.sync_pictures()

    def validate_focus_index(self, value: int) -> int:
        count = len(self.event.labels) if self.event is not None else 1
        return value % max(1, count)

    def watch_focus_index(self) -> None:
        self.sync_pictures()  # the page may have turned

    def watch_rendering(self) -> None:
        self.sync_pictures()

    def on_resize(self) -> None:
        self.sync_pictures()

    def bar_shape(self) -> tuple[int, int, int]:
        """(bars, columns, rows) of the softmax bars under the images."""
        bars = min(len(self.event.classes), 10)
        columns = 2 if bars > 5 and self.size.width >= 60 else 1
        return bars, columns, -(-bars // columns)

    def label_rows(self, width: int) -> int:
        """Lines under each image at `width` cells: the most any image needs, so pages line up."""
        e = self.event
        return max(len(a) + len(b) for a, b in (image_labels(e.classes, label, guess, width)
                                                for label, guess in set(zip(e.labels, e.predicted))))

    def tiling(self) -> Tiling:
        # the header and the focus line take 2 rows and the bars theirs; the images and labels get the rest
        h, w = self.event.images.shape[2:]
        _, _, bar_rows = self.bar_shape()
        space = (self.size.width, max(2, self.size.height - 2 - bar_rows))
        return tile((h, w), len(self.event.labels), space, stack=1, extra=self.label_rows)

    def page(self, step: int) -> None:
        if self.event is None:
            return
        self.focus_index = turn_page(self.focus_index, step, self.tiling().per_page, len(self.event.labels))

    def shown(self) -> range:
        t = self.tiling()
        start = page_start(self.focus_index, t.per_page)
        return range(start, min(len(self.event.labels), start + t.per_page))

    def placements(self) -> list[tuple[np.ndarray, int, int, int, int]]:
        if self.event is None:
            return []
        t, shown = self.tiling(), self.shown()
        rows = t.height + self.label_rows(t.width) + 1
        return [(self.event.images[i], (k % t.per_row) * (t.width + 1), 1 + (k // t.per_row) * rows,
                 t.width, t.height) for k, i in enumerate(shown)]

    def render(self) -> RenderResult:
        e = self.event
        if e is None:
            return Text("Predictions on test images appear here after the first epoch.", style="dim")
        width = self.size.width
        t, shown, rendering = self.tiling(), self.shown(), self.character_rendering()
        n = len(e.labels)
        label_rows = self.label_rows(t.width)
        where = f"{shown.start + 1}-{shown.stop} of {n} (n/N) · " if len(shown) < n else ""
        lines = [Text(f"epoch {e.epoch}: ✓ right ✗ wrong =true label · {where}[ ] focus · r: {self.rendering}",
                      style="bold", no_wrap=True, overflow="ellipsis")]
        right = self.get_component_rich_style("predictions--right")
        wrong = self.get_component_rich_style("predictions--wrong")
        focus = self.get_component_rich_style("predictions--focus")
        for start in range(shown.start, shown.stop, t.per_row):
            if start > shown.start:
                lines.append(Text(""))
            stop = min(shown.stop, start + t.per_row)
            lines += grid(list(e.images[start:stop]), t.width, t.height, rendering)
            label_lines = [Text(no_wrap=True, end="") for _ in range(label_rows)]
            for i in range(start, stop):
                guess, truth = image_labels(e.classes, e.labels[i], e.predicted[i], t.width)
                mark = right if e.labels[i] == e.predicted[i] else wrong
                cells = [(text, mark) for text in guess] + [(text, Style.null()) for text in truth]
                cells += [("", Style.null())] * (label_rows - len(cells))
                for line, (text, style) in zip(label_lines, cells):
                    if i > start:
                        line.append(" ")
                    line.append(text.ljust(t.width), style=style + focus if i == self.focus_index and text else style)
            lines += label_lines
        i = self.focus_index
        lines.append(Text(f"image {i + 1}: true {e.classes[e.labels[i]]}, predicted {e.classes[e.predicted[i]]}; "
                          f"softmax:", no_wrap=True, overflow="ellipsis"))
        bars, bar_columns, bar_rows = self.bar_shape()
        probs = np.asarray(e.probabilities[i], dtype=float)
        order = np.argsort(-probs)[:bars] if len(e.classes) > bars else np.arange(bars)
        column_width = (width - (bar_columns - 1) * 2) // bar_columns
        texts = probability_bars(probs[order], tuple(e.classes[j] for j in order), column_width)
        for row in range(bar_rows):
            cells = [texts[c * bar_rows + row].ljust(column_width) for c in range(bar_columns)
                     if c * bar_rows + row < len(texts)]
            lines.append(Text("  ".join(cells), no_wrap=True, end=""))
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
