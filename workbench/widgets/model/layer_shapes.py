"""Each layer's output shape for one input of the chosen dataset's shape."""

from __future__ import annotations

from textual.widgets import DataTable

from workbench.widgets.model.parameters import shape_text


class LayerTable(DataTable):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns("layer", "kind", "output shape", "params", "init", "trained")

    def show(self, layers: list, settings: dict | None = None) -> None:
        """`layers`: trainers.inspection.LayerShape records; `settings`: per-layer {"init", "frozen"} choices."""
        self.clear()
        for layer in layers:
            chosen = (settings or {}).get(layer.name, {})
            init = chosen.get("init", "default").replace(":", " ") if layer.params else ""
            trained = ("no (frozen)" if chosen.get("frozen") else "yes") if layer.params else ""
            self.add_row(layer.name or "(input)", layer.kind, shape_text(tuple(layer.output_shape)),
                         f"{layer.params:,}" if layer.params else "", init, trained)
