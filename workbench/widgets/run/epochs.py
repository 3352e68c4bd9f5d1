"""The table of finished epochs."""

from __future__ import annotations

from textual.widgets import DataTable


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


class EpochTable(DataTable):
    """One row per EpochEnded: losses, accuracies (classifiers), time and speed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns("epoch", "train loss", "train acc", "test loss", "test acc", "time", "samples/s")

    def add_epoch(self, epoch: int, epochs: int, train_loss: float, train_accuracy: float | None,
                  test_loss: float, test_accuracy: float | None, seconds: float, samples_per_sec: float) -> None:
        self.add_row(f"{epoch}/{epochs}", _loss(train_loss), _pct(train_accuracy), _loss(test_loss),
                     _pct(test_accuracy), f"{seconds:.1f}s", f"{samples_per_sec:,.0f}", key=str(epoch))
        self.move_cursor(row=self.row_count - 1)
