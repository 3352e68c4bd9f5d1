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

import os
import re
import sys
from collections.abc import Mapping

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

RAMP = " .:-=+*#%@"
SHADES = " ░▒▓█"
RENDERINGS = ("pixels", "blocks", "shades", "plain")
DESCRIPTIONS = {"pixels": "real pixels", "blocks": "colour half blocks", "shades": "shade characters",
                "plain": "plain characters"}

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
        _pixels = ("sixel", sixel_widget(image_widgets.SixelImage))
    elif renderable.Image is renderable.TGPImage and (
            environ.get("WORKBENCH_PIXELS", "").lower() == "tgp" or placeholders_shown(terminal_version())):
        _pixels = ("tgp", image_widgets.TGPImage)
    return _pixels[0] if _pixels else None


def terminal_version() -> str:
    """The terminal's name and version as it answers XTVERSION (CSI > 0 q), e.g. "kitty(0.26.5)"; "" when it
    does not answer. Only before Textual starts, as detect_pixels."""
    try:
        from textual_image._terminal import TerminalError, capture_terminal_response

        with capture_terminal_response("\x1bP>|", "\x1b\\", timeout=0.2) as response:
            sys.__stdout__.write("\x1b[>0q")
            sys.__stdout__.flush()
        return response.sequence[len("\x1bP>|"):-2]
    except (ImportError, OSError, TimeoutError, TerminalError):
        return ""


def placeholders_shown(version: str) -> bool:
    """Whether a terminal that speaks the Kitty graphics protocol also draws its Unicode placeholders, which
    textual-image places images with: kitty from 0.28 and Ghostty. kitty 0.26 (Debian 12's) answers the
    protocol's query yet draws every placeholder as a box, so it gets characters instead (WORKBENCH_PIXELS=tgp
    insists)."""
    match = re.match(r"\s*([A-Za-z]+)[( ]v?(\d+)\.(\d+)", version or "")
    if not match:
        return False
    name, major, minor = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    if name == "kitty":
        return (major, minor) >= (0, 28)
    return name == "ghostty"


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
                      pixels: str | None = None, colours: int | None = None) -> str:
    """Real pixels where the terminal has them; else plain characters where colour is unwanted (NO_COLOR,
    https://no-color.org) or missing, half blocks elsewhere, or shade characters where the terminal has only
    16 `colours` (TERM=xterm: half blocks came out in four greys, shades keep the digits' strokes)."""
    if colour is None:
        environ = os.environ if environ is None else environ
        colour = environ.get("NO_COLOR", "") == ""
    if "pixels" in renderings(colour, pixels):
        return "pixels"
    if colour and colours is not None and colours < 256:
        return "shades"
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


def pixel_widget() -> type | None:
    """The textual-image widget class that shows real pixels here (detect_pixels), or None."""
    return _pixels[1] if _pixels else None


_REGISTER = re.compile(r"#(\d+)(;2;\d+;\d+;\d+)")
_RASTER = re.compile(r'"\d+;\d+;\d+;\d+')


def registers_first(sixel: str) -> str:
    """The same Sixel image, with every colour register defined before the first pixel is drawn.

    textual-image defines a register where a colour is first used, in the middle of the picture. xterm
    (vt340 mode) paints the bands drawn before such a definition in its default palette's colours: a flat
    green or grey bar over the top of every image, and wrong greys below it. Definitions up front, then
    plain selections (`#N`), are the same image by the Sixel standard, and xterm draws them right. A string
    that redefines a register to another colour part-way is left as it is."""
    introducer, q, body = sixel.partition("q")
    if not q:
        return sixel
    raster = _RASTER.match(body)
    head = raster.group(0) if raster else ""
    rest = body[len(head):]
    colours: dict[str, str] = {}
    for number, value in _REGISTER.findall(rest):
        if colours.setdefault(number, value) != value:
            return sixel
    defined = "".join(f"#{number}{value}" for number, value in colours.items())
    return introducer + q + head + defined + _REGISTER.sub(r"#\1", rest)


def sixel_widget(widget: type) -> type:
    """textual-image's Sixel widget, encoding through `registers_first`; the widget itself if its inner
    part (a private class, read at run time) is no longer there."""
    from textual_image.widget import sixel as module

    inner, noop = getattr(module, "_ImageSixelImpl", None), getattr(module, "_NoopRenderable", None)
    if inner is None or noop is None or not hasattr(inner, "_image_to_sixels"):
        return widget

    class RegistersFirst(inner):
        def _image_to_sixels(self, image, sixel_options=None, background=None) -> str:
            return registers_first(super()._image_to_sixels(image, sixel_options, background))

    class SixelImage(widget, Renderable=noop):
        def compose(self):
            yield RegistersFirst(self.image, self._sixel_options)

    return SixelImage
