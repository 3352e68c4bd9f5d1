"""Below the smallest size every screen is laid out for, one sentence instead of a broken screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

MIN_WIDTH, MIN_HEIGHT = 80, 24  # every screen fits here without cutting words (the snapshot tests' size)


def too_small(width: int, height: int) -> bool:
    return width < MIN_WIDTH or height < MIN_HEIGHT


def message(width: int, height: int) -> Text:
    return Text(f"Make the terminal at least {MIN_WIDTH}×{MIN_HEIGHT}: it is {width}×{height}. "
                f"Any run keeps training; q quits.", justify="center")


class TooSmallScreen(ModalScreen):
    """Covers whatever is under it until the terminal is large enough again; q still quits."""

    BINDINGS = [Binding("q", "app.quit", "Quit")]  # a modal screen hides the app's own keys
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen > Static { width: 100%; height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(message(*self.app.size), id="too-small")

    def on_resize(self) -> None:
        self.query_one(Static).update(message(*self.app.size))

    def on_screen_resume(self) -> None:
        if not too_small(*self.app.size):
            self.dismiss()
