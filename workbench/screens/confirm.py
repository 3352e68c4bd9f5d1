"""A yes/no question before something the user may not want: `y` says yes, `n`, Esc or Enter no."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True only on `y`."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape,enter", "answer(False)", "No")]

    def __init__(self, title: str, question: str, yes: str) -> None:
        super().__init__()
        self.title_text, self.question, self.yes = title, question, yes

    def compose(self) -> ComposeResult:
        answer = Text.assemble(("y", "bold"), f" {self.yes}, ", ("n", "bold"), " or Esc does not.")
        with Vertical(id="confirm-body") as body:
            body.border_title = self.title_text
            yield Static(Group(Text(self.question), Text(), answer))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
