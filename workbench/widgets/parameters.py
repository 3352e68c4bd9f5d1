"""Named parameters as a table: name, shape, count, trainable, mean, std, first values, sharing."""

from __future__ import annotations

from textual.widgets import DataTable


def shape_text(shape: tuple) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


class ParameterTable(DataTable):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns("name", "shape", "count", "train", "mean", "std", "shared with", "first values")

    def show(self, parameters: list) -> None:
        """`parameters`: trainers.inspection.ParamInfo records."""
        self.clear()
        for p in parameters:
            first = ", ".join(f"{v:+.3f}" for v in tuple(p.first)[:2])
            self.add_row(p.name, shape_text(tuple(p.shape)), f"{p.count:,}", "yes" if p.trainable else "no",
                         f"{p.mean:+.4f}", f"{p.std:.4f}", f"↔ {p.shared_with}" if p.shared_with else "", first)
