"""The picker's cost panel at 80x24: the static figures, then the timed estimate, following the highlight."""

import pytest

from trainers import RunConfig
from trainers.cost import format_cost
from workbench.app import WorkbenchApp
from workbench.widgets.pick.cost import CostPanel
from workbench.widgets.shared.filter_list import FilterList

from .helpers import TINY, screen_text, shown, until


def app_for(**kw):
    return WorkbenchApp(RunConfig(**{"model": "mlp", "dataset": "synthetic-digits", "device": "cpu",
                                     "extra": dict(TINY), **kw}))


async def test_the_cost_of_the_highlighted_pair_then_its_time():
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.screen.query_one(CostPanel)
        await until(pilot, lambda: "mult-adds/sample" in screen_text(app))
        text = screen_text(app)
        assert "Cost · 204k mult-adds/sample, batch 32" in text  # mlp's seed batch size
        await until(pilot, lambda: "a batch on cpu" in screen_text(app))
        cost = panel.cost
        assert cost.model == "mlp" and cost.batches_per_epoch == 256 // 32 and cost.seconds_total > 0
        text = screen_text(app)
        for line in format_cost(cost):  # each line whole on the screen: nothing cut at 80 columns
            assert line in text, (line, text)
        assert "5 epochs ≈" in text

        await pilot.press("j")  # the highlight moves: the panel follows it
        assert app.screen.query_one("#models", FilterList).highlighted_key == "mlp-deep"
        await until(pilot, lambda: panel.cost is not None and panel.cost.model == "mlp-deep")
        await shown(pilot, app, "575k mult-adds/sample")
        text = screen_text(app)
        assert "575k mult-adds/sample, batch 64" in text
        assert "204k" not in text


async def test_a_stale_answer_is_dropped_and_the_form_reprices():
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.screen.query_one(CostPanel)
        await until(pilot, lambda: panel.cost is not None and panel.cost.model == "mlp")
        await pilot.press("j", "j", "k")  # rests on mlp-deep: only its answer may show
        await until(pilot, lambda: panel.cost is not None)
        assert panel.cost.model == "mlp-deep"
        await pilot.press("k")
        await until(pilot, lambda: panel.cost is not None and panel.cost.model == "mlp")
        batch = app.screen.query_one("#hp-batch_size")
        batch.value = "50"  # as typed into the form
        await until(pilot, lambda: panel.cost is not None and panel.cost.batch_size == 50)
        assert "batch 50" in screen_text(app)


async def test_a_pair_that_does_not_fit_says_so():
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("end")  # catdog-cnn, 3x128x128, does not fit 28x28 digits
        assert app.screen.query_one("#models", FilterList).highlighted_key == "catdog-cnn"
        await until(pilot, lambda: "Cost · catdog-cnn expects 3x128x128" in screen_text(app))
        assert app.screen.query_one(CostPanel).config is None


@pytest.mark.slow
async def test_no_dry_run_is_timed_while_a_run_trains(monkeypatch):
    """The form's late Changed events and the device list arrive after `s`: none of them may start a dry
    run beside the training (it would take the run's CPU). Started at once (`start=True`), the picker does
    not price at all: its first pricing imports torch in the app, seconds of CPU beside the new run; nor
    does it warm a spare trainer (another torch import, for a next run nobody is choosing yet)."""
    import time

    import trainers.cost
    from trainers.runs import send
    from workbench.screens.run import RunScreen

    from .helpers import tiny

    timed = []
    real = trainers.cost.timed_elsewhere
    monkeypatch.setattr(trainers.cost, "timed_elsewhere", lambda *a, **k: timed.append(1) or real(*a, **k))
    priced = []
    static = trainers.cost.static_cost
    monkeypatch.setattr(trainers.cost, "static_cost", lambda *a, **k: priced.append(1) or static(*a, **k))
    # the widest window: pricing at once, before the start (a 0 s timer never fires in Textual: it divides by it)
    monkeypatch.setattr(CostPanel, "DEBOUNCE_S", 0.01)
    import trainers.backends

    spares = []
    monkeypatch.setattr(trainers.backends, "Spare", lambda: spares.append(1) or None)
    app = WorkbenchApp(tiny(epochs=500), start=True, prewarm=True)  # as `workbench --start` opens it
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.started is not None, 120)
        end = time.monotonic() + 8  # the devices and the form's events have arrived by then
        while time.monotonic() < end:
            await pilot.pause(0.2)
        assert timed == [] and priced == [] and spares == [] and not app.screen.ended
        send(app.screen.folder, "stop")
        await until(pilot, lambda: app.screen.ended, 60)
