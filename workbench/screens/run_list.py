"""The Runs screen: every run in the runs home with its status, a live one marked. Enter opens one (live
runs are attached), Space marks runs and c compares the marked ones, x stops a live one, / filters."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from trainers.errors import WorkbenchError
from trainers.runs import RunSummary, list_runs, runs_home, send
from trainers.runs.status import quiet_words

from workbench.render.text import age, fit_columns as fit_cells, lineage
from workbench.widgets.shared.filter_list import matches

HINT = "Enter opens · Space marks · c compares the marked · f forks · x stops a live run"
REFRESH_SECONDS = 2.0  # statuses and epochs of live runs change; a listing is a few small file reads


class RunListScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="open the highlighted run (a live one is attached)"),
        Binding("space", "mark", "Mark", tooltip="mark or unmark the run for comparing"),
        Binding("c", "compare", "Compare", tooltip="overlay the marked runs' curves (two or more)"),
        Binding("f", "fork", "Fork", tooltip="the picker with the highlighted run's settings: s there starts a new "
                "run that records this one as its parent"),
        Binding("x", "stop", "Stop", tooltip="stop the highlighted run after its current batch (asks first)"),
        Binding("slash", "filter", "Filter", tooltip="filter the runs by name, model, dataset or status"),
        Binding("b,escape", "back", "Back", tooltip="back (Esc clears a filter first)"),
        Binding("j", "cursor(1)", "Down", show=False, tooltip="the next run (as in the picker)"),
        Binding("k", "cursor(-1)", "Up", show=False, tooltip="the previous run"),
    ]

    def __init__(self, highlight: str | None = None, note: str = "") -> None:
        super().__init__()
        self.summaries: list[RunSummary] = []
        self.marked: set[str] = set()
        self.highlight = highlight
        self.note = note
        self.confirm_stop: str | None = None
        self.said_quiet = False  # the message line speaks of a quiet run
        self.sweeps: list = []  # SweepViews of the sweeps in the runs home: one row each
        self.sweep_cache: dict[str, tuple] = {}  # folder -> (its stamp, its view): read again when it changes

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield Input(placeholder="filter: letters are text here; Enter or Esc returns to the list", id="runs-filter",
                    compact=True)
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="runs-message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*HEADERS)
        self.query_one("#runs-filter").display = False
        self.refresh_runs()
        self.set_interval(REFRESH_SECONDS, self.refresh_runs)
        table.focus()
        self.say(self.note or HINT)  # / is in the footer

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def say(self, text: str, error: bool = False) -> None:
        line = self.query_one("#runs-message", Static)
        line.update(Text(text))
        line.set_class(error, "-error")

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def refresh_runs(self) -> None:
        summaries = list_runs()
        sweeps = self.read_sweeps()
        self.app.call_from_thread(self.show_runs, summaries, sweeps)

    def read_sweeps(self) -> list:
        """The sweeps in the runs home (Optuna is imported only when there is one), each read again only
        when its journal or its process changed."""
        from trainers.sweeps import list_sweeps

        found = list_sweeps()
        if not found:
            return []
        from trainers.sweeps.view import read_sweep

        from workbench.screens.sweep import folder_stamp

        views = []
        for folder in found:
            stamp = folder_stamp(folder)
            cached = self.sweep_cache.get(str(folder))
            if cached is None or cached[0] != stamp:
                try:
                    cached = (stamp, read_sweep(folder))
                except (WorkbenchError, OSError):
                    continue
                self.sweep_cache[str(folder)] = cached
            views.append(cached[1])
        return views

    def show_runs(self, summaries: list[RunSummary], sweeps: list | None = None) -> None:
        self.summaries = summaries
        self.sweeps = self.sweeps if sweeps is None else sweeps
        table = self.table
        current = self.current_key() or self.highlight
        query = self.query_one("#runs-filter", Input).value
        table.clear()
        now = time.time()
        rows = []
        for s in summaries:
            state = status_word(s)
            if query and not matches(query, f"{s.name} {s.model} {s.dataset} {state}"):
                continue
            best = (f"{100 * s.best_accuracy:.2f}%" if s.best_accuracy is not None
                    else f"{s.best_loss:.4f}" if s.best_loss is not None else "-")
            mark = "✓" if s.folder in self.marked else ("●" if s.live else " ")
            rows.append((s, [mark, short_name(s), s.model, s.dataset, f"{s.epochs_done}/{s.epochs}", best, state,
                             age(now - s.started)]))
        for view in self.sweeps:
            if query and not matches(query, f"{view.folder.name} sweep {view.spec.base.get('dataset')} {view.state}"):
                continue
            rows.append((view, sweep_cells(view, now)))
        rows.sort(key=lambda row: -started(row[0]))
        for (s, _), cells in zip(rows, fit_columns([cells for _, cells in rows], self.size.width or 80)):
            if not isinstance(s, RunSummary):
                style = "bold" if s.state == "running" else ("red" if s.state == "interrupted" else "")
                cells[1], cells[6] = Text(cells[1], style=style), Text(cells[6], style=style)
                table.add_row(*cells, key=str(s.folder))
                continue
            style = ("bold yellow" if s.quiet else "bold") if s.live else (
                "red" if s.state in ("failed", "interrupted") else "")
            cells[1], cells[6] = Text(cells[1], style=style), Text(cells[6], style=style)
            table.add_row(*cells, key=s.folder)
        shown = len(rows)
        if current is not None and current in [s.folder for s in summaries] + [str(v.folder) for v in self.sweeps]:
            try:
                table.move_cursor(row=table.get_row_index(current))
            except Exception:  # noqa: BLE001 - filtered out: the cursor stays where it is
                pass
        live = sum(1 for s in summaries if s.live)
        filt = f" · filter {query!r}: {shown} shown" if query else ""
        swept = f", {len(self.sweeps)} sweep(s)" if self.sweeps else ""
        self.query_one("#runs-title", Static).update(Text(
            f"Runs in {runs_home()} · {len(summaries)} run(s), {live} training{swept} · {len(self.marked)} marked{filt}",
            no_wrap=True, overflow="ellipsis"))
        if not summaries and not self.sweeps:
            self.say("No runs yet: b goes back to the picker, where s starts one.")
        quiet = [s for s in summaries if s.quiet]
        if quiet and self.confirm_stop is None:
            self.say(f"{quiet[0].name}: {quiet_words(quiet[0].quiet)} from its trainer: stopped (^Z, SIGSTOP), stuck "
                     f"on a slow file system, or hung. x asks it to stop.", error=True)
            self.said_quiet = True
        elif self.said_quiet:
            self.said_quiet = False
            self.say(HINT)

    def current_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or changing table has no cursor row
            return None

    def summary(self, folder: str | None) -> RunSummary | None:
        return next((s for s in self.summaries if s.folder == folder), None)

    # -- keys ------------------------------------------------------------------------------------------

    def sweep(self, folder: str | None):
        return next((v for v in self.sweeps if str(v.folder) == folder), None)

    def action_open(self) -> None:
        folder = self.current_key()
        if folder is None:
            return
        if self.sweep(folder) is not None:
            from workbench.screens.sweep import SweepScreen

            self.app.push_screen(SweepScreen(folder))
            return
        from workbench.screens.run import RunScreen

        self.app.push_screen(RunScreen(folder))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_mark(self) -> None:
        folder = self.current_key()
        if folder is None:
            return
        if self.sweep(folder) is not None:
            self.say("A sweep's trials are marked and compared in the sweep: Enter opens it.", error=True)
            return
        self.marked ^= {folder}
        self.show_runs(self.summaries)
        self.table.action_cursor_down()

    def action_compare(self) -> None:
        folders = [s.folder for s in self.summaries if s.folder in self.marked]
        if len(folders) < 2:
            self.say("Mark two or more runs with Space first, then c compares them.", error=True)
            return
        from workbench.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(folders))

    def action_fork(self) -> None:
        folder = self.current_key()
        if folder is None:
            return
        if self.sweep(folder) is not None:
            self.say("Enter opens the sweep: f there takes its best trial's settings to the picker.", error=True)
            return
        from trainers.config import RunConfig
        from trainers.models.registry import MODELS, is_user_model
        from trainers.runs import RunReader

        from workbench.messages import ShowInPicker
        from workbench.screens.run import fork_note

        saved = RunReader(folder).config()
        name = Path(folder).name
        if not saved:
            self.say(f"{name} never started, so there are no settings to start from.", error=True)
            return
        config = RunConfig.forked(saved, folder)
        model = saved.get("model")
        if model in MODELS or model in self.app.trusted_models:
            self.app.post_message(ShowInPicker(config, fork_note(name)))
        elif isinstance(model, str) and is_user_model(model):
            from workbench.screens.trust import TrustScreen

            def answered(allowed: bool | None) -> None:
                if allowed:
                    self.app.trusted_models.add(model)
                    self.app.post_message(ShowInPicker(config, fork_note(name)))

            self.app.push_screen(TrustScreen(model, saved.get("model_sha256"), name), answered)
        else:
            self.say(f"{name} names the model {str(model)[:80]!r}, which is not one of the workbench's; nothing was "
                     f"run.", error=True)

    def action_stop(self) -> None:
        folder = self.current_key()
        s = self.summary(folder)
        if self.sweep(folder) is not None:
            self.say("Enter opens the sweep: X there stops it (or `workbench stop SWEEP`).", error=True)
            return
        if s is None or not s.live:
            self.say("Only a run that is training can be stopped.", error=True)
            return
        if self.confirm_stop != folder:
            self.confirm_stop = folder
            self.say(f"Stop {s.name}? x again stops it after its current batch (it is saved); any other key keeps it.")
            return
        self.confirm_stop = None
        try:
            send(folder, "stop")
        except (OSError, WorkbenchError) as err:
            self.say(f"Could not ask {s.name} to stop: {err}", error=True)
            return
        self.say(f"Asked {s.name} to stop after its current batch.")

    def on_key(self, event) -> None:
        if self.confirm_stop is not None and event.key != "x":
            self.confirm_stop = None
            self.say("Kept training.")
            if event.key == "escape":
                event.stop()  # Esc answers the question; it does not also leave the screen

    def action_cursor(self, step: int) -> None:
        if step > 0:
            self.table.action_cursor_down()
        else:
            self.table.action_cursor_up()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self) -> None:
        self.show_runs(self.summaries)

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.value or box.has_focus:
            box.value = ""
            box.display = False
            self.table.focus()
            return
        self.app.pop_screen()


SHRINKS = (1, 3, 2)  # columns that give up width when a row would not fit: run, dataset, model


def fit_columns(rows: list[list[str]], width: int) -> list[list[str]]:
    """The rows with the run, dataset and model columns cut (with …) so that a table of `width` cells shows
    every column whole: status and start time are never what a narrow terminal loses."""
    return fit_cells(rows, HEADERS, width, SHRINKS)


HEADERS = (" ", "run", "model", "dataset", "epochs", "best", "status", "started")


def status_word(s: RunSummary) -> str:
    """The status column: the state (a live run's with its GPU), or how long a live run's trainer has said
    nothing."""
    if s.quiet:
        return f"no word {s.quiet / 60:.0f}m"  # the message line says it in full
    return f"{s.state} {s.gpu}" if s.live and s.gpu else s.state


def short_name(s: RunSummary) -> str:
    """A run's name without the model and dataset its own columns show: MODEL-DATASET-TIME -> TIME."""
    prefix = f"{s.model}-{s.dataset}-"
    name = s.name[len(prefix):] if s.name.startswith(prefix) and len(s.name) > len(prefix) else s.name
    parent = s.parent[len(prefix):] if s.parent.startswith(prefix) and len(s.parent) > len(prefix) else s.parent
    return lineage(name, parent)


def sweep_cells(view, now: float) -> list[str]:
    """A sweep as one row of the runs: its name, "sweep", trials done of all, its best value, its state."""
    from workbench.widgets.sweep.trials import metric_text

    c = view.counts()
    done = c["finished"] + c["pruned"] + c["failed"]
    best = view.best
    return ["●" if view.state == "running" else " ", view.folder.name, "sweep", str(view.spec.base.get("dataset") or "?"),
            f"{done}/{view.spec.trials}", metric_text(view.spec.metric, best.value) if best else "-", view.state,
            age(now - (view.spec.created or now))]


def started(row) -> float:
    return row.started if isinstance(row, RunSummary) else (row.spec.created or 0.0)


def newest_live() -> RunSummary | None:
    return next((s for s in list_runs() if s.live), None)
