"""Asked before the app runs a model file named by a run folder: the folder may be someone else's, and a
folder is data, never code (trainers.models.trusted_model). The dialog shows the file's path and digest;
`y` runs it, anything else does not."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


def file_digest(path: Path) -> str | None:
    from trainers.models.user import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return None


class TrustScreen(ModalScreen[bool]):
    """Dismissed with True only on `y`, and only while the file still has the digest the run recorded."""

    BINDINGS = [Binding("y", "allow", "Run it"), Binding("n,escape,enter", "deny", "Do not run")]

    def __init__(self, model: str, recorded: str | None, run: str) -> None:
        super().__init__()
        self.model, self.recorded, self.run_name = model, recorded, run
        self.path = Path(model.rsplit(":", 1)[0]).expanduser()
        self.actual = file_digest(self.path)
        self.allowed = self.actual is not None and (not recorded or recorded == self.actual)

    def compose(self) -> ComposeResult:
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="dim", no_wrap=True)
        facts.add_column(overflow="fold")
        facts.add_row("file", Text(str(self.path), style="bold"))
        facts.add_row("builds", self.model.rsplit(":", 1)[1])
        facts.add_row("SHA-256", self.actual or "the file cannot be read")
        facts.add_row("recorded", self.recorded or "none (an older run)")
        if self.allowed:
            answer = Text.assemble("Run it only if you know this file: ", ("y", "bold"), " runs it, ", ("n", "bold"),
                                   " or Esc does not.")
        else:
            answer = Text("The file is not the one the run trained with, so it will not run. Esc closes.", style="bold")
        intro = Text(f"{self.run_name} was trained with a model from a file, and building it runs that file's code.")
        with Vertical(id="trust-body") as body:
            body.border_title = "Run a model file?"
            yield Static(Group(intro, Text(), facts, Text(), answer))

    def action_allow(self) -> None:
        self.dismiss(self.allowed)

    def action_deny(self) -> None:
        self.dismiss(False)
