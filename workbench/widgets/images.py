"""Images as characters: pure rendering functions and the reconstructions widget.

Two renderings: `plain` maps brightness to a ramp of ASCII characters (any terminal, copy-pastes), and
`blocks` draws two pixels per cell with the upper half block "▀" (foreground = top pixel, background =
bottom pixel) for colour terminals.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

RAMP = " .:-=+*#%@"
RENDERINGS = ("plain", "blocks")


def default_rendering(environ: Mapping[str, str] | None = None) -> str:
    """Plain characters where colour is unwanted (NO_COLOR, https://no-color.org), half blocks elsewhere."""
    environ = os.environ if environ is None else environ
    return "plain" if environ.get("NO_COLOR", "") != "" else "blocks"


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights averaging the input cells each output cell covers (works both ways)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average a (C, H, W) uint8 image to (C, height, width) floats in 0..255."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    rows = _area_matrix(image.shape[1], max(1, height))
    cols = _area_matrix(image.shape[2], max(1, width))
    return np.einsum("ih,chw,jw->cij", rows, image, cols)


def _luminance(image: np.ndarray) -> np.ndarray:
    if image.shape[0] >= 3:
        return 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]
    return image[0]


def plain_lines(image: np.ndarray, width: int, height: int) -> list[str]:
    """The image as `height` strings of `width` ramp characters (dark " " to bright "@")."""
    grey = _luminance(resample(image, height, width))
    index = np.clip((grey * len(RAMP) / 256.0).astype(int), 0, len(RAMP) - 1)
    return ["".join(RAMP[i] for i in row) for row in index]


def _rgb(pixel: np.ndarray) -> Color:
    if pixel.shape[0] >= 3:
        r, g, b = (int(round(v)) for v in pixel[:3])
    else:
        r = g = b = int(round(pixel[0]))
    return Color.from_rgb(r, g, b)


def block_lines(image: np.ndarray, width: int, height: int) -> list[Text]:
    """The image as `height` Texts of `width` "▀" cells: 2 x `height` pixel rows, coloured."""
    pixels = resample(image, 2 * height, width)
    lines = []
    for y in range(height):
        line = Text(no_wrap=True, end="")
        for x in range(width):
            line.append("▀", Style(color=_rgb(pixels[:, 2 * y, x]), bgcolor=_rgb(pixels[:, 2 * y + 1, x])))
        lines.append(line)
    return lines


def render_image(image: np.ndarray, width: int, height: int, rendering: str) -> list[Text]:
    if rendering == "plain":
        return [Text(line, no_wrap=True, end="") for line in plain_lines(image, width, height)]
    return block_lines(image, width, height)


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


def grid(images: list[np.ndarray], width: int, height: int, rendering: str, gap: int = 1) -> list[Text]:
    """Images side by side, each `width` x `height` cells, as lines of Text."""
    rendered = [render_image(img, width, height, rendering) for img in images]
    lines = []
    for y in range(height):
        line = Text(no_wrap=True, end="")
        for i, img_lines in enumerate(rendered):
            if i:
                line.append(" " * gap)
            line.append_text(img_lines[y])
        lines.append(line)
    return lines


class ReconstructionView(Widget):
    """A fixed set of test images, each above its reconstruction, redrawn when a new epoch's arrive."""

    rendering: reactive[str] = reactive("blocks")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.originals: np.ndarray | None = None
        self.outputs: np.ndarray | None = None
        self.epoch = 0

    def show(self, epoch: int, originals: np.ndarray, outputs: np.ndarray) -> None:
        self.epoch, self.originals, self.outputs = epoch, originals, outputs
        self.refresh()

    def clear(self) -> None:
        self.originals = self.outputs = None
        self.refresh()

    def layout(self) -> tuple[int, int, int]:
        """(images per band, cell width, cell height) that fit this widget's size. A band is a row of
        test images, a blank line, and their reconstructions; bands are separated by a blank line."""
        n = len(self.originals)
        h, w = self.originals.shape[2:]
        width, height = self.size.width, self.size.height - 1  # the caption line

        def fits(bands: int, ch: int) -> bool:
            return bands * (2 * ch + 1) + (bands - 1) <= height

        best = (n, *cell_size((h, w), n, (width, height), bands=1, extra_lines=1))
        for per_band in (n // 2, n // 4):
            if per_band < 1 or n % per_band:
                continue
            bands = n // per_band
            size = cell_size((h, w), per_band, (width, height), bands=bands, extra_lines=2)
            if fits(bands, size[1]) and size[0] > best[1]:
                best = (per_band, *size)
        return best

    def render(self) -> RenderResult:
        if self.originals is None or self.outputs is None:
            return Text("Reconstructions appear here after the first epoch.", style="dim")
        per_band, cw, ch = self.layout()
        lines = [Text(f"epoch {self.epoch}: test images, each above its reconstruction "
                      f"({self.rendering}; r switches)", style="bold", no_wrap=True, overflow="ellipsis")]
        for start in range(0, len(self.originals), per_band):
            if start:
                lines.append(Text(""))
            lines += grid(list(self.originals[start:start + per_band]), cw, ch, self.rendering)
            lines.append(Text(""))
            lines += grid(list(self.outputs[start:start + per_band]), cw, ch, self.rendering)
        return Text("\n").join(lines)
