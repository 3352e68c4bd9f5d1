"""Optuna's parameter importances as horizontal bars in plain characters: how much of the metric's spread
each searched setting explains (fANOVA), once a few trials have finished."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

BAR = "█"
PARTS = " ▏▎▍▌▋▊▉"  # eighths of a cell


def bar(fraction: float, width: int) -> str:
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return (BAR * full + (PARTS[part] if part else "")).ljust(width)


def bars(importances: dict, width: int) -> Text:
    """One line a setting, most important first: name, bar, value."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not importances:
        return text
    items = sorted(importances.items(), key=lambda kv: -kv[1])
    name_width = min(12, max(len(str(n)) for n, _ in items))
    room = max(4, width - name_width - 6)
    for i, (name, value) in enumerate(items):
        if i:
            text.append("\n")
        label = str(name).replace("_", "-")
        label = label if len(label) <= name_width else label[:name_width - 1] + "…"
        text.append(f"{label:<{name_width}} ")
        text.append(bar(value, room), style="bold")
        text.append(f" {value:.2f}")
    return text


class ImportanceBars(Static):
    """Shown once importances are known; the screen hides it (class -empty) before."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.importances: dict = {}
        self.border_title = Text("importance", style="bold")

    def show(self, importances: dict) -> None:
        self.importances = dict(importances)
        self.set_class(not importances, "-empty")
        self.update(bars(self.importances, max(12, self.content_size.width or 22)))

    def on_resize(self) -> None:
        self.update(bars(self.importances, max(12, self.content_size.width or 22)))
