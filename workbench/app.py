"""The interactive workbench: a thin App that holds the screens together.

Starting it imports no torch: the picker appears at once, and torch loads in workers when a parameter
count, an inspection or a run first needs it.
"""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from trainers.config import RunConfig

from .messages import StartRun
from .screens.help import HelpScreen
from .screens.pick import PickScreen
from .screens.train import TrainScreen
from .widgets.images import default_rendering


class WorkbenchApp(App):
    """Pick → train → back to pick, with help and inspection on top."""

    CSS_PATH = "workbench.tcss"
    TITLE = "workbench"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, config: RunConfig | None = None, start: bool = False) -> None:
        super().__init__()
        self.run_config = config or RunConfig()
        self.start_now = start
        # No animations: over SSH every animated frame is bytes on a slow link and CPU taken from training.
        self.animation_level = "none"
        self.rendering = default_rendering()
        """How images are drawn, "plain" or "blocks"; kept across runs, switched with r."""

    def on_mount(self) -> None:
        # Colour is only a hint: under NO_COLOR the .tcss marks cursors and states with reverse video too
        self.set_class(self.rendering == "plain", "-no-color")
        self.push_screen(PickScreen(self.run_config, start=self.start_now))

    def on_start_run(self, message: StartRun) -> None:
        self.push_screen(TrainScreen(message.config))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        bindings = [b for b in getattr(screen, "BINDINGS", []) if isinstance(b, Binding)]
        name = {"PickScreen": "picker", "TrainScreen": "training", "InspectScreen": "inspect"}
        self.push_screen(HelpScreen(name.get(type(screen).__name__, "workbench"), bindings,
                                    lists=isinstance(screen, PickScreen)))

    async def action_quit(self) -> None:
        # Stop any run first so its thread ends within one batch and the process exits promptly.
        for screen in self.screen_stack:
            if isinstance(screen, TrainScreen):
                screen.stop_run()
        self.exit()


def run_app(config: RunConfig | None = None, start: bool = False) -> None:
    """Open the interactive workbench with `config` chosen; `start` begins training at once."""
    WorkbenchApp(config=config, start=start).run()
