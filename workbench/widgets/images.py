"""Images as characters or real pixels: pure rendering and layout functions, and the reconstructions widget.

Renderings (`r` cycles through those that work in this terminal, `renderings()`):
- `pixels`: real pixels through the Kitty graphics protocol or Sixel (textual-image), where the terminal
  answered that it can (`detect_pixels()`, asked once before Textual starts; never in tests);
- `blocks`: two pixels per cell with the upper half block "▀" (foreground = top pixel, background = bottom
  pixel); only with colour, since without it every cell is the same solid "▀";
- `shades`: one pixel per cell from " ░▒▓█", for monochrome terminals and NO_COLOR;
- `plain`: one pixel per cell from an ASCII ramp (any terminal, copy-pastes).
A cell is about twice as tall as wide, so every rendering draws an image in the same `width` x `height`
cells: one pixel across and two down per cell.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

RAMP = " .:-=+*#%@"
SHADES = " ░▒▓█"
RENDERINGS = ("pixels", "blocks", "shades", "plain")
DESCRIPTIONS = {"pixels": "real pixels", "blocks": "colour half blocks", "shades": "shade characters",
                "plain": "plain characters"}
PIXEL_PROTOCOLS = ("sixel", "tgp")

_pixels: tuple[str, type] | None = None
"""(protocol, textual-image widget class) when this process's terminal shows real pixels (detect_pixels)."""


def detect_pixels(environ: Mapping[str, str] | None = None) -> str | None:
    """Ask the terminal whether it shows real pixels: "sixel", "tgp" (Kitty graphics) or None.

    Must run before Textual starts (textual-image reads the terminal's answers from stdin, which Textual's
    input thread takes over), and only on a terminal. WORKBENCH_PIXELS=0 skips the question."""
    global _pixels
    environ = os.environ if environ is None else environ
    if environ.get("WORKBENCH_PIXELS", "").lower() in ("0", "no", "off", "false"):
        return None
    stdout = sys.__stdout__
    if stdout is None or not stdout.isatty() or sys.__stdin__ is None or not sys.__stdin__.isatty():
        return None
    try:  # importing it asks the terminal (Sixel first, then Kitty's protocol), once per process
        from textual_image import renderable
        from textual_image import widget as image_widgets
    except Exception:  # noqa: BLE001 - not installed, or a terminal that answered nonsense: characters then
        return None
    if renderable.Image is renderable.SixelImage:
        _pixels = ("sixel", image_widgets.SixelImage)
    elif renderable.Image is renderable.TGPImage:
        _pixels = ("tgp", image_widgets.TGPImage)
    return _pixels[0] if _pixels else None


def pixel_protocol() -> str | None:
    return _pixels[0] if _pixels else None


def renderings(colour: bool = True, pixels: str | None = None) -> tuple[str, ...]:
    """The renderings that show something here, best first. Half blocks need colour; so does the Kitty
    protocol's placeholder (its colour names the image), while Sixel draws its own pixels."""
    modes = []
    if pixels == "sixel" or (pixels == "tgp" and colour):
        modes.append("pixels")
    if colour:
        modes.append("blocks")
    return (*modes, "shades", "plain")


def next_rendering(current: str, available: tuple[str, ...]) -> str:
    """The rendering after `current` in `available`, wrapping round; the first one if `current` is not there."""
    if current not in available:
        return available[0]
    return available[(available.index(current) + 1) % len(available)]


def default_rendering(environ: Mapping[str, str] | None = None, *, colour: bool | None = None,
                      pixels: str | None = None) -> str:
    """Real pixels where the terminal has them; else plain characters where colour is unwanted (NO_COLOR,
    https://no-color.org) or missing, half blocks elsewhere."""
    if colour is None:
        environ = os.environ if environ is None else environ
        colour = environ.get("NO_COLOR", "") == ""
    if "pixels" in renderings(colour, pixels):
        return "pixels"
    return "blocks" if colour else "plain"


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


def ramp_lines(image: np.ndarray, width: int, height: int, ramp: str) -> list[str]:
    """The image as `height` strings of `width` characters of `ramp`, dark to bright."""
    grey = _luminance(resample(image, height, width))
    index = np.clip((grey * len(ramp) / 256.0).astype(int), 0, len(ramp) - 1)
    return ["".join(ramp[i] for i in row) for row in index]


def plain_lines(image: np.ndarray, width: int, height: int) -> list[str]:
    """The image as `height` strings of `width` ramp characters (dark " " to bright "@")."""
    return ramp_lines(image, width, height, RAMP)


def shade_lines(image: np.ndarray, width: int, height: int) -> list[str]:
    """The image as `height` strings of `width` shade characters (dark " " to bright "█")."""
    return ramp_lines(image, width, height, SHADES)


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


def characters_for(rendering: str, colour: bool = True) -> str:
    """The character rendering that stands in for `rendering` where no picture is laid on top: `pixels`
    has no characters of its own, so half blocks (shades without colour)."""
    if rendering == "pixels" or (rendering == "blocks" and not colour):
        return "blocks" if colour else "shades"
    return rendering


def render_image(image: np.ndarray, width: int, height: int, rendering: str) -> list[Text]:
    """`height` lines of `width` cells, drawn as `rendering` (RENDERINGS; `pixels` as half blocks, see
    `characters_for`), or `blank` to leave room for a picture laid on top (PixelPictures)."""
    if rendering == "plain":
        return [Text(line, no_wrap=True, end="") for line in plain_lines(image, width, height)]
    if rendering == "shades":
        return [Text(line, no_wrap=True, end="") for line in shade_lines(image, width, height)]
    if rendering == "blank":
        return [Text(" " * width, no_wrap=True, end="") for _ in range(height)]
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


