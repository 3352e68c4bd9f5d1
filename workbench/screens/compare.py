"""Compare runs: their curves overlaid on shared charts (test accuracy and loss per epoch, training loss per
batch on a common axis in epochs), one colour and legend entry per run, and their settings side by side
with the differences marked. Live runs keep updating: each is followed like any other view of a run."""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from trainers import events as ev
from trainers.runs import LogRestarted, RunReader

from workbench import follow
from workbench.messages import RunEvents
from workbench.options import HYPERPARAMETERS
from workbench.widgets.shared.charts import MARKER_GLYPH, LineChart, marker_set, markers, next_marker_set

COLORS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")  # plotext's names
RICH = {"orange": "dark_orange"}  # the same colours as rich names them, where they differ
# The settings always lined up; any other is shown where the runs differ in it.
SETTINGS = ("model", "dataset", *HYPERPARAMETERS, "seed", "device", "normalize")
TABS = ("tab-curves", "tab-batches", "tab-settings")


def _rich(i: int) -> str:
    color = COLORS[i % len(COLORS)]
    return RICH.get(color, color)


def short_names(folders: list[str]) -> list[str]:
    """Legend labels, short enough for a legend at 80 columns: "1 lenet5", "2 mlp-deep"; the same model
    twice is told apart by the end of its run's name (the time it started)."""
    models = [RunReader(f).config().get("model") or Path(f).name for f in folders]
    models = [Path(m.split(":")[0]).stem if ":" in m else m for m in models]
    labels = []
    for i, (folder, model) in enumerate(zip(folders, models)):
        label = f"{i + 1} {model}"
        if models.count(model) > 1:
            label += f" {Path(folder).name[-6:]}"
        labels.append(label)
    return labels


NOT_SETTINGS = ("out", "resume", "run", "from_run", "weights_from", "parent")  # where a run lives and how it
# started, not how it trains (a fork's parent is said in the title and its own row)


def forks(folders: list[str], configs: list[dict], labels: list[str]) -> list[str]:
    """Each compared run's parent, in words: its label when it is compared too ("2 mlp ← 1 mlp, its weights"),
    else the parent's name; "" for a run forked from none."""
    where = {str(Path(f).resolve()): label for f, label in zip(folders, labels)}
    said = []
    for config in configs:
        parent = config.get("parent") if isinstance(config.get("parent"), dict) else {}
        name = parent.get("run")
        if not isinstance(name, str) or not name:
            said.append("")
            continue
        folder = parent.get("folder")
        shown = where.get(str(Path(folder).resolve())) if isinstance(folder, str) and folder else None
        said.append(f"← {shown or name}" + (", its weights" if parent.get("weights") else ""))
    return said


def _shown(value) -> str:
    if value is None or value == [] or value == {}:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def differing(configs: list[dict]) -> list[tuple[str, list[str], bool]]:
    """(setting, the value in each run, whether they differ): the usual settings always, and any other
    setting where the runs differ (a --limit-batches, a frozen layer, mixed precision)."""
    others = [k for c in configs for k in c if k not in SETTINGS and k not in NOT_SETTINGS]
    rows = []
    for key in list(SETTINGS) + list(dict.fromkeys(others)):
        values = [_shown(c.get(key)) for c in configs]
        differs = len(set(values)) > 1
        if key in SETTINGS or differs:
            rows.append((key, values, differs))
    return rows


