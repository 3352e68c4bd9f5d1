"""The Layers tab: per layer, the weights' and gradients' norms, the update-to-weight ratio, a histogram of the
weights as a strip of bars, dead or saturated units, and the warning signs in words above (one LayerStats).
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

BARS = "▁▂▃▄▅▆▇█"


def sparkline(counts) -> str:
    """One character per bin, its height the bin's share of the fullest; an empty bin is a space (so the
    strip's extent reads even in monochrome)."""
    if counts is None or len(counts) == 0:
        return ""
    top = max(int(c) for c in counts)
    if top <= 0:
        return " " * len(counts)
    return "".join(" " if c <= 0 else BARS[min(len(BARS) - 1, int((len(BARS) - 1) * c / top + 0.5))]
                   for c in counts)


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.1e}"


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.1e}"  # one format down the column: the exponent is what counts


def share(layer) -> str:
    if layer.dead is not None:
        return f"{100 * layer.dead:.0f}% dead"
    if layer.saturated is not None:
        return f"{100 * layer.saturated:.0f}% sat."
    return ""


class LayerStatsView(Vertical):
    """`show(event)` draws one trainers.events.LayerStats; `note(text)` says why there is none."""

    DEFAULT_CSS = """
    LayerStatsView { height: 1fr; }
    LayerStatsView > #layers-head { height: auto; padding: 0 1; color: $text-muted; }
    LayerStatsView > #layers-flags { height: auto; max-height: 9; padding: 0 1; color: $text-warning; }
    LayerStatsView > #layers-flags.-healthy { color: $text-success; }
    LayerStatsView > DataTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.event = None  # the LayerStats shown

    def compose(self) -> ComposeResult:
        yield Static(id="layers-head")
        yield Static(id="layers-flags")
        yield DataTable(id="layers-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.table.add_columns("layer", "kind", "‖w‖", "‖g‖", "Δw/w", "weights", "units")
        self.note("")

    @property
    def table(self) -> DataTable:
        return self.query_one("#layers-table", DataTable)

    def note(self, text: str) -> None:
        """No statistics to show (yet): say why, and how to get them."""
        self.event = None
        self.query_one("#layers-head", Static).update(Text(text))
        self.query_one("#layers-flags", Static).display = False
        self.table.clear()
        self.table.display = False

    def expect(self, every: int | None, live: bool, watch_every: int = 50) -> None:
        """Say what is coming while no statistics are shown: `every` is the run's --layer-stats (None: not
        asked for), `live` whether a trainer is at work (and so can be asked while this tab is shown)."""
        if self.event is not None:
            return
        when = "at each epoch's last batch" if every == 0 else f"every {every} batches and at each epoch's last batch"
        if every is not None:
            self.note(f"Layer statistics come {when}; the first is on its way." if live else
                      "This run recorded no layer statistics before it ended.")
        elif live:
            self.note(f"This run was started without --layer-stats. While this tab is shown the trainer is asked "
                      f"for them: every {watch_every} batches and at each epoch's last batch, so the first comes "
                      f"within {watch_every} batches. To record them from the first batch: workbench train "
                      f"--layer-stats N (0: each epoch's end only).")
        else:
            self.note("This run recorded no layer statistics. Train with --layer-stats N to record them every N "
                      "batches and at each epoch's end (0: at epoch ends only), or look at this tab while a run "
                      "trains: the trainer is asked for them then.")

    def show(self, e) -> None:
        self.event = e
        where = "last batch" if e.batch >= e.batches else f"batch {e.batch}/{e.batches}"
        seen = f" · units on {e.images} test images" if e.images else ""
        head = f"step {e.step:,} · epoch {e.epoch}, {where}{seen} · healthy Δw/w ≈ 1e-3"
        self.query_one("#layers-head", Static).update(Text(head))
        flags = self.query_one("#layers-flags", Static)
        flags.display = True
        if e.flags:
            flags.update(Text("\n".join(f"! {f}" for f in e.flags)))
        elif not any(layer.dead is not None or layer.saturated is not None for layer in e.layers):
            flags.update(Text("No warning sign in the gradients and updates. (No ReLU, Sigmoid or Tanh "
                              "modules: activations called as functions are not seen.)"))
        else:
            flags.update(Text("No warning sign: gradients reach the first layer, updates are moderate, few "
                              "units are dead or saturated."))
        flags.set_class(not e.flags, "-healthy")
        table = self.table
        table.display = True
        row = table.cursor_row
        table.clear()
        for layer in e.layers:
            if layer.parameters:
                table.add_row(layer.name, layer.kind, number(layer.weight_norm), number(layer.grad_norm),
                              ratio(layer.update_ratio), sparkline(layer.counts), share(layer))
            else:  # an activation: only its units
                table.add_row(layer.name, layer.kind, "", "", "", "", share(layer))
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