def to_pil(image: np.ndarray, width: int, height: int, cell: tuple[int, int] = (10, 20)):
    """A (C, H, W) uint8 image as a PIL image for textual-image, enlarged with hard pixel edges to about the
    `width` x `height` cells (of `cell` pixels) it is shown in: the terminal's own smooth scaling of a
    28-pixel digit would blur it."""
    from PIL import Image as PILImage

    array = np.asarray(image, dtype=np.uint8)
    c, h, w = array.shape
    picture = PILImage.fromarray(array[0], "L") if c < 3 else PILImage.fromarray(np.moveaxis(array[:3], 0, -1), "RGB")
    k = max(1, min(width * cell[0] // w, height * cell[1] // h))
    return picture.resize((w * k, h * k), PILImage.Resampling.NEAREST) if k > 1 else picture


class PixelPictures:
    """Mixin for an image view: real-pixel pictures as children laid over the blanks its render() leaves.
    `placements()` says where, as (image, x, y, width, height) in content cells."""

    rendering: str

    def pictures_on(self) -> bool:
        return self.rendering == "pixels" and _pixels is not None

    def character_rendering(self) -> str:
        """What render() draws: blanks under the pictures; characters where there are none (pixel mode on a
        terminal that was not found to show pixels, a rendering chosen in another terminal)."""
        if self.pictures_on():
            return "blank"
        return characters_for(self.rendering, getattr(self.app, "colour", True))

    def placements(self) -> list[tuple[np.ndarray, int, int, int, int]]:
        raise NotImplementedError

    def sync_pictures(self) -> None:
        widget: Widget = self  # type: ignore[assignment]
        wanted = self.placements() if self.pictures_on() and widget.size.area else []
        current = list(widget.children)
        if len(current) > len(wanted):
            for child in current[len(wanted):]:
                child.remove()
            current = current[:len(wanted)]
        try:
            from textual_image._terminal import get_cell_size

            cell = tuple(get_cell_size())
        except Exception:  # noqa: BLE001 - sizes only sharpen the picture
            cell = (10, 20)
        new = []
        for i, (image, x, y, w, h) in enumerate(wanted):
            picture = to_pil(image, w, h, cell)
            if i < len(current):
                child = current[i]
                child.image = picture
            else:
                child = _pixels[1](picture)
                new.append(child)
            child.styles.position = "absolute"
            child.styles.offset = (x, y)
            child.styles.width, child.styles.height = w, h
        if new:
            widget.mount_all(new)


class ReconstructionView(PixelPictures, Widget):
    """Test images, each above its reconstruction, redrawn when a new epoch's arrive; a page of them at a
    time, as many as fit (n/N turn pages)."""

    DEFAULT_CSS = "ReconstructionView { text-wrap: nowrap; text-overflow: ellipsis; }"

    rendering: reactive[str] = reactive("blocks")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.originals: np.ndarray | None = None
        self.outputs: np.ndarray | None = None
        self.epoch = 0
        self.first = 0  # an image on the page shown

    def show(self, epoch: int, originals: np.ndarray, outputs: np.ndarray) -> None:
        self.epoch, self.originals, self.outputs = epoch, originals, outputs
        self.refresh()
        self.sync_pictures()

    def clear(self) -> None:
        self.originals = self.outputs = None
        self.refresh()
        self.sync_pictures()

    def watch_rendering(self) -> None:
        self.sync_pictures()

    def on_resize(self) -> None:
        self.sync_pictures()

    def tiling(self) -> Tiling:
        """A page: a caption line, then bands of test images, each image above a blank line and its
        reconstruction; bands a blank line apart."""
        h, w = self.originals.shape[2:]
        return tile((h, w), len(self.originals), (self.size.width, self.size.height - 1), stack=2, extra=1)

    def page(self, step: int) -> None:
        if self.originals is None:
            return
        self.first = turn_page(self.first, step, self.tiling().per_page, len(self.originals))
        self.refresh()
        self.sync_pictures()

    def shown(self) -> range:
        t = self.tiling()
        start = page_start(min(self.first, len(self.originals) - 1), t.per_page)
        return range(start, min(len(self.originals), start + t.per_page))

    def placements(self) -> list[tuple[np.ndarray, int, int, int, int]]:
        if self.originals is None or self.outputs is None:
            return []
        t, shown = self.tiling(), self.shown()
        out = []
        for k, i in enumerate(shown):
            band, col = divmod(k, t.per_row)
            x, y = col * (t.width + 1), 1 + band * (2 * t.height + 2)
            out += [(self.originals[i], x, y, t.width, t.height),
                    (self.outputs[i], x, y + t.height + 1, t.width, t.height)]
        return out

    def render(self) -> RenderResult:
        if self.originals is None or self.outputs is None:
            return Text("Reconstructions appear here after the first epoch.", style="dim")
        t, shown, rendering = self.tiling(), self.shown(), self.character_rendering()
        n = len(self.originals)
        where = f"{shown.start + 1}-{shown.stop} of {n} (n/N) · " if len(shown) < n else ""
        lines = [Text(f"epoch {self.epoch}: test images over their reconstructions · {where}r: {self.rendering}",
                      style="bold", no_wrap=True, overflow="ellipsis")]
        for start in range(shown.start, shown.stop, t.per_row):
            if start > shown.start:
                lines.append(Text(""))
            stop = min(shown.stop, start + t.per_row)
            lines += grid(list(self.originals[start:stop]), t.width, t.height, rendering)
            lines.append(Text(""))
            lines += grid(list(self.outputs[start:stop]), t.width, t.height, rendering)
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