class CompareScreen(Screen):
    BINDINGS = [
        Binding("b,escape", "app.pop_screen", "Back", tooltip="back to the runs"),
        Binding("1", "tab(0)", "Epochs", tooltip="test accuracy and loss per epoch, one line per run"),
        Binding("2", "tab(1)", "Batches", tooltip="training loss per logged batch, on a common axis in epochs"),
        Binding("3", "tab(2)", "Settings", tooltip="the runs' settings side by side, differences marked"),
        Binding("m", "markers", "Markers", tooltip="the next set of curve markers, for a terminal whose font lacks "
                "some (common, sextants, ascii, braille; $WORKBENCH_MARKERS picks the first)"),
    ]

    def __init__(self, folders: list[str]) -> None:
        super().__init__()
        self.folders = [str(f) for f in folders]
        self.labels = short_names(self.folders)
        self.stop_following = threading.Event()
        self.classify: dict[str, bool] = {}
        self.marker_set = marker_set()

    def _series(self):
        chosen = markers(self.marker_set, len(self.labels))
        return [(label, COLORS[i % len(COLORS)], chosen[i]) for i, label in enumerate(self.labels)]

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        with TabbedContent(id="compare-tabs"):
            with TabPane("1 Epochs", id="tab-curves"):
                with Horizontal(id="compare-epoch-charts"):
                    yield LineChart("test accuracy % per epoch", self._series(), percent=True, integer_x=True,
                                    legend=False,
                                    id="cmp-acc")
                    yield LineChart("test loss per epoch", self._series(), integer_x=True, legend=False, id="cmp-loss")
            with TabPane("2 Batches", id="tab-batches"):
                yield LineChart("training loss per logged batch (x: epochs)", self._series(), legend=False,
                                id="cmp-batch")
            with TabPane("3 Settings", id="tab-settings"):
                yield DataTable(id="cmp-settings", cursor_type="row", zebra_stripes=True)
        yield Static(id="compare-legend")
        yield Footer()

    def on_mount(self) -> None:
        configs = [RunReader(f).config() for f in self.folders]
        lines = [f"{label} {said}" for label, said in zip(self.labels, forks(self.folders, configs, self.labels)) if said]
        title = f"Comparing {len(self.folders)} runs" + (f" · {'; '.join(lines)}" if lines else "")
        self.query_one("#compare-title", Static).update(Text(
            f"{title} · 1 per epoch · 2 per batch · 3 settings side by side", no_wrap=True, overflow="ellipsis"))
        self.show_legend()
        self.show_settings()
        for folder in self.folders:
            self.follow_run(folder)

    def on_unmount(self) -> None:
        self.stop_following.set()

    def show_legend(self) -> None:
        """Each run's colour and its curves' marker, as the charts draw them."""
        legend = Text()
        for i, (label, marker) in enumerate(zip(self.labels, markers(self.marker_set, len(self.labels)))):
            legend.append(f"{MARKER_GLYPH.get(marker, marker)} ", style=_rich(i))
            legend.append(f"{label}  ")
        self.query_one("#compare-legend", Static).update(legend)

    def action_markers(self) -> None:
        self.marker_set = next_marker_set(self.marker_set)
        chosen = markers(self.marker_set, len(self.labels))
        for chart in self.query(LineChart):
            chart.set_markers(chosen)
        self.show_legend()
        self.notify(f"markers: {self.marker_set}", timeout=3)

    def show_settings(self) -> None:
        configs = [RunReader(f).config() for f in self.folders]
        table = self.query_one("#cmp-settings", DataTable)
        table.add_column("setting")
        for i, label in enumerate(self.labels):
            table.add_column(Text(label, style=_rich(i)))
        parents = forks(self.folders, configs, self.labels)
        if any(parents):
            table.add_row(Text("  parent", style="bold"), *[Text(p or "-") for p in parents])
        for key, values, differs in differing(configs):
            style = "bold reverse" if differs else "dim"
            table.add_row(Text(("≠ " if differs else "  ") + key, style="bold" if differs else ""),
                          *[Text(v, style=style if differs else "") for v in values])

    @work(thread=True, group="follow", exit_on_error=False)
    def follow_run(self, folder: str) -> None:
        live = RunReader(folder).status().live
        follow.follow(self, folder, self.stop_following, live=live)

    def on_run_events(self, message: RunEvents) -> None:
        if message.folder not in self.folders:
            return
        message.stop()
        label = self.labels[self.folders.index(message.folder)]
        acc, loss, batch = (self.query_one(f"#cmp-{n}", LineChart) for n in ("acc", "loss", "batch"))
        for e in message.events:
            if isinstance(e, ev.EpochEnded):
                acc.add(label, e.epoch, e.test_accuracy)
                loss.add(label, e.epoch, e.test_loss)
            elif isinstance(e, ev.BatchEnded):
                batch.add(label, e.epoch - 1 + e.batch / max(e.batches, 1), e.loss)
            elif isinstance(e, LogRestarted):
                for chart in (acc, loss, batch):
                    chart.series[label].xs.clear()
                    chart.series[label].ys.clear()

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        if index == 2:
            self.query_one("#cmp-settings", DataTable).focus()
        else:
            self.set_focus(None)
