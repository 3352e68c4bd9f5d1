"""The table of a sweep's trials: one row a trial, each varied setting a column of its own, the best
starred. Sorted by any column, as nvitop and htop sort their processes: `o` takes the next column, a click
on a header takes that one (again: the other way round)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from workbench.render.text import duration, fit_columns

STATE_ORDER = ("running", "waiting", "stopped", "interrupted", "finished", "pruned", "failed")
STATE_STYLE = {"running": "bold", "pruned": "dim", "failed": "red", "interrupted": "red", "stopped": "yellow"}
METRIC_HEADER = {"test_accuracy": "test acc", "test_loss": "test loss"}


def metric_text(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if metric == "test_accuracy" else f"{value:.4f}"


def setting_text(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class TrialTable(DataTable):
    """Rows keyed by trial number. `show(view)` redraws it from a SweepView, keeping the cursor on its trial."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.view = None  # the SweepView shown
        self.columns_now: tuple[str, ...] = ()  # the column keys: " ", "#", each varied setting, status...
        self.sort_column = "#"
        self.sort_reverse = False
        self.marked: set[int] = set()

    # -- what is shown ---------------------------------------------------------------------------------

    def keys_for(self, view) -> tuple[str, ...]:
        return (" ", "#", *view.varied(), "status", "epochs", view.spec.metric, "time")

    def header(self, key: str) -> str:
        label = METRIC_HEADER.get(key, key.replace("_", "-")) if key not in (" ", "#") else key
        if key == self.sort_column:
            label += "▼" if self.sort_reverse else "▲"
        return label

    def show(self, view) -> None:
        self.view = view
        current = self.current_number()
        keys = self.keys_for(view)
        if self.sort_column not in keys:
            self.sort_column, self.sort_reverse = "#", False
        headers = [self.header(k) for k in keys]
        self.clear(columns=True)
        for key, label in zip(keys, headers):
            self.add_column(label, key=key)
        self.columns_now = keys
        rows = self.sorted_rows(view)
        epochs = int(view.spec.base.get("epochs") or 0)
        cells = [self.cells(view, t, epochs) for t in rows]
        # the varied settings give up width first (a long choice), widest first; the rest stays whole
        settings = sorted(range(2, 2 + len(view.varied())), key=lambda i: -max((len(c[i]) for c in cells), default=0))
        fitted = fit_columns(cells, headers, self.size.width or 80, settings)
        for t, row in zip(rows, fitted):
            style = ("bold " if t.best else "") + STATE_STYLE.get(t.state, "")
            self.add_row(*[Text(c, style=style.strip()) for c in row], key=str(t.number))
        if current is not None and str(current) in {str(t.number) for t in rows}:
            self.move_cursor(row=self.get_row_index(str(current)))

    def cells(self, view, t, epochs: int) -> list[str]:
        mark = ("✓" if t.number in self.marked else "") + ("★" if t.best else "")
        return [mark or " ", str(t.number), *[setting_text(t.params.get(n)) for n in view.varied()], t.state,
                f"{t.epochs_done}/{t.epochs or epochs}", metric_text(view.spec.metric, t.value),
                duration(t.seconds) if t.seconds else "-"]

    # -- sorting -------------------------------------------------------------------------------------

    def sort_value(self, view, t, key: str):
        if key in (" ", "#"):
            return (not t.best, t.number) if key == " " else t.number
        if key == "status":
            return STATE_ORDER.index(t.state) if t.state in STATE_ORDER else len(STATE_ORDER)
        if key == "epochs":
            return t.epochs_done
        if key == "time":
            return t.seconds
        if key == view.spec.metric:
            return t.value
        value = t.params.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            (None if value is None else str(value))

    def sorted_rows(self, view) -> list:
        """The trials in the sort column's order; trials without a value (not started) always last."""
        key = self.sort_column
        known = [t for t in view.trials if self.sort_value(view, t, key) is not None]
        unknown = [t for t in view.trials if self.sort_value(view, t, key) is None]
        try:
            known.sort(key=lambda t: self.sort_value(view, t, key), reverse=self.sort_reverse)
        except TypeError:  # numbers and words in one column (a damaged folder): as words
            known.sort(key=lambda t: str(self.sort_value(view, t, key)), reverse=self.sort_reverse)
        return known + sorted(unknown, key=lambda t: t.number)

    def sort_by(self, key: str) -> None:
        """Sort by `key`; by the same column again, the other way round. The metric sorts best first."""
        if key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = key
            self.sort_reverse = self.view is not None and key == self.view.spec.metric \
                and self.view.spec.direction == "maximize"
        if self.view is not None:
            self.show(self.view)

    def sort_next(self) -> str:
        """The next column to sort by (the mark column is skipped); its header."""
        keys = [k for k in self.columns_now if k != " "] or ["#"]
        following = keys[(keys.index(self.sort_column) + 1) % len(keys)] if self.sort_column in keys else keys[0]
        self.sort_by(following)
        return self.header(following)

    def reverse(self) -> None:
        self.sort_by(self.sort_column)

    # -- the trial under the cursor --------------------------------------------------------------------

    def current_number(self) -> int | None:
        if self.row_count == 0:
            return None
        try:
            return int(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # noqa: BLE001 - an empty or changing table has no cursor row
            return None

    def current_trial(self):
        number = self.current_number()
        if self.view is None or number is None:
            return None
        return next((t for t in self.view.trials if t.number == number), None)

    def toggle_mark(self) -> None:
        number = self.current_number()
        if number is None or self.view is None:
            return
        self.marked ^= {number}
        self.show(self.view)
        self.action_cursor_down()
