"""The Pooling tab: the window moving over the (padded) input, the cell it becomes in the max-pooled and the
average-pooled output side by side, and the arithmetic of that one cell. Plain numpy arrays in, characters out."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widgets import Static

from trainers.lab import Pooled

from workbench.render.grids import NUMBERS_MAX, number_cells, tensor_lines
from workbench.widgets.lab.channels import compact

MARK = "reverse"


def grid(cells: list[list[str]], marked: set[tuple[int, int]]) -> list[Text]:
    """Rows of cells, the marked ones (and the spaces between two marked ones) in reverse video."""
    rows = []
    for r, row in enumerate(cells):
        line = Text()
        for c, cell in enumerate(row):
            if c:
                line.append(" ", MARK if (r, c - 1) in marked and (r, c) in marked else "")
            line.append(cell, MARK if (r, c) in marked else "")
        rows.append(line)
    return rows


def side_by_side_text(panels: list[tuple[str, list[Text]]], gap: int = 3) -> list[Text]:
    """render.grids.side_by_side for styled lines."""
    widths = [max([len(title)] + [line.cell_len for line in lines]) for title, lines in panels]
    height = max(len(lines) for _title, lines in panels)
    out = [Text((" " * gap).join(title.ljust(w) for (title, _lines), w in zip(panels, widths)).rstrip())]
    for i in range(height):
        line = Text()
        for n, ((_title, lines), w) in enumerate(zip(panels, widths)):
            piece = lines[i].copy() if i < len(lines) else Text()
            piece.pad_right(w - piece.cell_len)
            line.append_text(piece)
            if n < len(panels) - 1:
                line.append(" " * gap)
        line.rstrip()
        out.append(line)
    return out


def picture(values: np.ndarray, box: tuple[int, int, int, int], width: int, height: int) -> list[Text]:
    """values as a character image with the pixels rows box[0]:box[1], columns box[2]:box[3] in reverse video
    (clipped to the image; a shrunk image marks the characters those pixels fall in)."""
    lines = tensor_lines(values, width, height)
    (h, w), rows, cols = values.shape, len(lines), max(len(line) for line in lines)
    top, bottom = max(0, box[0]) * rows // h, (min(h, box[1]) - 1) * rows // h
    left, right = max(0, box[2]) * cols // w, (min(w, box[3]) - 1) * cols // w
    out = []
    for n, line in enumerate(lines):
        text = Text(line.ljust(cols))
        if top <= n <= bottom:
            text.stylize(MARK, left, right + 1)
        out.append(text)
    return out


class PoolingView(Static):
    """Draws trainers.lab.pooled's arrays with the window at output cell `position` (row-major); `move(±1)`
    steps it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.result: Pooled | None = None
        self.what = ""  # the input, in words
        self.position = 0
        self.playing = None  # the timer moving the window, while it plays
        self.drawn = Text()

    @property
    def cells(self) -> int:
        return 0 if self.result is None else self.result.y_max.size

    def show(self, result: Pooled, what: str) -> None:
        self.result, self.what = result, what
        self.position = min(self.position, self.cells - 1)
        self.redraw()

    def move(self, step: int) -> bool:
        """Step the window; False once a step would leave the output (the last cell, or the first)."""
        if self.result is None or not 0 <= self.position + step < self.cells:
            return False
        self.position += step
        self.redraw()
        return True

    def play(self) -> None:
        """The window over every output cell from the first, a step every third of a second; again: stop."""
        if self.playing is None and self.result is not None:
            self.position = 0
            self.redraw()
            self.playing = self.set_interval(1 / 3, self._played)
        else:
            self.stop()

    def _played(self) -> None:
        if not self.move(1):
            self.stop()

    def stop(self) -> None:
        if self.playing is not None:
            self.playing.stop()
            self.playing = None

    def on_resize(self) -> None:
        self.redraw()

    def window(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(i, j) of the current output cell, the padded input, and which of its cells are padding."""
        r = self.result
        ow = r.y_max.shape[1]
        i, j = divmod(self.position, ow)
        (h, w), (ph, pw) = r.x.shape, r.padding
        padded = np.zeros((h + 2 * ph, w + 2 * pw), np.float32)
        padded[ph:ph + h, pw:pw + w] = r.x
        blank = np.ones(padded.shape, bool)
        blank[ph:ph + h, pw:pw + w] = False
        return i, j, padded, blank

    def redraw(self) -> None:
        if self.result is None:
            return
        r = self.result
        i, j, padded, blank = self.window()
        (kh, kw), (sh, sw), (ph, pw) = r.size, r.stride, r.padding
        r0, c0 = i * sh, j * sw
        inside = {(a, b) for a in range(r0, r0 + kh) for b in range(c0, c0 + kw)}
        values = padded[r0:r0 + kh, c0:c0 + kw]
        real = values[~blank[r0:r0 + kh, c0:c0 + kw]]
        oh, ow = r.y_max.shape
        width, height = (self.size.width or 80) - 2, max(4, (self.size.height or 16) - 4)
        if padded.shape[0] <= NUMBERS_MAX[0] and padded.shape[1] <= NUMBERS_MAX[1]:
            title = f"input {r.x.shape[0]}x{r.x.shape[1]}" + (f", padded {padded.shape[0]}x{padded.shape[1]}"
                                                             if ph or pw else "")
            panels = [(title, grid(number_cells(padded, blank), inside))]
        else:  # a picture: the window marked where it falls, as near as the characters allow
            panels = [(f"input {r.x.shape[0]}x{r.x.shape[1]}",
                       picture(r.x, (r0 - ph, r0 - ph + kh, c0 - pw, c0 - pw + kw), max(20, width // 3), height))]
        for name, y in (("max", r.y_max), ("average", r.y_avg)):
            if y.shape[0] <= NUMBERS_MAX[0] and y.shape[1] <= NUMBERS_MAX[1]:
                panels.append((f"{name} {oh}x{ow}", grid(number_cells(y), {(i, j)})))
            else:
                panels.append((f"{name} {oh}x{ow}", picture(y, (i, i + 1, j, j + 1), max(14, width // 4), height)))
        total = float(values.sum()) if not blank.all() else 0.0
        terms = " + ".join(_number(v) for v in values.flat) if kh * kw <= 4 else f"{_number(total)}"
        mean = f"({terms}) / {kh * kw}" if kh * kw <= 4 else f"{terms} / {kh * kw}"
        rows, cols = f"{r0 - ph}–{r0 - ph + kh - 1}", f"{c0 - pw}–{c0 - pw + kw - 1}"
        lines = [Text(f"{self.what} · window {kh}x{kw}, stride {_pair(r.stride)}, padding {_pair(r.padding)}")]
        lines += side_by_side_text(panels)
        lines.append(Text(f"window {self.position + 1}/{oh * ow}: rows {rows}, cols {cols} → max "
                          f"{_number(real.max() if real.size else float('-inf'))} · avg {mean} = "
                          f"{_number(r.y_avg[i, j])}"))
        lines.append(Text(compact(r.formula, width)))
        lines.append(Text("n/N move the window, p plays it" + (" · padding · is −∞ for max, 0 for average"
                                                                 if ph or pw else "")))
        if ph or pw:
            lines.append(Text("(counted in the mean, as nn.AvgPool2d's default count_include_pad=True)"))
        self.drawn = Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
        self.update(self.drawn)

    def marked(self) -> str:
        """The characters drawn in reverse video (the window and the cells it becomes), for a test to read."""
        return "".join(self.drawn.plain[span.start:span.end] for span in self.drawn.spans if span.style == MARK)


def _number(v) -> str:
    return number_cells(np.array([[v]], np.float32))[0][0].strip()


def _pair(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"
