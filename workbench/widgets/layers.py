"""Each layer's output shape for one input of the chosen dataset's shape."""

from __future__ import annotations

from textual.widgets import DataTable

from .parameters import shape_text


class LayerTable(DataTable):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns("layer", "kind", "output shape", "params")

    def show(self, layers: list) -> None:
        """`layers`: trainers.inspection.LayerShape records."""
        self.clear()
        for layer in layers:
            self.add_row(layer.name or "(input)", layer.kind, shape_text(tuple(layer.output_shape)),
                         f"{layer.params:,}" if layer.params else "")
