"""The g panel, on any screen: every NVIDIA GPU, how full and how busy, and whose processes are on it (a
workbench run by name, another process by user and command), as `workbench gpus` prints it. Read in a thread
worker every 2 s while the panel is the screen on top, one read at a time; its timer goes with it, so a closed
panel costs nothing."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

REFRESH_SECONDS = 2.0


class GpuScreen(ModalScreen):
    BINDINGS = [Binding("escape,g", "app.pop_screen", "Close")]

    def __init__(self) -> None:
        super().__init__()
        self.view = None  # the latest trainers.gpus.Survey
        self.reads = 0  # surveys shown: the panel's tests count its refreshes
        self.reading = False  # a read in its thread, not shown yet
        self.refresher = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="gpus-body") as body:
            body.border_title = "GPUs"
            body.border_subtitle = f"every {REFRESH_SECONDS:g} s · g or Esc closes"
            yield Static(Text("reading the GPUs…", style="dim"), id="gpus-text")

    def on_mount(self) -> None:
        self.refresh_gpus()
        self.refresher = self.set_interval(REFRESH_SECONDS, self.refresh_gpus)  # stopped with the screen

    def refresh_gpus(self) -> None:
        """Read again, unless the last read is still under way (NVML or /proc slow: reads would pile up) or
        another screen is on top (nobody sees it)."""
        if self.reading or self.app.screen is not self:
            return
        self.reading = True
        self.read()

    @work(thread=True, group="gpus", exit_on_error=False)
    def read(self) -> None:
        try:
            from trainers import gpus

            view = gpus.survey()
        except Exception as err:  # noqa: BLE001 - a damaged runs home or /proc oddity is said, not crashed on
            self.app.call_from_thread(self.say, f"the GPUs could not be read: {type(err).__name__}: {err}")
            return
        self.app.call_from_thread(self.show, view)

    def say(self, text: str) -> None:
        self.reading = False
        self.query_one("#gpus-text", Static).update(Text(text))

    def show(self, view) -> None:
        self.reading = False
        self.view = view
        self.reads += 1
        self.draw()

    def draw(self) -> None:
        from workbench.render.gpus import gpu_lines

        if self.view is None:
            return
        width = max(40, self.query_one("#gpus-body").content_size.width or self.app.size.width - 4)
        self.query_one("#gpus-text", Static).update(Group(*gpu_lines(self.view, width)))

    def on_resize(self) -> None:
        self.draw()
