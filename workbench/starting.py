"""How the app starts a run: the checks that can be said first (off the UI thread), the question when
another run holds the GPU, then the trainer in its own session and the run screen following it."""

from __future__ import annotations

from textual import work

from trainers.config import RunConfig
from trainers.errors import WorkbenchError

from workbench.messages import StartRun
from workbench.screens.pick import PickScreen


class StartsRuns:
    """Mixed into WorkbenchApp, which holds `spare` and `children_started` and owns `check_size`."""

    def on_start_run(self, message: StartRun) -> None:
        self.check_start(message.config)

    @work(thread=True, group="start", exit_on_error=False)
    def check_start(self, config: RunConfig) -> None:
        """What can be said before a run starts, off the UI thread: it imports torch, counts CUDA's devices,
        asks NVML for the GPUs' processes, walks /proc and scans the runs home."""
        from trainers.devices import check
        from trainers.gpus import busy_sentence

        try:
            check(config)  # a GPU that is not here, --batch-size auto off a GPU: one sentence
            busy = busy_sentence(config.device)
        except WorkbenchError as err:
            self.call_from_thread(self.start_refused, str(err))
            return
        except Exception as err:  # noqa: BLE001 - a damaged runs home or /proc oddity: said, and no start
            self.call_from_thread(self.start_refused, f"the GPUs could not be read: {type(err).__name__}: {err}")
            return
        self.call_from_thread(self.start_checked, config, busy)

    def start_checked(self, config: RunConfig, busy: str) -> None:
        """Start, or first ask when another run holds the GPU (`busy` says which)."""
        if not busy:
            self.launch_run(config)
            return
        from workbench.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.launch_run(config)
            else:
                self.start_refused("Not started: the GPU stays with the run that holds it.", severity="information")

        self.push_screen(ConfirmScreen("Share a GPU?", busy, "starts it anyway"), answered)

    def start_refused(self, why: str, severity: str = "error") -> None:
        self.notify(why, severity=severity, timeout=8)
        if isinstance(self.screen, PickScreen):
            self.screen.starting = False  # still choosing: the cost panel follows again
            self.screen.say(why, error=severity == "error")

    def launch_run(self, config: RunConfig) -> None:
        from trainers.backends import start

        from workbench.screens.run import RunScreen

        self.children_started = [c for c in self.children_started if c.poll() is None]  # reap ended trainers
        try:
            folder, child = start(config, spare=self.spare)
        except (WorkbenchError, OSError) as err:
            self.start_refused(str(err))
            return
        self.children_started.append(child)
        self.push_screen(RunScreen(folder))  # the next spare waits for the picker: this run needs the CPU now
        self.call_after_refresh(self.check_size)
