"""The Sweep screen: a sweep's trials as they run, sortable; their curves overlaid, the best so far, and
which settings matter. Everything is read from the sweep's folder (trainers.sweeps.view.read_sweep, in a
thread worker: it imports Optuna and replays its journal), so it shows a sweep started here, in another
terminal, detached or on Slurm alike. Keys steer through the folder too: a trial's control file, the sweep
process's SIGTERM, SWEEP/hold.json."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from trainers.errors import WorkbenchError
from trainers.runs import read_json, read_status, send, write_json
from trainers.sweeps.study import HOLD  # {"hold": true}: the sweep process starts no new trial while it says so

from workbench.messages import ShowInPicker
from workbench.widgets.sweep.charts import BestSoFar, TrialCurves
from workbench.widgets.sweep.importances import ImportanceBars
from workbench.widgets.sweep.trials import TrialTable, metric_text, setting_text

REFRESH_SECONDS = 2.0  # a read replays the journal: a few ms for a small sweep, and trials change by epochs
HINT = "Enter opens the trial · Space marks, c compares · o sorts · ? every key"


def hold_asked(folder: Path) -> bool:
    return bool((read_json(folder / HOLD) or {}).get("hold"))


def folder_stamp(folder: Path) -> tuple:
    """What changes when anything happens to a sweep that is not running (a `--resume`, a trial's end)."""
    from trainers.sweeps.study import JOURNAL, SWEEPER, sweeper_pid

    stamp: list = [sweeper_pid(folder)]
    for name in (JOURNAL, SWEEPER, HOLD):
        try:
            st = (folder / name).stat()
            stamp.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class SweepScreen(Screen):
    BINDINGS = [
        Binding("enter", "attach", "Attach", tooltip="open the highlighted trial's run (a live one is followed)"),
        Binding("space", "mark", "Mark", show=False, tooltip="mark or unmark the trial for comparing"),
        Binding("c", "compare", "Compare", show=False, tooltip="overlay the marked trials' curves (two or more)"),
        Binding("x", "stop_trial", "Stop",
                tooltip="stop the highlighted trial after its batch (saved; the sweep counts it as pruned)"),
        Binding("X", "stop_sweep", "Stop sweep",
                tooltip="stop the whole sweep (asks first): its running trials save; workbench sweep --resume continues"),
        Binding("p", "hold", "Hold", tooltip="start no new trials (the running ones go on); p again lets them start"),
        Binding("f", "further", "Train best", tooltip="the picker with the best trial's settings, to train it longer"),
        Binding("o", "sort", "Sort", tooltip="sort by the next column (a click on a header sorts by it)"),
        Binding("O", "reverse", "Reverse", show=False, tooltip="sort the other way round"),
        Binding("b,escape", "back", "Back", tooltip="back; the sweep keeps running"),
        Binding("j", "cursor(1)", "Down", show=False, tooltip="the next trial"),
        Binding("k", "cursor(-1)", "Up", show=False, tooltip="the previous trial"),
    ]

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.view = None  # the latest SweepView
        self.stop_following = threading.Event()
        self.asking_stop: int | None = None  # the sweep process's pid while "stop the sweep?" waits for y/n
        self.holding = hold_asked(self.folder)
        self.said_empty = False  # the message line says there is no trial yet

    def compose(self) -> ComposeResult:
        from trainers.sweeps.study import SweepSpec

        try:
            metric = SweepSpec.load(self.folder).metric
        except WorkbenchError:
            metric = "test_accuracy"
        yield Static(id="sweep-title")
        yield Static(id="sweep-best")
        yield Static(id="sweep-problem")
        yield TrialTable(id="sweep-trials")
        with Horizontal(id="sweep-charts"):
            yield TrialCurves(metric, id="sweep-curves")
            yield BestSoFar(metric, id="sweep-best-chart")
            yield ImportanceBars(id="sweep-importances", classes="-empty")
        yield Static(id="sweep-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sweep-title", Static).update(Text(f"Sweep {self.folder.name} · reading…", no_wrap=True))
        self.query_one("#sweep-problem").display = False
        self.table.focus()
        self.say(HINT)
        self.follow_sweep()

    def on_unmount(self) -> None:
        self.stop_following.set()

    # -- typed accessors -------------------------------------------------------------------------------

    @property
    def table(self) -> TrialTable:
        return self.query_one(TrialTable)

    @property
    def curves(self) -> TrialCurves:
        return self.query_one(TrialCurves)

    @property
    def best_chart(self) -> BestSoFar:
        return self.query_one(BestSoFar)

    @property
    def importances(self) -> ImportanceBars:
        return self.query_one(ImportanceBars)

    def say(self, text: str, error: bool = False) -> None:
        line = self.query_one("#sweep-message", Static)
        line.update(Text(text))
        line.set_class(error, "-error")

    # -- following ---------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sweep", exit_on_error=False)
    def follow_sweep(self) -> None:
        """Read the sweep every REFRESH_SECONDS while it or a trial runs; once it has ended, read it again
        only when its folder changes (a `workbench sweep --resume` from another terminal)."""
        from trainers.sweeps.view import read_sweep

        stamp, live = None, True
        while not self.stop_following.is_set():
            now = folder_stamp(self.folder)
            if live or now != stamp:
                stamp = now
                try:
                    view = read_sweep(self.folder, importances=True)
                except (WorkbenchError, OSError) as err:
                    view, live = None, False
                    problem = str(err)
                if self.stop_following.is_set():
                    return
                if view is None:
                    self.app.call_from_thread(self.show_problem, problem)
                else:
                    # a stopped sweep's trials take a moment to save: followed until they have
                    live = view.state == "running" or any(t.state == "running" for t in view.trials)
                    self.app.call_from_thread(self.show_view, view, hold_asked(self.folder))
            self.stop_following.wait(REFRESH_SECONDS)

    def show_problem(self, problem: str) -> None:
        line = self.query_one("#sweep-problem", Static)
        # one line: the sweep's own folder is the screen's subject, so its path is left out
        line.update(Text(problem.replace(f"{self.folder}{os.sep}", ""), no_wrap=True, overflow="ellipsis"))
        line.tooltip = problem
        line.display = True

    def show_view(self, view, holding: bool) -> None:
        self.view = view
        self.holding = holding
        self.query_one("#sweep-title", Static).update(title_line(view, holding))
        self.query_one("#sweep-best", Static).update(best_line(view))
        if view.problem:
            self.show_problem(view.problem)
        else:
            self.query_one("#sweep-problem").display = False
        self.table.show(view)
        self.curves.show(view.trials)
        self.best_chart.show(view.best_so_far())
        self.importances.show(view.importances)
        if not view.trials and self.asking_stop is None:
            self.said_empty = True
            self.say("No trial has started yet." if view.state == "running" else
                     f"No trials: `workbench sweep --resume {self.folder}` starts this sweep.")
        elif view.trials and self.said_empty:
            self.said_empty = False
            self.say(HINT)

    # -- keys --------------------------------------------------------------------------------------------

    def trial(self):
        t = self.table.current_trial()
        if t is None:
            self.say("No trial is highlighted.", error=True)
        return t

    def action_attach(self) -> None:
        t = self.trial()
        if t is None:
            return
        if not (t.folder / "events.jsonl").exists() and not (t.folder / "request.json").exists():
            self.say(f"Trial {t.number} has not started yet: nothing to open.", error=True)
            return
        from workbench.screens.run import RunScreen

        self.app.push_screen(RunScreen(str(t.folder)))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_attach()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key and key != " ":
            self.table.sort_by(key)
            self.say(f"Sorted by {self.table.header(key)} (o: the next column, O: the other way round).")

    def action_mark(self) -> None:
        self.table.toggle_mark()

    def action_compare(self) -> None:
        view = self.view
        marked = [t for t in (view.trials if view else []) if t.number in self.table.marked]
        folders = [str(t.folder) for t in marked if (t.folder / "events.jsonl").exists()]
        if len(folders) < 2:
            self.say("Mark two or more started trials with Space first, then c compares them.", error=True)
            return
        from workbench.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(folders))

    def action_stop_trial(self) -> None:
        t = self.trial()
        if t is None:
            return
        if not read_status(t.folder).live:
            self.say(f"Trial {t.number} is not training ({t.state}); nothing to stop.", error=True)
            return
        try:
            send(t.folder, "stop")
        except (OSError, WorkbenchError) as err:
            self.say(f"Could not ask trial {t.number} to stop: {err}", error=True)
            return
        self.say(f"Asked trial {t.number} to stop after its batch: it is saved, and the sweep counts it as pruned.")

    def action_stop_sweep(self) -> None:
        from trainers.sweeps.study import sweeper_pid

        pid = sweeper_pid(self.folder)
        if pid is None:
            self.say(f"The sweep's process is not running here; `workbench sweep --resume {self.folder.name}` "
                     f"continues it.", error=True)
            return
        if pid < 0:
            self.say("The sweep runs, but its sweeper.json does not say its process; `workbench stop` cannot "
                     "reach it either.", error=True)
            return
        self.asking_stop = pid
        self.say("Stop the whole sweep? y stops it: its running trials save, and `workbench sweep --resume` "
                 "continues it later. n (any other key) keeps it.")

    def on_key(self, event) -> None:
        if self.asking_stop is None:
            return
        pid, self.asking_stop = self.asking_stop, None
        event.stop()  # the answer is only an answer: n, Esc or q do nothing else now
        event.prevent_default()
        if event.key != "y":
            self.say("The sweep goes on.")
            return
        try:
            os.kill(pid, signal.SIGTERM)  # the sweep process's stop: its trials save, then it ends
        except OSError as err:
            self.say(f"Could not stop the sweep's process {pid}: {err.strerror or err}.", error=True)
            return
        self.say(f"Stopping the sweep: its running trials save; `workbench sweep --resume {self.folder.name}` "
                 f"continues it.")

    def action_hold(self) -> None:
        hold = not hold_asked(self.folder)
        try:
            write_json(self.folder / HOLD, {"hold": hold})
        except (OSError, WorkbenchError) as err:
            self.say(f"Could not write {self.folder / HOLD}: {err}", error=True)
            return
        self.holding = hold
        if self.view is not None:
            self.query_one("#sweep-title", Static).update(title_line(self.view, hold))
        self.say("Holding: no new trial starts; the running ones go on. p lets them start again." if hold else
                 "New trials start again as slots free up.")

    def action_further(self) -> None:
        """The picker with the best trial's settings, epochs doubled: a new run of them, trained longer."""
        best = self.view.best if self.view is not None else None
        if best is None:
            self.say("No trial has finished yet, so there is no best to train further.", error=True)
            return
        from trainers.config import RunConfig
        from trainers.runs import RunReader

        saved = RunReader(best.folder).config()
        if not saved:
            self.say(f"Trial {best.number}'s settings cannot be read ({best.folder / 'config.json'}).", error=True)
            return
        epochs = 2 * int(saved.get("epochs") or best.epochs or 1)
        # a trial's threads were its share of the cores beside the others: a run of its own takes them all;
        # the new run records the trial as its parent, as f on any run does
        config = dataclasses.replace(RunConfig.forked(saved, str(best.folder)), threads=None, epochs=epochs)
        settings = " ".join(f"{n}={setting_text(v)}" for n, v in best.params.items())
        note = (f"Trial {best.number}'s settings ({settings}), {epochs} epochs instead of "
                f"{saved.get('epochs')}: change any, s starts.")
        self.with_trusted_model(saved, lambda: self.app.post_message(ShowInPicker(config, note)))

    def with_trusted_model(self, saved: dict, then) -> None:
        """A model file named by the sweep's folder runs only after the user has seen its path and digest."""
        from trainers.models.registry import MODELS, is_user_model

        model = saved.get("model")
        if model in MODELS or model in self.app.trusted_models or not (isinstance(model, str) and is_user_model(model)):
            then()
            return
        from workbench.screens.trust import TrustScreen

        def answered(allowed: bool | None) -> None:
            if allowed:
                self.app.trusted_models.add(model)
                then()

        self.app.push_screen(TrustScreen(model, saved.get("model_sha256"), self.folder.name), answered)

    def action_sort(self) -> None:
        label = self.table.sort_next()
        self.say(f"Sorted by {label} (o: the next column, O: the other way round, or click a header).")

    def action_reverse(self) -> None:
        self.table.reverse()
        self.say(f"Sorted by {self.table.header(self.table.sort_column)}.")

    def action_cursor(self, step: int) -> None:
        if step > 0:
            self.table.action_cursor_down()
        else:
            self.table.action_cursor_up()

    def action_back(self) -> None:
        self.app.pop_screen()


def counts_words(view) -> str:
    c = view.counts()
    done = c["finished"] + c["pruned"] + c["failed"]
    parts = [f"{done}/{view.spec.trials} done"]
    parts += [f"{c[s]} {s}" for s in ("running", "waiting", "pruned", "failed", "stopped", "interrupted") if c[s]]
    return ", ".join(parts)


def title_line(view, holding: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" {view.state} ", style="reverse bold")
    if holding and view.state == "running":
        text.append(" holding: no new trials ", style="reverse")
    text.append(f" {counts_words(view)} · {view.folder.name}")
    return text


def best_line(view) -> Text:
    spec = view.spec
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{spec.direction} {spec.metric}")
    best = view.best
    if best is None:
        text.append(" · no trial finished yet")
    else:
        text.append(" · best ")
        text.append(f"★ trial {best.number}: {metric_text(spec.metric, best.value)}", style="bold")
        text.append(" · " + " ".join(f"{n}={setting_text(v)}" for n, v in best.params.items()))
    return text
