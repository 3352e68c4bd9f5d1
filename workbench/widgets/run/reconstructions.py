"""The images tab of an autoencoder's run: test images above their reconstructions."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from workbench.render.images import grid
from workbench.render.tiling import Tiling, page_start, tile, turn_page
from workbench.widgets.shared.pictures import PixelPictures

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
