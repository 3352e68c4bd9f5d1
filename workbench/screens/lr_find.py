"""The learning-rate finder in the picker (`F`): the range test's smoothed loss drawn against the learning
rate as it goes, the suggestion marked and said in words; Enter takes it into the form's lr field."""

from __future__ import annotations

import math

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from trainers.config import RunConfig
from trainers.errors import WorkbenchError

from workbench.widgets.shared.charts import LineChart


class LrFindScreen(ModalScreen):
    """Dismissed with the suggested lr (Enter) or None (Esc, or nothing found)."""

    BINDINGS = [
        Binding("enter", "take", "Use it", tooltip="put the suggested learning rate into the form's lr field"),
        Binding("escape,b", "cancel", "Back", tooltip="leave the form as it is"),
    ]

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.suggestion: float | None = None
        self.ceiling: float | None = None  # the blow-up at the ramp's end is not drawn (1.5x the start)

    def compose(self) -> ComposeResult:
        with Vertical(id="lr-find"):
            yield Static(Text(f"Learning-rate finder · {self.config.model} on {self.config.dataset}", style="bold"))
            yield LineChart("smoothed loss (x: log10 of the learning rate)", [("smoothed", "cyan", "braille")],
                            id="lr-find-chart")
            yield Static("From the model's first weights, the learning rate grows from 1e-7 to 10 over at most 200 "
                         "batches; the weights are put back afterwards.", id="lr-find-words")
        yield Footer()

    @property
    def chart(self) -> LineChart:
        return self.query_one("#lr-find-chart", LineChart)

    def on_mount(self) -> None:
        self.find()

    @work(thread=True, exclusive=True, group="lrfind", exit_on_error=False)
    def find(self) -> None:
        from trainers.lrfind import LrPoint, LrSuggestion, lr_find

        worker = get_current_worker()
        points: list = []
        try:
            for event in lr_find(self.config):
                if worker.is_cancelled:
                    return
                if isinstance(event, LrPoint):
                    points.append(event)
                    if len(points) % 5 == 0:  # a few redraws a second at most: the chart is throttled too
                        self.app.call_from_thread(self.draw, points[-5:])
                elif isinstance(event, LrSuggestion):
                    self.app.call_from_thread(self.draw, points[-(len(points) % 5 or 5):])
                    self.app.call_from_thread(self.found, event)
        except WorkbenchError as err:
            self.app.call_from_thread(self.say, str(err))
        except Exception as err:  # noqa: BLE001 - a model that raises: said, the picker stays
            self.app.call_from_thread(self.say, f"the lr finder failed: {type(err).__name__}: {err}")

    def draw(self, points: list) -> None:
        for p in points:
            if self.ceiling is None:
                self.ceiling = p.smoothed * 1.5
            if p.smoothed <= self.ceiling and p.lr > 0:
                self.chart.add("smoothed", math.log10(p.lr), p.smoothed)

    def found(self, result) -> None:
        from trainers.lrfind import in_words

        self.suggestion = result.lr_steepest
        self.chart.title = (f"smoothed loss (x: log10 of the learning rate) · suggested {result.lr_steepest:.3g} "
                            f"(log10 {math.log10(result.lr_steepest):.2f})")
        self.chart.update_title()
        self.say(in_words(self.config.model, self.config.dataset, result) +
                 f"\nEnter puts {result.lr_steepest:.3g} into the lr field; Esc leaves it as it is.")

    def say(self, text: str) -> None:
        self.query_one("#lr-find-words", Static).update(text)

    def action_take(self) -> None:
        if self.suggestion is not None:
            self.dismiss(self.suggestion)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "lrfind")
        self.dismiss(None)
