"""The one view of a run: live, finished, attached — the same code, fed by the run folder's reader.

A thread worker follows RUN/events.jsonl (workbench.follow) and posts RunEvents; `on_run_events`
dispatches each event by its type to one handler. Keys steer the trainer through the folder
(trainers.runs.send), so they work on a run started here, in another terminal, or by `--detach`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from trainers import events as ev
from trainers.errors import WorkbenchError
from trainers.models.registry import MODELS, is_user_model
from trainers.runs import LogRestarted, TrainerGone, lock_holder, read_status, send
from trainers.runs.requests import WATCH_EVERY
from trainers.runs.status import BEAT_SECONDS

from workbench import follow
from workbench.messages import RunEvents, StartRun
from workbench.render.text import gpu_words
from workbench.screens.insight import INSIGHT_TABS, InsightTabs
from workbench.screens.layer_lease import LayerLease
from workbench.widgets.model.architecture import ArchitectureView
from workbench.widgets.model.parameters import ParameterTable
from workbench.widgets.run.epochs import EpochTable
from workbench.widgets.run.layer_stats import LayerStatsView
from workbench.widgets.run.predictions import PredictionView
from workbench.widgets.run.progress import ProgressLine, loading_text, progress_text, remaining_seconds
from workbench.widgets.run.reconstructions import ReconstructionView
from workbench.widgets.shared.charts import LineChart

TABS = ("tab-charts", "tab-epochs", "tab-images", "tab-model", "tab-layers", *INSIGHT_TABS)
RESUME_WATCH_SECONDS = 2.0  # an ended run may be resumed from another terminal: a lock test and a stat


class RunScreen(InsightTabs, Screen):
    QUIET_CHECK_SECONDS = BEAT_SECONDS  # how often a live run's heartbeat is looked at
    BINDINGS = [
        Binding("p", "pause", "Pause/resume", tooltip="pause or resume training"),
        Binding("x", "stop", "Stop", tooltip="stop after the current batch; the run is saved and can be resumed"),
        Binding("c", "save", "Checkpoint", tooltip="save a checkpoint after the current batch"),
        Binding("s", "again", "Again", tooltip="start a new run with the same settings (after this one ends)"),
        Binding("f", "fork", "Fork", show=False, tooltip="the picker with this run's settings: change any, s starts a new run "
                "(fresh weights) that records this one as its parent"),
        Binding("b,escape", "back", "Back", tooltip="back to where you came from; a live run keeps training"),
        Binding("r", "rendering", "Render", tooltip="draw images another way: real pixels, colour half blocks, "
                "shade or plain characters (those that work in this terminal)"),
        Binding("i", "inspect", "Inspect", show=False, tooltip="architecture, parameters and layer shapes"),
        Binding("l", "log_scale", "Log y", show=False, tooltip="loss charts: a log or a linear y axis"),
        Binding("m", "smoothing", "Smooth", show=False,
                tooltip="batch loss: a moving average over the raw points, stronger each press, then off"),
        Binding("1", "tab(0)", "Charts", show=False, tooltip="charts: loss per batch, loss and accuracy per epoch"),
        Binding("2", "tab(1)", "Epochs", show=False, tooltip="table of finished epochs"),
        Binding("3", "tab(2)", "Images", show=False, tooltip="reconstructions or predictions on test images"),
        Binding("4", "tab(3)", "Model", show=False, tooltip="the architecture and the live model's parameters"),
        Binding("5", "tab(4)", "Layers", show=False,
                tooltip="layer statistics: weight and gradient norms, update ratios, histograms, dead units"),
        Binding("6", "tab(5)", "Activations", show=False, tooltip="a few test images through every layer"),
        Binding("7", "tab(6)", "Errors", show=False,
                tooltip="confusion matrix and most confidently wrong images; an autoencoder's code and worst images"),
        Binding("left_square_bracket", "focus_image(-1)", "Previous image", show=False,
                tooltip="previous image (its probabilities are shown)"),
        Binding("right_square_bracket", "focus_image(1)", "Next image", show=False,
                tooltip="next image (its probabilities are shown)"),
        Binding("n", "page_images(1)", "Next images", show=False, tooltip="images tab: the next page of test images"),
        Binding("N", "page_images(-1)", "Previous images", show=False,
                tooltip="images tab: the previous page of test images"),
    ]

    live: reactive[bool] = reactive(False, bindings=True)
    """A trainer is at work on this run (keys p, x and c reach it)."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = str(folder)
        self.name_text = Path(folder).name
        self.stop_following = threading.Event()
        self.epochs = 0
        self.batches = 0
        self.warnings: tuple[str, ...] = ()
        self.started: ev.RunStarted | None = None
        self.ended = False
        self.save_asked = False
        self.quiet_said = False  # the message line says the trainer is quiet
        self.layer_lease = LayerLease(self)  # asks a live trainer for layer statistics while tab 5 is shown
        self.handlers = {
            ev.Loading: self.on_loading, ev.RunStarted: self.on_started, ev.BatchEnded: self.on_batch,
            ev.EpochEnded: self.on_epoch, ev.Reconstructions: self.on_reconstructions,
            ev.Predictions: self.on_predictions, ev.ParametersSnapshot: self.on_parameters,
            ev.LayerStats: self.on_layer_stats, **self.insight_handlers(),
            ev.CheckpointSaved: self.on_checkpoint, ev.Paused: self.on_paused, ev.RunFinished: self.on_finished,
            ev.RunFailed: self.on_failed, TrainerGone: self.on_gone, LogRestarted: self.on_restarted,
        }

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        yield ProgressLine(id="progress")
        with TabbedContent(id="tabs"):
            with TabPane("1 Charts", id="tab-charts"):
                yield LineChart("loss per logged batch (x: epochs)", [("train", "cyan", "braille")], id="chart-batch")
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
            with TabPane("5 Layers", id="tab-layers"):
                yield LayerStatsView(id="layer-stats")
            yield from self.compose_insight()
        yield Static(id="run-message")
        yield Footer()

    def on_mount(self) -> None:
        self.set_rendering(self.app.rendering)
        self.reset()
        self.live = True  # until the folder says otherwise
        self.follow_run()
        self.set_interval(self.QUIET_CHECK_SECONDS, self.check_quiet)

    def check_quiet(self) -> None:
        """A live run whose trainer has said nothing for minutes (stopped with ^Z or SIGSTOP, stuck on a
        network file system, hung) is said to be quiet: it still holds the run, so it is not interrupted."""
        if not self.live:
            return
        status = read_status(self.folder)
        words = status.quiet_words() if status.live else ""
        if words:
            who = f"process {status.pid}" if status.pid else "the trainer"
            self.say(f"{words.capitalize()} from {who}: stopped (^Z, SIGSTOP), stuck on a slow file system, or hung. "
                     f"It still holds the run; workbench stop {self.name_text} asks it to stop.", warning=True)
            self.quiet_said = True
        elif self.quiet_said:
            self.quiet_said = False
            self.say("The trainer is back.")

    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def follow_run(self) -> None:
        try:
            follow.follow(self, self.folder, self.stop_following)
        except Exception as err:  # noqa: BLE001 - a log that cannot be read is said, not crashed on
            self.post_message(RunEvents(self.folder, (ev.RunFailed(f"cannot read {self.folder}: {err}"),)))
            return
        if not self.stop_following.is_set():
            self.app.call_from_thread(self.watch_for_resume)

    def watch_for_resume(self) -> None:
        """The run ended and its reader returned. `workbench train --resume` from another terminal takes
        the folder again: then this view starts over from the log and follows the run live, as
        `workbench attach` would."""
        stamp = follow.log_stamp(self.folder)

        def check() -> None:
            if lock_holder(self.folder) is None and follow.log_stamp(self.folder) == stamp:
                return
            timer.stop()
            self.reset()
            self.live = True
            self.refresh_bindings()
            self.follow_run()

        timer = self.set_interval(RESUME_WATCH_SECONDS, check)

    def on_unmount(self) -> None:
        self.stop_following.set()

    # -- dispatch --------------------------------------------------------------------------------------

    def on_run_events(self, message: RunEvents) -> None:
        if message.folder != self.folder:
            return
        message.stop()
        # Each LayerStats replaces the last on screen: in a replay's bundle only the latest is drawn
        # (--layer-stats 1 over ten epochs is thousands of them; each redraw rebuilds a table).
        last_stats = max((i for i, e in enumerate(message.events) if isinstance(e, ev.LayerStats)), default=-1)
        # Every BatchEnded is a point on the chart, but the progress line shows only the bundle's latest:
        # while training, the app's CPU is the trainer's loss.
        last_batch = max((i for i, e in enumerate(message.events) if isinstance(e, ev.BatchEnded)), default=-1)
        for i, event in enumerate(message.events):
            if isinstance(event, ev.LayerStats) and i != last_stats:
                continue
            if isinstance(event, ev.BatchEnded) and i != last_batch:
                self.chart_batch(event)
                continue
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(event)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("pause", "stop", "save"):
            return self.live
        if action == "again":
            return not self.live
        return True

    # -- what the trainer said -------------------------------------------------------------------------

    def reset(self) -> None:
        model = self.app_config_model()
        spec = MODELS.get(model or "")
        self.set_class(spec is not None and spec.task == "reconstruct", "-reconstruct")
        for chart in self.query(LineChart):
            chart.clear()
        self.query_one(EpochTable).clear()
        self.query_one(ReconstructionView).clear()
        self.query_one(PredictionView).clear()
        self.query_one("#live-params", ParameterTable).clear()
        self.clear_layer_stats()
        self.reset_insight(spec is not None and spec.task == "reconstruct")
        self.progress.state = "starting"
        self.progress.text = "loading data and building the model…"
        self.progress.gpu = ""
        self.started, self.ended, self.warnings = None, False, ()
        self.say("")
        self.title_line(self.name_text)

    @property
    def resume_command(self) -> str:
        from trainers.models import resume_command

        return resume_command(self.name_text, self.app_config_model())

    def app_config_model(self) -> str | None:
        from trainers.runs import RunReader

        return RunReader(self.folder).config().get("model")

    def title_line(self, *parts: str) -> None:
        """The first part always; then the others, most useful first, as many whole ones as fit (a part is
        never cut: the run folder and sizes are on tab 4 too)."""
        self.title_parts = parts
        width = max(20, self.size.width - 2)
        shown = list(parts[:1])
        for part in parts[1:]:
            if len(" · ".join(shown + [part])) <= width:
                shown.append(part)
        self.query_one("#run-title", Static).update(Text(" · ".join(shown), no_wrap=True, overflow="ellipsis"))

    def on_resize(self) -> None:
        if getattr(self, "title_parts", None):
            self.title_line(*self.title_parts)

    def on_loading(self, e: ev.Loading) -> None:
        if self.started is None:
            self.progress.text = loading_text(e.what, e.done, e.total)

    def on_started(self, e: ev.RunStarted) -> None:
        self.started, self.ended = e, False
        self.live = True
        self.epochs, self.batches = e.epochs, e.batches_per_epoch
        self.warnings = tuple(e.warnings)
        self.set_class(e.task == "reconstruct", "-reconstruct")
        self.label_insight(e.task == "reconstruct")
        from trainers.devices import record_words

        # on a GPU: which one, then (where there is room) its driver and CUDA, as the run recorded them
        gpu = record_words(e.config.get("gpu")).split(" · ")
        device, versions = (gpu[0], " · ".join(gpu[1:])) if gpu[0] else (e.device, "")
        self.title_line(f"{e.model} on {e.dataset}", device, f"{e.parameters:,} params", self.name_text,
                        *([versions] if versions else []), f"{e.train_size:,}/{e.test_size:,} samples")
        resumed = ""
        if e.resumed_at:
            epoch, batch = e.resumed_at
            resumed = (f" · resumed after epoch {epoch}" if batch >= ev.END
                       else f" · resumed at epoch {epoch}, batch {batch}/{e.batches_per_epoch}")
        where = " · ".join(filter(None, [e.device, versions]))
        info = Text(f"{e.parameters:,} parameters ({e.trainable:,} trainable) · {where}{resumed}\n"
                    f"data: {e.data_source or e.dataset} · {e.batches_per_epoch} batches per epoch\n"
                    f"run folder: {self.folder}")
        for note in e.notes:
            info.append(f"\n{note}")
        for warning in self.warnings:
            info.append(f"\nwarning: {warning}", style="bold")
        self.query_one("#run-info", Static).update(info)
        self.query_one(ArchitectureView).show(e.summary)
        self.progress.state = "running"
        self.progress.text = f"epoch {e.start_epoch + 1}/{e.epochs}: first batches…"
        if self.warnings:
            more = f" (+{len(self.warnings) - 1} more on tab 4)" if len(self.warnings) > 1 else ""
            self.say(f"Warning: {self.warnings[0]}{more}", warning=True)
        elif e.notes:
            self.say(e.notes[0])  # --batch-size auto's choice

    def chart_batch(self, e: ev.BatchEnded) -> None:
        self.query_one("#chart-batch", LineChart).add("train", e.epoch - 1 + e.batch / max(e.batches, 1), e.loss)

    def on_batch(self, e: ev.BatchEnded) -> None:
        self.chart_batch(e)
        left = remaining_seconds(e.elapsed, e.step, e.epoch, e.batch, e.batches, self.epochs)
        self.progress.text = progress_text(e.epoch, self.epochs, e.batch, e.batches, e.samples_per_sec, e.elapsed,
                                           left)
        self.progress.gpu = gpu_words(e.gpu_memory, e.gpu_peak, e.gpu_util)  # "" on a CPU: nothing shows

    def on_epoch(self, e: ev.EpochEnded) -> None:
        loss = self.query_one("#chart-loss", LineChart)
        loss.add("train", e.epoch, e.train_loss)
        loss.add("test", e.epoch, e.test_loss)
        acc = self.query_one("#chart-acc", LineChart)
        acc.add("train", e.epoch, e.train_accuracy)
        acc.add("test", e.epoch, e.test_accuracy)
        self.query_one(EpochTable).add_epoch(e.epoch, e.epochs, e.train_loss, e.train_accuracy, e.test_loss,
                                             e.test_accuracy, e.seconds, e.samples_per_sec)

    def on_reconstructions(self, e: ev.Reconstructions) -> None:
        if e.originals is not None and e.outputs is not None:
            self.query_one(ReconstructionView).show(e.epoch, e.originals, e.outputs)

    def on_predictions(self, e: ev.Predictions) -> None:
        if e.images is not None and e.probabilities is not None:
            self.query_one(PredictionView).show(e)

    def on_parameters(self, e: ev.ParametersSnapshot) -> None:
        when = "at initialisation" if e.epoch == 0 else f"after epoch {e.epoch}"
        self.query_one("#params-title", Static).update(Text(f"named parameters {when}"))
        self.query_one("#live-params", ParameterTable).show(e.parameters)

    def on_checkpoint(self, e: ev.CheckpointSaved) -> None:
        # The trainer also saves after every epoch; only the save someone asked for is worth a message.
        if self.save_asked:
            self.save_asked = False
            self.say(f"Checkpoint of {e.label} saved to {e.path}")

    def on_paused(self, e: ev.Paused) -> None:
        if self.live:
            self.progress.state = "paused" if e.paused else "running"

    def _no_time_left(self) -> None:
        """An ended run has no time left: the progress line keeps where it got to and how long it took."""
        text = self.progress.text
        if text.endswith(" left"):
            self.progress.text = text.rsplit("  ", 1)[0]

    def on_finished(self, e: ev.RunFinished) -> None:
        self.ended, self.live = True, False
        self._no_time_left()
        self.progress.state = "stopped" if e.stopped else "finished"
        parts = [f"{'Stopped' if e.stopped else 'Finished'}: {e.epochs_completed} epoch(s) in {e.seconds:.1f}s"]
        if e.final_test_accuracy is not None:
            parts.append(f"test accuracy {100 * e.final_test_accuracy:.2f}%")
        elif e.final_test_loss is not None:
            parts.append(f"test loss {e.final_test_loss:.4f}")
        if e.stopped:
            parts.append(f"{self.resume_command} continues it")
        if self.warnings:
            parts.append(f"{len(self.warnings)} data warning(s) on tab 4")
        self.say(" · ".join(parts) + " · s again · b back")

    def on_failed(self, e: ev.RunFailed) -> None:
        self.ended, self.live = True, False
        self.progress.state = "failed"
        self._no_time_left()
        if self.started is None:  # the text still says what was loading
            self.progress.text = "the run could not start"
        saved = f" The last good weights are in {e.checkpoint}." if e.checkpoint else ""
        self.say(f"Failed: {e.reason}{saved} b goes back.", error=True)

    def on_gone(self, e: TrainerGone) -> None:
        self.ended, self.live = True, False
        self.progress.state = "interrupted"
        self._no_time_left()
        self.say(f"Interrupted: {e.reason}. {self.resume_command} continues from the last "
                 f"checkpoint.", error=True)

    def on_restarted(self, _e: LogRestarted) -> None:
        self.reset()  # the run was resumed and its log cut back to the checkpoint: replay follows

    # -- the Layers tab: shown from a LayerStats; asked of a live trainer while the tab is shown ---------

    @property
    def layers_view(self) -> LayerStatsView:
        return self.query_one(LayerStatsView)

    def layer_stats_every(self) -> int | None:
        from trainers.runs import RunReader

        config = self.started.config if self.started is not None else RunReader(self.folder).config()
        return (config or {}).get("layer_stats")

    def on_layer_stats(self, e: ev.LayerStats) -> None:
        self.layers_view.show(e)

    def watch_live(self, live: bool) -> None:
        self.layers_view.expect(self.layer_stats_every(), live, WATCH_EVERY)

    def clear_layer_stats(self) -> None:
        self.layers_view.note("")
        self.layers_view.expect(self.layer_stats_every(), self.live, WATCH_EVERY)

    @on(TabbedContent.TabActivated)
    def layers_tab_shown(self, event: TabbedContent.TabActivated) -> None:
        self.layer_lease.shown(event.pane is not None and event.pane.id == "tab-layers")

    # -- keys ------------------------------------------------------------------------------------------

    @property
    def progress(self) -> ProgressLine:
        return self.query_one(ProgressLine)

    def say(self, message: str, error: bool = False, warning: bool = False) -> None:
        line = self.query_one("#run-message", Static)
        line.update(Text(message))
        line.set_class(error, "-error")
        line.set_class(warning and not error, "-warning")

    def control(self, action: str) -> bool:
        try:
            send(self.folder, action)
            return True
        except (OSError, WorkbenchError) as err:
            self.say(f"Could not reach the trainer through {self.folder}: {getattr(err, 'strerror', None) or err}",
                     error=True)
            return False

    def action_pause(self) -> None:
        paused = self.progress.state in ("paused", "pausing")
        if self.control("resume" if paused else "pause"):
            self.progress.state = "running" if paused else "pausing"

    def action_stop(self) -> None:
        if self.control("stop"):
            self.progress.state = "stopping"
            self.say("Stopping after the current batch; the run is saved and can be resumed.")

    def action_save(self) -> None:
        if self.control("save"):
            self.save_asked = True
            self.say("A checkpoint will be saved after the current batch.")

    def action_again(self) -> None:
        from trainers.config import RunConfig
        from trainers.runs import RunReader

        saved = RunReader(self.folder).config()
        if not saved:
            self.say("This run never started, so there are no settings to repeat.", error=True)
            return
        config = RunConfig.from_dict({**saved, "out": None, "resume": None})
        self.with_trusted_model(saved, lambda _model: self.app.post_message(StartRun(config)))

    def action_fork(self) -> None:
        from trainers.config import RunConfig
        from trainers.runs import RunReader

        from workbench.messages import ShowInPicker

        saved = RunReader(self.folder).config()
        if not saved:
            self.say("This run never started, so there are no settings to start from.", error=True)
            return
        config = RunConfig.forked(saved, self.folder)
        note = fork_note(self.name_text)
        self.with_trusted_model(saved, lambda _model: self.app.post_message(ShowInPicker(config, note)))

    def action_back(self) -> None:
        if self.live:
            self.app.notify(f"{self.name_text} keeps training; R lists runs, and Enter there attaches again.",
                            timeout=6)
        self.app.pop_screen()

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        if index == 1:
            self.query_one(EpochTable).focus()  # the arrows then scroll the table
        elif index == 3:
            self.query_one(ArchitectureView).focus()
        elif not self.focus_insight(TABS[index]):
            self.set_focus(None)  # number keys keep working from every tab

    def action_rendering(self) -> None:
        from workbench.render.images import DESCRIPTIONS, next_rendering

        modes = self.app.renderings  # only those that show something in this terminal
        self.app.rendering = next_rendering(self.app.rendering, modes)
        self.set_rendering(self.app.rendering)
        self.say(f"Images drawn as {DESCRIPTIONS[self.app.rendering]} (r: {', '.join(modes)}).")

    def action_log_scale(self) -> None:
        charts = [self.query_one("#chart-batch", LineChart), self.query_one("#chart-loss", LineChart)]
        log_y = not charts[0].log_y
        for chart in charts:
            chart.set_view(log_y=log_y)
        self.say(f"Loss charts on a {'log' if log_y else 'linear'} scale (l switches).")

    def action_smoothing(self) -> None:
        from workbench.widgets.shared.charts import SMOOTHING

        chart = self.query_one("#chart-batch", LineChart)
        later = [s for s in SMOOTHING if s > chart.smoothing]
        chart.set_view(smoothing=later[0] if later else 0.0)
        self.say(f"Batch loss smoothing {chart.smoothing:g} (m: stronger, then off)." if chart.smoothing
                 else "Batch loss drawn raw (m smooths it).")

    def set_rendering(self, rendering: str) -> None:
        self.query_one(ReconstructionView).rendering = rendering
        self.query_one(PredictionView).rendering = rendering
        self.set_insight_rendering(rendering)

    def action_focus_image(self, step: int) -> None:
        self.query_one(PredictionView).focus_index += step

    def action_page_images(self, step: int) -> None:
        self.query_one(ReconstructionView).page(step)
        self.query_one(PredictionView).page(step)

    def action_inspect(self) -> None:
        from trainers.runs import RunReader

        from workbench.screens.inspect import InspectScreen

        config = RunReader(self.folder).config()
        self.with_trusted_model(config, lambda model: self.app.push_screen(
            InspectScreen(model, config.get("dataset"), config.get("data_dir"))))

    def with_trusted_model(self, config: dict, then) -> None:
        """then(model) for the model the run's config names, once it may be built here: a zoo model at once; a
        file (the folder may be someone else's, and building the model runs it) after the user has seen its
        path and digest and said yes (TrustScreen), or named it when starting the app."""
        model = config.get("model")
        if not isinstance(model, str) or not model:
            return
        if model in MODELS or model in self.app.trusted_models:
            then(model)
        elif is_user_model(model):
            from workbench.screens.trust import TrustScreen

            def answered(allowed: bool | None) -> None:
                if allowed:
                    self.app.trusted_models.add(model)
                    then(model)

            self.app.push_screen(TrustScreen(model, config.get("model_sha256"), self.name_text), answered)
        else:
            self.say(f"{self.name_text} names the model {model[:80]!r}, which is not one of the workbench's; "
                     f"nothing was run.", error=True)


def fork_note(name: str) -> str:
    return f"{name}'s settings: change any, s starts a new run from fresh weights, with {name} as its parent."
