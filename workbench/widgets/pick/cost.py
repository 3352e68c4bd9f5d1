"""The cost of the highlighted model on the highlighted dataset, before training: mult-adds and memory
at once, then the time a short dry run measures (trainers.cost). Both are worked out in a thread worker,
a moment after the selection rests, and an answer for a selection that has since changed is dropped."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import work
from textual.widgets import Static
from textual.worker import get_current_worker

from trainers.compat import check_pair
from trainers.config import AUTO, RunConfig
from trainers.errors import WorkbenchError

from workbench.messages import CostEstimated
from workbench.options import HYPERPARAMETERS


def cost_config(base: RunConfig, model: str, dataset: str, values: dict, chosen: str) -> RunConfig:
    """The run the panel prices: the form's values for the chosen model; another (highlighted) model with
    its own defaults, as choosing it would set them, on the form's device and data folder."""
    if model != chosen:
        keep = {k: v for k, v in values.items() if k not in HYPERPARAMETERS}
        values = {**keep, **{k: None for k in HYPERPARAMETERS}}
    config = dataclasses.replace(base, model=model, dataset=dataset, download=False, **values)
    config.validate()
    return config


def _reason(err: BaseException) -> str:
    return str(err) if isinstance(err, (WorkbenchError, ValueError)) else f"{type(err).__name__}: {err}"


class CostPanel(Static):
    """`follow()` it with a model and dataset; it shows their cost and keeps up with changes."""

    DEBOUNCE_S = 0.3  # arrows held down: only the pair the highlight rests on is priced
    DRY_RUN = dict(warmup=1, steps=3, budget_s=2.0)  # a few seconds at most, even for the largest model

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.token = 0
        self.config: RunConfig | None = None
        self.cost = None  # the latest answer for the current request
        self._timer = None

    def follow(self, base: RunConfig, model: str, dataset: str, values: dict | None, chosen: str) -> None:
        """Price `model` on `dataset`; `values`: the form's (None when a field is not a number)."""
        reason = check_pair(model, dataset)
        config = None
        if reason is None and values is not None:
            try:
                config = cost_config(base, model, dataset, values, chosen)
            except (WorkbenchError, ValueError) as err:
                reason = _reason(err)
        if config is not None and config == self.config:
            return  # already priced, or on its way
        self._restart(config)
        if config is None:
            self.show(reason or "a field in the form is not a number", style="dim")
            return
        self.show("working out…", style="dim")
        token = self.token
        self._timer = self.set_timer(self.DEBOUNCE_S, lambda: self.price(config, token))

    def pause(self) -> None:
        """Stop pricing (a run is starting and needs the CPU); the next `follow()` starts again."""
        self._restart(None)

    def _restart(self, config: RunConfig | None) -> None:
        self.token += 1
        self.config, self.cost = config, None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.workers.cancel_group(self, "cost")  # a dry run stops at its next step

    @work(thread=True, exclusive=True, group="cost", exit_on_error=False)
    def price(self, config: RunConfig, token: int) -> None:
        from trainers.cost import static_cost, timed_elsewhere

        worker = get_current_worker()
        auto = config.batch_size == AUTO  # measured when the run starts: growing allocations to most of a
        # shared GPU's free memory at every change of the form would take it from whoever trains there
        try:
            cost = static_cost(config, measure_auto=False)
        except Exception as err:  # noqa: BLE001 - a model that cannot build is said, not crashed on
            self.post_message(CostEstimated(token, None, False, _reason(err)))
            return
        if worker.is_cancelled:
            return
        self.post_message(CostEstimated(token, cost, auto))  # auto: nothing to time before the run
        if auto:
            return
        try:
            # in its own interpreter: this one's redraws would slow it (and skew what it measures)
            timed = timed_elsewhere(cost, config, cancelled=lambda: worker.is_cancelled, **self.DRY_RUN)
        except Exception as err:  # noqa: BLE001
            self.post_message(CostEstimated(token, cost, False, _reason(err)))
            return
        if timed is not None and not worker.is_cancelled:
            self.post_message(CostEstimated(token, timed, True))

    def on_cost_estimated(self, message: CostEstimated) -> None:
        message.stop()
        if message.token != self.token:
            return  # for a selection that has changed since
        from trainers.cost import format_cost

        if message.cost is None:
            self.show(f"cannot work it out: {message.error}", style="dim")
            return
        self.cost = message.cost
        if message.error:
            timing = "not timed"
        else:
            timing = None if message.timed else "timing…"
        self.show("\n".join(format_cost(message.cost, timing)) + (f"\n{message.error}" if message.error else ""))

    def show(self, body: str, style: str = "") -> None:
        """The panel's text after its name ("Cost · "): no border, so it costs no row of its own."""
        text = Text("Cost · ", style="bold")
        text.append(body, style=style)
        self.update(text)
