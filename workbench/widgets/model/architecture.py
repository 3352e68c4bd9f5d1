"""The printed architecture (print(model)), scrollable both ways with the keyboard."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static


class ArchitectureView(ScrollableContainer, can_focus=True):
    def compose(self) -> ComposeResult:
        yield Static("The architecture appears once the model is built.", classes="summary")

    def show(self, summary: str) -> None:
        # Text, not markup: module reprs contain square brackets
        self.query_one(".summary", Static).update(Text(summary, no_wrap=True, end=""))
