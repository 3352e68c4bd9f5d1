"""Look inside a model: the printed architecture, its named parameters, and each layer's output shape
for the chosen dataset's input. The report needs torch, so it is built in a thread worker."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from trainers.errors import WorkbenchError

from ..messages import ReportFailed, ReportReady
from ..widgets.architecture import ArchitectureView
from ..widgets.layers import LayerTable
from ..widgets.parameters import ParameterTable, shape_text

TABS = ("tab-architecture", "tab-parameters", "tab-layers")


class InspectScreen(Screen):
    BINDINGS = [
        Binding("b,escape", "app.pop_screen", "Back", tooltip="back to where you came from"),
        Binding("1", "tab(0)", "Architecture", tooltip="the printed module tree (arrows scroll)"),
        Binding("2", "tab(1)", "Parameters", tooltip="named parameters: shape, count, mean, std, sharing"),
        Binding("3", "tab(2)", "Layers", tooltip="each layer's output shape for the dataset's input"),
    ]

    def __init__(self, model: str, dataset: str | None, data_dir: str | None = None) -> None:
        super().__init__()
        self.model, self.dataset, self.data_dir = model, dataset, data_dir

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.model}: building the model (torch loads the first time)…"), id="inspect-title")
        with TabbedContent(id="inspect-tabs"):
            with TabPane("1 Architecture", id="tab-architecture"):
                yield ArchitectureView()
            with TabPane("2 Parameters", id="tab-parameters"):
                yield ParameterTable()
            with TabPane("3 Layers", id="tab-layers"):
                yield LayerTable()
        yield Footer()

    def on_mount(self) -> None:
        self.build_report()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def build_report(self) -> None:
        try:
            from trainers.inspection import report

            self.post_message(ReportReady(report(self.model, self.dataset, self.data_dir)))
        except Exception as err:  # noqa: BLE001 - a model that raises is shown, not crashed on
            reason = str(err) if isinstance(err, WorkbenchError) else f"{type(err).__name__}: {err}"
            self.post_message(ReportFailed(reason))

    def on_report_ready(self, message: ReportReady) -> None:
        r = message.report
        shared = sum(1 for p in r.parameters if p.shared_with)
        note = f" · {shared} shared (↔)" if shared else ""
        source = f" ({self.dataset})" if self.dataset else ""
        self.query_one("#inspect-title", Static).update(Text(
            f"{r.model}: {r.total:,} parameters, {r.trainable:,} trainable{note} · layer shapes for a "
            f"{shape_text(tuple(r.input_shape))} input{source}"))
        self.query_one(ArchitectureView).show(r.summary)
        self.query_one(ParameterTable).show(r.parameters)
        self.query_one(LayerTable).show(r.layers)
        self.query_one(ArchitectureView).focus()

    def on_report_failed(self, message: ReportFailed) -> None:
        title = self.query_one("#inspect-title", Static)
        title.update(Text(f"{self.model}: {message.reason}"))
        title.add_class("-error")

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        # focus what the tab shows, so the arrows scroll it at once
        widget = (ArchitectureView, ParameterTable, LayerTable)[index]
        self.query_one(widget).focus()
