"""Real pixels in an image view: textual-image widgets laid over the blanks the view's characters leave."""

from __future__ import annotations

import numpy as np
from textual.widget import Widget

from workbench.render.images import characters_for, pixel_widget, to_pil


class PixelPictures:
    """Mixin for an image view: real-pixel pictures as children laid over the blanks its render() leaves.
    `placements()` says where, as (image, x, y, width, height) in content cells."""

    rendering: str

    def pictures_on(self) -> bool:
        return self.rendering == "pixels" and pixel_widget() is not None

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
                child = pixel_widget()(picture)
                new.append(child)
            child.styles.position = "absolute"
            child.styles.offset = (x, y)
            child.styles.width, child.styles.height = w, h
        if new:
            widget.mount_all(new)
