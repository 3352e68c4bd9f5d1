"""2-D tensors as characters, for the convolution lab (the app's screen and `workbench lab` alike): small
ones as the numbers the notes print, larger ones as character images. Pure functions over numpy arrays."""

from __future__ import annotations

import numpy as np

from workbench.render.images import plain_lines

NUMBERS_MAX = (12, 10)  # rows, columns: up to this size a tensor is shown as its numbers


def _number(v: float) -> str:
    if abs(v) < 5e-5:
        return "0"
    text = f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.1e}"
    return text


def shows_numbers(values: np.ndarray) -> bool:
    return values.shape[0] <= NUMBERS_MAX[0] and values.shape[1] <= NUMBERS_MAX[1]


def number_cells(values: np.ndarray, blank: np.ndarray | None = None) -> list[list[str]]:
    """Each value as the notes print it, right-aligned to one width; cells where `blank` holds (a pooling
    input's padding) as "·"."""
    cells = [[_number(float(v)) for v in row] for row in values]
    if blank is not None:
        cells = [["·" if b else c for c, b in zip(row, brow)] for row, brow in zip(cells, blank)]
    width = max((len(c) for row in cells for c in row), default=1)
    return [[c.rjust(width) for c in row] for row in cells]


def number_lines(values: np.ndarray, blank: np.ndarray | None = None) -> list[str]:
    return [" ".join(row) for row in number_cells(values, blank)]


def image_lines(values: np.ndarray, max_width: int, max_height: int) -> list[str]:
    """Brightness = |value| over the largest |value| (an edge map's 1 and -1 both show), one character
    per pixel across and two pixel rows per line, shrunk to fit."""
    values = np.abs(np.asarray(values, dtype=np.float32))
    peak = float(values.max()) if values.size else 0.0
    grey = (values / peak * 255.0) if peak > 0 else values * 0
    h, w = grey.shape
    scale = max(1, min(3, max_width // max(w, 1), (2 * max_height) // max(h, 1))) if w < 20 else 1
    width = max(1, min(w * scale, max_width))  # small maps are drawn larger: a 14x14 output as 28x14
    height = max(1, min((h * scale + 1) // 2, max_height))
    return plain_lines(grey[None], width, height)


def tensor_lines(values: np.ndarray, max_width: int = 40, max_height: int = 16) -> list[str]:
    values = np.asarray(values, dtype=np.float32)
    if shows_numbers(values):
        lines = number_lines(values)
        if max(map(len, lines)) <= max_width:
            return lines
    return image_lines(values, max_width, max_height)


def side_by_side(panels: list[tuple[str, list[str]]], gap: int = 3) -> list[str]:
    """Titled panels next to each other, each as wide as its widest line or title."""
    widths = [max([len(title)] + [len(line) for line in lines]) for title, lines in panels]
    height = max(len(lines) for _title, lines in panels)
    rows = []
    rows.append((" " * gap).join(title.ljust(w) for (title, _lines), w in zip(panels, widths)).rstrip())
    for i in range(height):
        rows.append((" " * gap).join((lines[i] if i < len(lines) else "").ljust(w)
                                     for (_title, lines), w in zip(panels, widths)).rstrip())
    return rows
