"""The interactive workbench: a thin App that holds the screens together.

Starting it imports no torch: the picker appears at once, and torch loads in workers when a parameter
count or an inspection first needs it. Runs train in their own session (trainers.backends.detached), so
quitting, a closed terminal or a dropped SSH connection leave them training; the app only reads and steers
their folders.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rich.color import ColorSystem
from textual.app import App
from textual.binding import Binding

from trainers.config import RunConfig
from trainers.errors import WorkbenchError

from workbench.messages import ShowInPicker
from workbench.notify import EndWatcher, quiet_by_environment
from workbench.render.images import default_rendering, pixel_protocol, renderings
from workbench.screens.help import HelpScreen
from workbench.screens.pick import PickScreen
from workbench.starting import StartsRuns
from workbench.terminal import HANGUP_EXIT, TerminalGuard

SPARE_AFTER = 2.0  # seconds the picker is shown before a spare trainer starts importing torch


def attached_pair(folder: str) -> RunConfig:
    """The picker under an attached run starts on that run's model and dataset (b from the run lands on
    them), when they are the zoo's; its other settings stay the model's defaults."""
    from trainers.data.registry import DATASETS
    from trainers.models.registry import MODELS
    from trainers.runs import RunReader

    saved = RunReader(folder).config()
    model, dataset = saved.get("model"), saved.get("dataset")
    if isinstance(model, str) and isinstance(dataset, str) and model in MODELS and dataset in DATASETS:
        return RunConfig(model=model, dataset=dataset)  # a damaged config may hold a list there: unhashable
    return RunConfig()


def sweep_pair(folder: str) -> RunConfig:
    """The picker under a sweep starts on the sweep's model and dataset, when they are the zoo's."""
    from trainers.data.registry import DATASETS
    from trainers.models.registry import MODELS
    from trainers.sweeps.study import SweepSpec

    try:
        base = SweepSpec.load(Path(folder)).base
    except WorkbenchError:
        return RunConfig()
    model, dataset = base.get("model"), base.get("dataset")
    if isinstance(model, str) and isinstance(dataset, str) and model in MODELS and dataset in DATASETS:
        return RunConfig(model=model, dataset=dataset)
    return RunConfig()


class WorkbenchApp(StartsRuns, App):
    """Pick → watch a run → back to pick; runs, compare, help and inspection on top."""

    CSS_PATH = "workbench.tcss"
    TITLE = "workbench"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        # the GPUs on any screen; not in the key bar (full at 80 columns), listed by ?
        Binding("g", "gpus", "GPUs", show=False),
    ]

    def __init__(self, config: RunConfig | None = None, start: bool = False, attach: str | None = None,
                 compare: list[str] | None = None, prewarm: bool = False, sweep: str | None = None,
                 quiet: bool = False) -> None:
        super().__init__()
        self.run_config = config or (attached_pair(attach) if attach else sweep_pair(sweep) if sweep else RunConfig())
        self.start_now = start
        self.attach_to = attach
        self.compare_runs = compare
        self.sweep_folder = sweep
        self.children_started: list[subprocess.Popen] = []
        self.exit_message: str | None = None  # printed after the screen is restored
        self.prewarm = prewarm
        self.spare = None  # a trainer process with torch imported, waiting for the next run (prewarm)
        # No animations: over SSH every animated frame is bytes on a slow link and CPU taken from training.
        self.animation_level = "none"
        self.layer_settings: dict[str, dict] = {}
        # model files this app's user named (on the command line, or yes in TrustScreen): a folder naming
        # any other file asks first
        self.trusted_models: set[str] = {self.run_config.model}
        """Per model, the layers' initialisation and freezing chosen in the inspect view for the next run."""
        # Textual drops colour under NO_COLOR (set at all) and on terminals without it: half blocks would be
        # one solid "▀" there, so they are not offered.
        self.colour = not self.no_color and self.console.color_system is not None
        self.renderings = renderings(self.colour, pixel_protocol())
        """The image renderings that show something in this terminal, best first; r cycles through them."""
        self.rendering = default_rendering(colour=self.colour, pixels=pixel_protocol())
        """How images are drawn (workbench.render.images.RENDERINGS); kept across runs, switched with r."""
        self.terminal = TerminalGuard(self)
        """Leaves at once, and surely, when the terminal goes away (workbench.terminal)."""
        self.quiet = quiet or quiet_by_environment()
        self.end_watcher: EndWatcher | None = None
        """Rings and notifies when a run or sweep ends while the app is open (workbench.notify); None if quiet."""

    def on_mount(self) -> None:
        # 16 colours (TERM=xterm) start images on shade characters; headless (tests, SVG screenshots) there
        # is no terminal to ask, so they draw as for a full-colour one
        if not self.is_headless and self.console.color_system not in (ColorSystem.EIGHT_BIT, ColorSystem.TRUECOLOR):
            self.rendering = default_rendering(colour=self.colour, pixels=pixel_protocol(), colours=16)
        # Colour is only a hint: under NO_COLOR the .tcss marks cursors and states with reverse video too
        self.set_class(not self.colour, "-no-color")
        self.terminal.install()
        if not self.quiet:
            self.end_watcher = EndWatcher(self, extra=self.live_runs_on_screen)
            self.end_watcher.start()
        # the spare trainer imports torch in a process of its own, but on two cores that still takes the
        # CPU the picker needs for its first frames, its device list and its cost panel: it starts once the
        # picker has been on screen a moment (a start before then starts a trainer). Opened to start at
        # once, there is no choosing to hide the import behind: it would only take the CPU from the run's
        # own start and first batches.
        if not self.start_now:
            self.set_timer(SPARE_AFTER, self.warm_spare)
        self.push_screen(PickScreen(self.run_config, start=self.start_now))
        if self.attach_to:
            from workbench.screens.run import RunScreen

            self.push_screen(RunScreen(self.attach_to))
        elif self.compare_runs:
            from workbench.screens.compare import CompareScreen

            self.push_screen(CompareScreen(self.compare_runs))
        elif self.sweep_folder:
            from workbench.screens.sweep import SweepScreen

            self.push_screen(SweepScreen(self.sweep_folder))
        elif not self.start_now:
            self.show_live_run()
        self.call_after_refresh(self.check_size)

    def on_unmount(self) -> None:
        self.terminal.leave_if_gone()  # with the terminal gone, no waiting on thread workers that cannot stop

    def on_resize(self) -> None:
        self.call_after_refresh(self.check_size)

    def check_size(self) -> None:
        """Below the size screens are laid out for, say so instead of drawing a broken screen."""
        from workbench.screens.too_small import TooSmallScreen, too_small

        small = too_small(*self.size)
        if small and not isinstance(self.screen, TooSmallScreen):
            self.push_screen(TooSmallScreen())
        elif not small and isinstance(self.screen, TooSmallScreen):
            self.screen.dismiss()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        from workbench.screens.pick import filtering

        if action in ("runs", "help", "gpus") and filtering(self.screen):
            return None  # R, ? and g are text in a list's filter (ctrl+q still quits)
        return True

    def show_live_run(self) -> None:
        """Relaunched while a run trains: the runs first, that one highlighted, Enter away."""
        from workbench.screens.run_list import RunListScreen, newest_live

        live = newest_live()
        if live is not None:
            self.push_screen(RunListScreen(highlight=live.folder, note=f"{live.name} is training (epoch "
                                        f"{live.epochs_done}/{live.epochs}): Enter attaches; b goes to the picker."))

    def warm_spare(self) -> None:
        """Keep one trainer process ready (torch imported) while the user chooses: start is then quick."""
        if not self.prewarm or (self.spare is not None and self.spare.ready):
            return
        from trainers.backends import Spare

        try:
            self.spare = Spare()
        except OSError:
            self.spare = None

    def on_show_in_picker(self, message: ShowInPicker) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, PickScreen):
            self.pop_screen()
        picker = self.screen
        if isinstance(picker, PickScreen):
            picker.call_later(picker.fill, message.config, message.note)  # after its own word on resuming

    def action_runs(self) -> None:
        from workbench.screens.run_list import RunListScreen

        self.push_screen(RunListScreen())

    def action_gpus(self) -> None:
        from workbench.screens.gpus import GpuScreen

        if isinstance(self.screen, GpuScreen):
            self.pop_screen()
        else:
            self.push_screen(GpuScreen())

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        bindings = [b for b in getattr(screen, "BINDINGS", []) if isinstance(b, Binding)]
        name = {"PickScreen": "picker", "RunScreen": "a run", "InspectScreen": "inspect", "RunListScreen": "runs",
                "CompareScreen": "compare", "LabScreen": "the convolution lab", "SweepScreen": "a sweep"}
        self.push_screen(HelpScreen(name.get(type(screen).__name__, "workbench"), bindings,
                                    lists=isinstance(screen, PickScreen)))

    def live_runs_on_screen(self) -> list[str]:
        from workbench.screens.run import RunScreen

        return [s.folder for s in self.screen_stack if isinstance(s, RunScreen) and s.live]

    def live_sweep_on_screen(self) -> Path | None:
        from workbench.screens.sweep import SweepScreen

        shown = [s for s in self.screen_stack if isinstance(s, SweepScreen) and s.view is not None
                 and s.view.state == "running"]
        return shown[-1].folder if shown else None

    async def action_quit(self) -> None:
        live = self.live_runs_on_screen()
        message = None
        if live:
            names = ", ".join(Path(f).name for f in live)
            message = (f"{names} keeps training in the background.\n"
                       f"  watch again: workbench attach {Path(live[-1]).name}\n"
                       f"  stop it:     workbench stop {Path(live[-1]).name}")
        sweep = self.live_sweep_on_screen()
        if sweep is not None:
            message = (f"{message}\n" if message else "") + (
                f"sweep {sweep.name} keeps running in the background.\n"
                f"  watch again: workbench attach {sweep}\n"
                f"  stop it:     workbench stop {sweep}")
        self.exit_message = message
        if self.spare is not None:
            self.spare.close()
        self.exit(message=message)


def run_app(config: RunConfig | None = None, start: bool = False, attach: str | None = None,
            compare: list[str] | None = None, sweep: str | None = None, quiet: bool = False) -> int | None:
    """Open the interactive workbench: with `config` chosen (`start` begins it at once), attached to a
    run folder, comparing run folders, or on a sweep's folder. `quiet`: no word when a run ends."""
    import sys

    from workbench.render.images import detect_pixels

    import os

    # `workbench serve`: textual-serve runs the app with Textual's web driver, on pipes to the browser
    served = os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")
    if not served and not (sys.stdin.isatty() and sys.stdout.isatty()):  # escape codes into a pipe, and keys that never come
        what = ("`workbench runs` lists the runs in plain lines" if attach or compare or sweep
                else "`workbench train --model M --dataset D` trains without it")
        raise WorkbenchError(f"the app needs a terminal (its input or output is redirected here); {what}.")
    if not served:
        detect_pixels()  # asks the terminal about real pixels: only now, before Textual reads its input
    app = WorkbenchApp(config=config, start=start, attach=attach, compare=compare, prewarm=True, sweep=sweep,
                       quiet=quiet)
    try:
        app.run()
    finally:
        app.terminal.close()
    return HANGUP_EXIT if app.terminal.gone else None
