"""The `?` screen: every key of the screen underneath, plus the ones that work everywhere."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

LIST_KEYS = [
    ("↑ ↓  j k", "move in a list"),
    ("Enter", "choose the highlighted entry"),
    ("/", "filter the list: letters are text there (Enter chooses, Esc clears)"),
    ("Tab  Shift+Tab", "next / previous field or list"),
    ("Enter in the form", "start training, like s"),
]
EVERYWHERE = [("?", "this help"), ("g", "the GPUs: memory, use, whose processes"),
              ("q", "quit (a run keeps training; workbench attach)"), ("ctrl+q", "quit, even while typing")]


def key_label(key: str) -> str:
    names = {"left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?", "escape": "Esc"}
    return "  ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,enter", "app.pop_screen", "Close")]

    def __init__(self, title: str, bindings: list[Binding], lists: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.keys = bindings
        self.lists = lists

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        rows = [(key_label(b.key), b.tooltip or b.description or b.action) for b in self.keys]
        if self.lists:
            rows += LIST_KEYS
        for key, what in rows + EVERYWHERE:
            table.add_row(key, what)
        with VerticalScroll(id="help-body") as body:
            body.border_title = f"Keys: {self.title_text}"
            body.border_subtitle = "Esc closes"
            yield Static(table)
