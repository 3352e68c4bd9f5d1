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

from workbench.messages import ReportFailed, ReportReady
from workbench.widgets.model.architecture import ArchitectureView
from workbench.widgets.model.layer_shapes import LayerTable
from workbench.widgets.model.parameters import ParameterTable, shape_text

TABS = ("tab-architecture", "tab-parameters", "tab-layers")


class InspectScreen(Screen):
    BINDINGS = [
        Binding("b,escape", "app.pop_screen", "Back", tooltip="back to where you came from"),
        Binding("1", "tab(0)", "Architecture", tooltip="the printed module tree (arrows scroll)"),
        Binding("2", "tab(1)", "Parameters", tooltip="named parameters: shape, count, mean, std, sharing"),
        Binding("3", "tab(2)", "Layers", tooltip="each layer's output shape for the dataset's input"),
        Binding("n", "cycle_init", "Layer init", tooltip="the highlighted layer's initialisation: default, normal, "
                "xavier, kaiming, zeros, constant 1, constant 42 (the next run starts from it)"),
        Binding("f", "freeze", "Freeze", tooltip="freeze or unfreeze the highlighted layer: frozen ones are not trained"),
    ]

    def __init__(self, model: str, dataset: str | None, data_dir: str | None = None, init: str = "default",
                 editable: bool = False) -> None:
        super().__init__()
        self.model, self.dataset, self.data_dir = model, dataset, data_dir
        self.init = init or "default"
        self.editable = editable
        self.report = None

    @property
    def layer_settings(self) -> dict:
        """{layer: {"init": HOW, "frozen": bool}} for this model, kept by the app for the next run."""
        return self.app.layer_settings.setdefault(self.model, {})

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("cycle_init", "freeze"):
            return self.editable
        return True

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

            layer_init, freeze = layer_options(self.layer_settings) if self.editable else ([], [])
            self.post_message(ReportReady(report(self.model, self.dataset, self.data_dir, self.init, layer_init,
                                                 freeze)))
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
        table = self.query_one(LayerTable)
        row = table.cursor_row
        table.show(r.layers, self.layer_settings if self.editable else None)
        if self.report is None:
            self.query_one(ArchitectureView).focus()
        else:
            table.move_cursor(row=row)
        self.report = r

    def on_report_failed(self, message: ReportFailed) -> None:
        title = self.query_one("#inspect-title", Static)
        title.update(Text(f"{self.model}: {message.reason}"))
        title.add_class("-error")

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        # focus what the tab shows, so the arrows scroll it at once
        widget = (ArchitectureView, ParameterTable, LayerTable)[index]
        self.query_one(widget).focus()

    # -- parameters by hand ----------------------------------------------------------------------------

    def highlighted_layer(self) -> str | None:
        table = self.query_one(LayerTable)
        if self.report is None or table.row_count == 0:
            return None
        if self.query_one(TabbedContent).active != "tab-layers":
            self.action_tab(2)
            self.notify("Choose a layer with ↑↓, then n sets its initialisation and f freezes it.", timeout=5)
            return None
        layer = self.report.layers[table.cursor_row]
        if not layer.params:
            self.notify(f"{layer.name or 'the input'} has no parameters of its own.", timeout=4)
            return None
        return layer.name

    def action_cycle_init(self) -> None:
        name = self.highlighted_layer()
        if name is None:
            return
        settings = self.layer_settings.setdefault(name, {"init": "default", "frozen": False})
        settings["init"] = LAYER_CYCLE[(LAYER_CYCLE.index(settings.get("init", "default")) + 1) % len(LAYER_CYCLE)]
        self._changed(name)

    def action_freeze(self) -> None:
        name = self.highlighted_layer()
        if name is None:
            return
        settings = self.layer_settings.setdefault(name, {"init": "default", "frozen": False})
        settings["frozen"] = not settings.get("frozen")
        self._changed(name)

    def _changed(self, name: str) -> None:
        settings = self.layer_settings[name]
        if settings["init"] == "default" and not settings["frozen"]:
            del self.layer_settings[name]
        self.build_report()  # the parameter table then shows the values the next run starts from


LAYER_CYCLE = ("default", "normal", "xavier", "kaiming", "zeros", "constant:1", "constant:42")


def layer_options(settings: dict) -> tuple[list[str], list[str]]:
    """RunConfig's layer_init and freeze from the inspect view's per-layer settings."""
    layer_init = [f"{name}={s['init']}" for name, s in settings.items() if s.get("init", "default") != "default"]
    freeze = [name for name, s in settings.items() if s.get("frozen")]
    return layer_init, freeze
