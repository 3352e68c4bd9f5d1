"""The sweep form (`w` in the picker) at 80x24: filled from the run form, checked as it is typed with the
CLI's sentences, and Enter writing the sweep's folder and starting it (the start itself is replaced here)."""

import json
import sys
import types
from pathlib import Path

import pytest
from textual.screen import Screen

import trainers.sweeps
from trainers.config import RunConfig
from workbench.app import WorkbenchApp
from workbench.screens.pick import PickScreen
from workbench.screens.sweep_form import SweepFormScreen
from workbench.sweep_options import SweepSettings, build_sweep, summary

from .helpers import screen_text, tiny
from .test_wb_snapshots import no_local_data  # noqa: F401 - autouse: the same picker on every machine


class Started:
    """Stands in for the detached sweep process."""

    pid = 0

    def poll(self):
        return 0


@pytest.fixture
def starts(monkeypatch):
    folders = []
    monkeypatch.setattr(trainers.sweeps, "start_detached_sweep", lambda folder: folders.append(folder) or Started())
    return folders


def field(form, name):
    return form.query_one(f"#sw-{name}")


def line(form) -> str:
    return str(form.query_one("#sweep-line").render())


async def type_into(pilot, form, name, text):
    field(form, name).focus()  # the field's text is selected on focus: typing replaces it
    await pilot.pause()
    await pilot.press(*text)
    await pilot.pause()


async def test_w_opens_the_form_with_the_run_forms_values_and_esc_starts_nothing(starts):
    app = WorkbenchApp(tiny(model="mlp-deep", epochs=2))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        form = app.screen
        assert isinstance(form, SweepFormScreen)
        values = {name: field(form, name).value for name in ("epochs", "batch_size", "optimizer", "lr", "momentum",
                                                             "init", "seed", "parallel")}
        assert values == {"epochs": "2", "batch_size": "32", "optimizer": "sgd", "lr": "0.01", "momentum": "0.5",
                          "init": "default", "seed": "0", "parallel": "1"}
        assert field(form, "metric").value == "test_accuracy" and field(form, "sampler").value == "auto"
        text = screen_text(app)
        assert "Sweep mlp-deep on synthetic-digits" in text and "trials" in text and "sampler" in text
        assert "nothing to search" in line(form)  # every field a single value yet
        await pilot.press("escape")
        assert isinstance(app.screen, PickScreen) and starts == []


async def test_a_range_and_a_list_say_what_will_run():
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        form = app.screen
        await type_into(pilot, form, "lr", "1e-3..1:log")
        await type_into(pilot, form, "optimizer", "sgd,adam")
        await type_into(pilot, form, "trials", "6")
        await type_into(pilot, form, "parallel", "2")
        assert line(form) == "6 trials, 2 at a time, TPE: optimizer sgd|adam, lr 0.001..1 (log)"
        assert "6 trials, 2 at a time, TPE" in screen_text(app)

        await type_into(pilot, form, "lr", "0.01,0.1")  # every search a list: the grid
        assert line(form) == "4 trials, 2 at a time, the whole grid of 4 (2×2): optimizer sgd|adam, lr 0.01|0.1"


async def test_a_bad_range_is_the_clis_sentence_and_enter_starts_nothing(starts):
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        form = app.screen
        await type_into(pilot, form, "optimizer", "sgd,adam")
        await type_into(pilot, form, "lr", "1..0.1")
        sentence = "--lr 1..0.1: the range's low end must be below its high end."
        assert line(form) == "✗ " + sentence
        assert field(form, "lr").has_class("-bad") and not field(form, "optimizer").has_class("-bad")
        assert sentence in str(form.query_one("#sw-hint-lr").render())
        field(form, "epochs").focus()
        await pilot.press("enter")
        assert app.screen is form and starts == [] and field(form, "lr").has_focus  # the wrong field, to fix
        assert not Path(trainers.sweeps.runs_home()).exists() or not list(Path(trainers.sweeps.runs_home()).iterdir())

        await type_into(pilot, form, "lr", "0.01..0.1")
        await type_into(pilot, form, "trials", "x0")  # a letter is refused by a whole-number field
        assert field(form, "trials").value == "0" and field(form, "trials").has_class("-bad")
        assert line(form) == "✗ --trials must be at least 1, got 0." and not field(form, "lr").has_class("-bad")


async def test_enter_writes_the_sweep_as_typed_and_starts_it(starts, monkeypatch):
    monkeypatch.setitem(sys.modules, "workbench.screens.sweep", None)  # no Sweep screen: a notification
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        form = app.screen
        await type_into(pilot, form, "lr", "1e-3..1:log")
        await type_into(pilot, form, "optimizer", "sgd,adam")
        await type_into(pilot, form, "trials", "6")
        await type_into(pilot, form, "parallel", "2")
        field(form, "sampler").focus()
        await pilot.press("enter")  # on a list as in a text field: Enter starts
        await pilot.pause()
        assert isinstance(app.screen, PickScreen)
        [folder] = starts
        spec = json.loads((folder / "sweep.json").read_text())
        assert spec["space"] == {"epochs": "1", "batch_size": "32", "optimizer": "sgd,adam", "lr": "0.001..1:log",
                                 "momentum": "0.0", "weight_decay": "1e-05", "init": "default", "seed": "0"}
        assert (spec["trials"], spec["parallel"], spec["sampler"], spec["prune"], spec["metric"]) == (
            6, 2, "tpe", "median", "test_accuracy")
        assert spec["base"]["model"] == "mlp" and spec["base"]["limit_batches"] == 3  # the picker's other settings
        assert folder.parent == trainers.sweeps.runs_home()
        assert any(f"workbench attach {folder}" in n.message for n in app._notifications)


async def test_enter_opens_the_sweep_screen_where_there_is_one(starts, monkeypatch):
    class SweepScreen(Screen):
        def __init__(self, folder):
            super().__init__()
            self.folder = folder

    monkeypatch.setitem(sys.modules, "workbench.screens.sweep", types.SimpleNamespace(SweepScreen=SweepScreen))
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        await type_into(pilot, app.screen, "seed", "0,1,2")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SweepScreen) and app.screen.folder == starts[0]
        assert isinstance(app.screen_stack[-2], PickScreen)  # the form is gone from under it


def test_the_cli_and_the_form_share_one_check():
    spec, notes = build_sweep({"model": "mlp", "dataset": "synthetic-digits", "lr": "0.1,1"}, SweepSettings(trials=9))
    assert (spec.sampler, spec.trials) == ("grid", 2)
    assert notes == ["the grid has 2 points, so the sweep runs 2 trials, not 9."]
    assert summary(spec) == "2 trials, 1 at a time, the whole grid of 2: lr 0.1|1"


def test_the_form_fits_80x24(snap_compare):
    from .test_wb_snapshots import picker_ready

    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    ready = picker_ready(app)

    async def form_with_a_search(pilot):
        await ready(pilot)
        await pilot.press("w")
        await type_into(pilot, app.screen, "lr", "1e-3..1:log")
        await type_into(pilot, app.screen, "optimizer", "sgd,adam")

    assert snap_compare(app, terminal_size=(80, 24), run_before=form_with_a_search)
