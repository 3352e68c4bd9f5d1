"""Named parameters as a table: name, shape, count, trainable, mean, std, first values, sharing."""

from __future__ import annotations

from textual.widgets import DataTable


def shape_text(shape: tuple) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


class ParameterTable(DataTable):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    COLUMNS = ("name", "shape", "count", "train", "mean", "std")

    def on_mount(self) -> None:
        self.add_columns(*self.COLUMNS, "first values")

    def show(self, parameters: list) -> None:
        """`parameters`: trainers.inspection.ParamInfo records. The "shared with" column is there only for a
        model that ties parameters, so the first values fit 80 columns for all the others."""
        shared = any(p.shared_with for p in parameters)
        self.clear(columns=True)
        self.add_columns(*self.COLUMNS, *(("shared with",) if shared else ()), "first values")
        for p in parameters:
            first = ", ".join(f"{v:+.3f}" for v in tuple(p.first)[:2])
            row = [p.name, shape_text(tuple(p.shape)), f"{p.count:,}", "yes" if p.trainable else "no",
                   f"{p.mean:+.4f}", f"{p.std:.4f}"]
            if shared:
                row.append(f"↔ {p.shared_with}" if p.shared_with else "")
            self.add_row(*row, first)
