"""A classifier's view of a few test images: each image with its predicted and true label, and the
softmax probabilities of the one in focus as bars."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from .images import cell_size, grid


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


class PredictionView(Widget):
    """Images down through `show()`; the focused image (`focus_index`) moves with [ and ]."""

    COMPONENT_CLASSES = {"predictions--right", "predictions--wrong", "predictions--focus"}

    rendering: reactive[str] = reactive("blocks")
    focus_index: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None  # trainers.events.Predictions

    def show(self, predictions) -> None:
        self.event = predictions
        self.focus_index = min(self.focus_index, len(predictions.labels) - 1)
        self.refresh()

    def clear(self) -> None:
        self.event = None
        self.refresh()

    def validate_focus_index(self, value: int) -> int:
        count = len(self.event.labels) if self.event is not None else 1
        return value % max(1, count)

    def render(self) -> RenderResult:
        e = self.event
        if e is None:
            return Text("Predictions on test images appear here after the first epoch.", style="dim")
        width, height = self.size
        n = len(e.labels)
        h, w = e.images.shape[2:]
        bars = min(len(e.classes), 10)
        bar_columns = 2 if bars > 5 and width >= 60 else 1
        bar_rows = -(-bars // bar_columns)
        # header, two caption lines and the focus line take 4 rows; the images get what is left
        cw, ch = cell_size((h, w), n, (width, max(2, height - 4 - bar_rows)), rows_per_band=1, extra_lines=0)
        lines = [Text(f"epoch {e.epoch}: predicted (✓ right, ✗ wrong) over the true label; "
                      f"[ ] move the focus", style="bold", no_wrap=True, overflow="ellipsis")]
        lines += grid(list(e.images), cw, ch, self.rendering)
        right = self.get_component_rich_style("predictions--right")
        wrong = self.get_component_rich_style("predictions--wrong")
        focus = self.get_component_rich_style("predictions--focus")
        predicted_line, true_line = Text(no_wrap=True, end=""), Text(no_wrap=True, end="")
        for i, (label, guess) in enumerate(zip(e.labels, e.predicted)):
            if i:
                predicted_line.append(" ")
                true_line.append(" ")
            mark = "✓" if label == guess else "✗"
            style = right if label == guess else wrong
            if i == self.focus_index:
                style = style + focus
            predicted_line.append(f"{mark}{e.classes[guess]}"[:cw].ljust(cw), style=style)
            true_line.append(f"={e.classes[label]}"[:cw].ljust(cw), style=focus if i == self.focus_index else "")
        lines += [predicted_line, true_line]
        i = self.focus_index
        lines.append(Text(f"image {i + 1}: true {e.classes[e.labels[i]]}, predicted {e.classes[e.predicted[i]]}; "
                          f"softmax:", no_wrap=True, overflow="ellipsis"))
        probs = np.asarray(e.probabilities[i], dtype=float)
        order = np.argsort(-probs)[:bars] if len(e.classes) > bars else np.arange(bars)
        column_width = (width - (bar_columns - 1) * 2) // bar_columns
        texts = probability_bars(probs[order], tuple(e.classes[j] for j in order), column_width)
        for row in range(bar_rows):
            cells = [texts[c * bar_rows + row].ljust(column_width) for c in range(bar_columns)
                     if c * bar_rows + row < len(texts)]
            lines.append(Text("  ".join(cells), no_wrap=True, end=""))
        return Text("\n").join(lines)
