"""Laying images out in cells: how big each one is drawn, how many fit on a page, which page holds which
image, and labels wrapped to an image's width. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


def cell_size(image_hw: tuple[int, int], columns: int, space: tuple[int, int], bands: int = 1,
              rows_per_band: int = 2, extra_lines: int = 1) -> tuple[int, int]:
    """Cells (width, height) for each image so that `columns` images side by side, `rows_per_band` images
    stacked, `bands` times, fit into `space` (width, height); terminal cells are about twice as tall as
    wide, so a cell holds one pixel across and two down. Never below 4 x 2."""
    h, w = image_hw
    avail_w, avail_h = space
    cw = max(4, min(w, (avail_w - (columns - 1)) // columns))
    per_band = max(1, (avail_h // max(1, bands) - extra_lines) // rows_per_band)
    ch = max(2, min(per_band, math.ceil(cw * h / w / 2)))
    # keep the aspect when the height is what limits
    cw = max(4, min(cw, math.ceil(ch * 2 * w / h)))
    return cw, ch


@dataclass(frozen=True)
class Tiling:
    """Images `per_row` side by side, `bands` rows of them, each `width` x `height` cells."""

    per_row: int
    bands: int
    width: int
    height: int

    @property
    def per_page(self) -> int:
        return self.per_row * self.bands


def tile(image_hw: tuple[int, int], count: int, space: tuple[int, int], stack: int = 1,
         extra: Callable[[int], int] | int = 0, gap: int = 1, band_gap: int = 1) -> Tiling:
    """The tiling of `count` images into `space` (width, height) cells that shows the most picture (images
    shown x cells each): bigger images where there is room, more of them where there is more. Each slot is
    `stack` images high plus `extra(width)` lines (captions, labels); slots are `gap` apart, bands
    `band_gap`. Images keep their aspect (a cell: one pixel across, two down) and grow no further than their
    own pixels (one cell across, two down each): bigger than that shows nothing more, so more images do."""
    h, w = image_hw
    avail_w, avail_h = space
    extra_rows = extra if callable(extra) else (lambda _w, n=extra: n)
    count = max(1, count)
    best, best_score = None, (-1, -1)
    for ch in range(2, max(2, min(avail_h, math.ceil(h / 2))) + 1):
        cw = max(4, round(ch * 2 * w / h))
        if cw > avail_w:
            break
        per_row = min(count, (avail_w + gap) // (cw + gap))
        slot = stack * ch + extra_rows(cw)
        bands = min((avail_h + band_gap) // (slot + band_gap), math.ceil(count / per_row))
        if bands < 1:
            continue
        score = (min(count, per_row * bands) * cw * ch, ch)
        if score > best_score:
            best, best_score = Tiling(per_row, bands, cw, ch), score
    if best is None:  # a terminal too small for even 4 x 2 cells: the smallest, clipped
        return Tiling(max(1, min(count, (avail_w + gap) // (4 + gap))), 1, 4, 2)
    return best


def page_start(index: int, per_page: int) -> int:
    """The first image of the page that holds image `index`."""
    return (index // max(1, per_page)) * max(1, per_page)


def turn_page(index: int, step: int, per_page: int, count: int) -> int:
    """The first image of the page `step` pages on from the one holding `index`, wrapping round."""
    per_page = max(1, per_page)
    pages = max(1, math.ceil(count / per_page))
    return ((index // per_page + step) % pages) * per_page


def wrap_label(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, never cut: broken after spaces, "/" and "-" where it
    can, inside a word only when the word alone is wider than `width`."""
    width = max(1, width)
    words, word = [], ""
    for ch in text:
        word += ch
        if ch in " /-":
            words.append(word)
            word = ""
    if word:
        words.append(word)
    lines, line = [], ""
    for word in words:
        if len(line) + len(word.rstrip()) <= width:
            line += word
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        while len(word.rstrip()) > width:
            lines.append(word[:width])
            word = word[width:]
        line = word
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines
