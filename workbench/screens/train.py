"""The training screen: live charts, progress, finished epochs, images and the model, for one config.

The trainer runs in a thread worker that posts one message per event; the handlers here hand plain data
down to the widgets. Every message carries its run's id, so a late event from a stopped run is ignored.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from trainers.config import RunConfig
from trainers.control import RunControl
from trainers.process import process_control
from trainers.errors import WorkbenchError
from trainers.events import RunFailed
from trainers.models.registry import MODELS
from trainers.record import default_run_dir

from .. import messages as m
from ..widgets.architecture import ArchitectureView
from ..widgets.charts import LineChart
from ..widgets.epochs import EpochTable
from ..widgets.images import ReconstructionView
from ..widgets.parameters import ParameterTable
from ..widgets.predictions import PredictionView
from ..widgets.progress import ProgressLine, loading_text, progress_text, remaining_seconds

_run_ids = itertools.count(1)
BATCH_POST_SECONDS = 0.5
TABS = ("tab-charts", "tab-epochs", "tab-images", "tab-model")


class TrainScreen(Screen):
    BINDINGS = [
        Binding("s", "start", "Start", tooltip="run again with the same settings (after a run ends)"),
        Binding("p", "pause", "Pause/resume", tooltip="pause or resume training"),
        Binding("x", "stop", "Stop", tooltip="stop after the current batch"),
        Binding("c", "save", "Checkpoint", tooltip="save a checkpoint after the current batch"),
        Binding("b,escape", "back", "Back", tooltip="stop any run and go back to the picker"),
        Binding("r", "rendering", "Render", tooltip="draw images as plain characters or half blocks"),
        Binding("i", "inspect", "Inspect", show=False, tooltip="architecture, parameters and layer shapes"),
        Binding("1", "tab(0)", "Charts", show=False, tooltip="charts: loss per batch, loss and accuracy per epoch"),
        Binding("2", "tab(1)", "Epochs", show=False, tooltip="table of finished epochs"),
        Binding("3", "tab(2)", "Images", show=False, tooltip="reconstructions or predictions on test images"),
        Binding("4", "tab(3)", "Model", show=False, tooltip="the printed architecture of this run's model"),
        Binding("left_square_bracket", "focus_image(-1)", "Previous image", show=False,
                tooltip="previous image (its probabilities are shown)"),
        Binding("right_square_bracket", "focus_image(1)", "Next image", show=False,
                tooltip="next image (its probabilities are shown)"),
    ]

    running: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.control = RunControl()
        self.run_id = 0
        self.run_task = "classify"
        self.epochs = config.epochs or 0  # the last epoch this run reaches (a resumed run starts later)
        self.warnings: tuple[str, ...] = ()
        self.run_dir: str | None = None  # the folder the run writes to, once it has started
        self.bridge_done = threading.Event()  # set when the run's thread has seen its child process end
        self.save_asked = False
        self.began = False  # RunStarted has arrived for the current run

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        yield ProgressLine(id="progress")
        with TabbedContent(id="tabs"):
            with TabPane("1 Charts", id="tab-charts"):
                yield LineChart("loss per logged batch", [("train", "cyan", "braille")], integer_x=True,
                                id="chart-batch")
                with Horizontal(id="epoch-charts"):
                    # distinct markers as well as colours, so train and test differ in monochrome too
                    yield LineChart("loss per epoch", [("train", "cyan", "braille"), ("test", "orange", "hd")],
                                    integer_x=True, id="chart-loss")
                    yield LineChart("accuracy % per epoch", [("train", "cyan", "braille"), ("test", "orange", "hd")],
                                    percent=True, integer_x=True, id="chart-acc")
            with TabPane("2 Epochs", id="tab-epochs"):
                yield EpochTable(id="epochs")
            with TabPane("3 Images", id="tab-images"):
                yield ReconstructionView(id="reconstructions")
                yield PredictionView(id="predictions")
            with TabPane("4 Model", id="tab-model"):
                with Vertical():
                    yield Static(id="run-info")
                    yield ArchitectureView(id="architecture")
                    yield Static(id="params-title")
                    yield ParameterTable(id="live-params")
        yield Static(id="run-message")
        yield Footer()

    def on_mount(self) -> None:
        self.set_rendering(self.app.rendering)
        self.action_start()

    # -- running ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return not self.running
        if action in ("pause", "stop", "save"):
            return self.running
        return True

    def action_start(self) -> None:
        if self.running:
            return
        self.run_id = next(_run_ids)
        self.control = process_control()
        self.bridge_done = threading.Event()
        self.reset()
        self.running = True
        # Every run gets a folder (config, metrics, checkpoint), so nothing trained is lost on quit.
        config = dataclasses.replace(self.config, out=self.config.out or default_run_dir(
            self.config.model, self.config.dataset))
        self.train(self.run_id, config, self.control, self.bridge_done)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def train(self, run_id: int, config: RunConfig, control: RunControl, done: threading.Event) -> None:
        """The bridge: training runs in a child process (its own interpreter, so redraws never stall a
        step); this thread turns its events into messages, batching the per-batch ones. (Loading events
        come thinned by the child, and their message keeps only the newest.)"""
        try:
            from trainers.events import BatchEnded
            from trainers.process import run_in_process

            pending: list = []
            last_post = 0.0
            for event in run_in_process(config, control):
                if isinstance(event, BatchEnded):
                    pending.append(event)
                    if time.monotonic() - last_post < BATCH_POST_SECONDS:
                        continue  # every point is kept; they travel together a few times a second
                if pending:
                    self.post_message(m.BatchesLogged(run_id, tuple(pending)))
                    pending = []
                    last_post = time.monotonic()
                message = m.wrap(run_id, event) if not isinstance(event, BatchEnded) else None
                if message is not None:
                    self.post_message(message)
        except Exception as err:  # noqa: BLE001 - whatever happens, the screen gets one readable sentence
            reason = str(err) if isinstance(err, WorkbenchError) else f"{type(err).__name__}: {err}"
            self.post_message(m.RunBroke(run_id, RunFailed(reason)))
        finally:
            done.set()  # run_in_process has joined its child (or the bridge itself failed)

    def stop_run(self) -> None:
        """Ask the loop to stop at its next batch (also wakes a paused loop)."""
        self.control.request_stop()

    def on_unmount(self) -> None:
        self.stop_run()

    def reset(self) -> None:
        spec = MODELS.get(self.config.model)  # known before the run starts, except for a user's file
        self.set_class(spec is not None and spec.task == "reconstruct", "-reconstruct")
        for chart in self.query(LineChart):
            chart.clear()
        self.query_one(EpochTable).clear()
        self.query_one(ReconstructionView).clear()
        self.query_one(PredictionView).clear()
        self.query_one("#live-params", ParameterTable).clear()
        self.progress.state = "starting"
        self.progress.text = "loading data and building the model…"
        self.warnings, self.run_dir, self.save_asked, self.began = (), None, False, False
        self.say("")
        self.query_one("#run-title", Static).update(
            Text(f"{self.config.model} on {self.config.dataset}", no_wrap=True, overflow="ellipsis"))

    @property
    def progress(self) -> ProgressLine:
        return self.query_one(ProgressLine)

    def say(self, message: str, error: bool = False, warning: bool = False) -> None:
        line = self.query_one("#run-message", Static)
        line.update(Text(message))
        line.set_class(error, "-error")
        line.set_class(warning and not error, "-warning")

    # -- events from the trainer -----------------------------------------------------------------------

    def current(self, message: m.RunMessage) -> bool:
        return message.run_id == self.run_id

    def on_loading_progressed(self, message: m.LoadingProgressed) -> None:
        if self.current(message) and not self.began:
            e = message.event
            self.progress.text = loading_text(e.what, e.done, e.total)

    def on_run_began(self, message: m.RunBegan) -> None:
        if not self.current(message):
            return
        e = message.event
        self.began = True
        self.run_task, self.epochs = e.task, e.epochs
        self.warnings, self.run_dir = tuple(e.warnings), e.config.get("out")
        self.set_class(e.task == "reconstruct", "-reconstruct")
        self.query_one("#run-title", Static).update(Text(
            f"{e.model} on {e.dataset} · {e.device} · {e.parameters:,} params · "
            f"{e.train_size:,}/{e.test_size:,} samples", no_wrap=True, overflow="ellipsis"))
        resumed = f" · resumed after epoch {e.start_epoch}" if e.start_epoch else ""
        info = Text(f"{e.parameters:,} parameters ({e.trainable:,} trainable) · {e.device}{resumed}\n"
                    f"data: {e.data_source or e.dataset} · {e.batches_per_epoch} batches per epoch")
        if self.run_dir:
            info.append(f"\nrun folder: {self.run_dir}")
        for warning in self.warnings:
            info.append(f"\nwarning: {warning}", style="bold")
        self.query_one("#run-info", Static).update(info)
        self.query_one(ArchitectureView).show(e.summary)
        self.progress.state = "running"
        self.progress.text = f"epoch {e.start_epoch + 1}/{e.epochs}: first batches…"
        if self.warnings:
            more = f" (+{len(self.warnings) - 1} more on tab 4)" if len(self.warnings) > 1 else ""
            self.say(f"Warning: {self.warnings[0]}{more}", warning=True)

    def on_batches_logged(self, message: m.BatchesLogged) -> None:
        if not self.current(message):
            return
        chart = self.query_one("#chart-batch", LineChart)
        for e in message.events:
            chart.add("train", e.step, e.loss)
        e = message.events[-1]
        left = remaining_seconds(e.elapsed, e.step, e.epoch, e.batch, e.batches, self.epochs)
        self.progress.text = progress_text(e.epoch, self.epochs, e.batch, e.batches, e.samples_per_sec,
                                           e.elapsed, left)

    def on_epoch_logged(self, message: m.EpochLogged) -> None:
        if not self.current(message):
            return
        e = message.event
        loss = self.query_one("#chart-loss", LineChart)
        loss.add("train", e.epoch, e.train_loss)
        loss.add("test", e.epoch, e.test_loss)
        acc = self.query_one("#chart-acc", LineChart)
        acc.add("train", e.epoch, e.train_accuracy)
        acc.add("test", e.epoch, e.test_accuracy)
        self.query_one(EpochTable).add_epoch(e.epoch, e.epochs, e.train_loss, e.train_accuracy, e.test_loss,
                                             e.test_accuracy, e.seconds, e.samples_per_sec)

    def on_reconstructions_ready(self, message: m.ReconstructionsReady) -> None:
        if self.current(message):
            e = message.event
            self.query_one(ReconstructionView).show(e.epoch, e.originals, e.outputs)

    def on_predictions_ready(self, message: m.PredictionsReady) -> None:
        if self.current(message):
            self.query_one(PredictionView).show(message.event)

    def on_parameters_updated(self, message: m.ParametersUpdated) -> None:
        if self.current(message):
            e = message.event
            when = "at initialisation" if e.epoch == 0 else f"after epoch {e.epoch}"
            self.query_one("#params-title", Static).update(Text(f"named parameters {when} (live model)"))
            self.query_one("#live-params", ParameterTable).show(e.parameters)

    def on_checkpoint_written(self, message: m.CheckpointWritten) -> None:
        # The loop also saves after every epoch; only the save the user asked for is worth a message.
        if self.current(message) and self.save_asked:
            self.save_asked = False
            self.say(f"Checkpoint of epoch {message.event.epoch} saved to {message.event.path}")

    def on_pause_changed(self, message: m.PauseChanged) -> None:
        if self.current(message) and self.running:
            self.progress.state = "paused" if message.event.paused else "running"

    def on_run_ended(self, message: m.RunEnded) -> None:
        if not self.current(message):
            return
        e = message.event
        self.running = False
        self.progress.state = "stopped" if e.stopped else "finished"
        parts = [f"{'Stopped' if e.stopped else 'Finished'}: {e.epochs_completed} epoch(s) in {e.seconds:.1f}s"]
        if e.final_test_accuracy is not None:
            parts.append(f"test accuracy {100 * e.final_test_accuracy:.2f}%")
        elif e.final_test_loss is not None:
            parts.append(f"test loss {e.final_test_loss:.4f}")
        if e.checkpoint:
            parts.append(f"saved in {e.checkpoint.rsplit('/', 1)[0]}")
        if self.warnings:
            parts.append(f"{len(self.warnings)} data warning(s) on tab 4")
        self.say(" · ".join(parts) + " · s again · b back")

    def on_run_broke(self, message: m.RunBroke) -> None:
        if not self.current(message):
            return
        e = message.event
        self.running = False
        self.progress.state = "failed"
        if not self.began:  # the text still says what was loading
            self.progress.text = "the run could not start"
        saved = f" The last good weights are in {e.checkpoint}." if e.checkpoint else ""
        self.say(f"Failed: {e.reason}{saved} b goes back to pick again.", error=True)

    # -- keys ------------------------------------------------------------------------------------------

    def action_pause(self) -> None:
        paused = self.control.toggle_pause()
        self.progress.state = "pausing" if paused else "running"

    def action_stop(self) -> None:
        self.stop_run()
        self.progress.state = "stopping"

    def action_save(self) -> None:
        self.save_asked = True
        self.control.request_save()
        self.say("A checkpoint will be saved after the current batch.")

    def action_back(self) -> None:
        self.stop_run()
        self.app.pop_screen()

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        if index == 1:
            self.query_one(EpochTable).focus()  # the arrows then scroll the table
        elif index == 3:
            self.query_one(ArchitectureView).focus()

    def action_rendering(self) -> None:
        self.app.rendering = "plain" if self.app.rendering == "blocks" else "blocks"
        self.set_rendering(self.app.rendering)
        self.say(f"Images drawn as {'plain characters' if self.app.rendering == 'plain' else 'half blocks'}.")

    def set_rendering(self, rendering: str) -> None:
        self.query_one(ReconstructionView).rendering = rendering
        self.query_one(PredictionView).rendering = rendering

    def action_focus_image(self, step: int) -> None:
        self.query_one(PredictionView).focus_index += step

    def action_inspect(self) -> None:
        from .inspect import InspectScreen

        self.app.push_screen(InspectScreen(self.config.model, self.config.dataset, self.config.data_dir))
