"""The picker, driven from the keyboard at 80x24."""

import subprocess
import sys

from trainers import RunConfig
from workbench.app import WorkbenchApp
from workbench.screens.help import HelpScreen
from workbench.screens.inspect import InspectScreen
from workbench.screens.pick import PickScreen
from workbench.screens.run import RunScreen
from workbench.widgets.model.layer_shapes import LayerTable
from workbench.widgets.model.parameters import ParameterTable
from workbench.widgets.pick.hyperparams import HyperparameterForm
from workbench.widgets.shared.filter_list import FilterList

from .helpers import screen_text, tiny, until


def test_the_picker_opens_without_importing_torch():
    code = ("import sys\n"
            "import workbench.app, workbench.screens.pick, workbench.screens.run, workbench.screens.run_list\n"
            "import workbench.screens.inspect, workbench.screens.compare\n"
            "print(sorted(m for m in ('torch', 'trainers.train.loop', 'trainers.inspection', 'trainers.devices') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_pick_model_and_dataset_with_the_keyboard():
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        assert isinstance(pick, PickScreen)
        models = pick.query_one("#models", FilterList)
        assert models.highlighted_key == "mlp" and models.options.has_focus
        text = screen_text(app)
        assert "autoencoder" in text and "synthetic-digits" in text and "Hyperparameters" in text

        await pilot.press("j")
        assert models.highlighted_key == "mlp-deep"
        await pilot.press("k", "k")
        assert models.highlighted_key == "mlp-scratch"

        # "/" opens the filter, Enter chooses
        await pilot.press("slash", "l", "e", "n")
        assert [item.key for item in models.shown] == ["lenet5"]
        await pilot.press("enter")
        assert pick.model == "lenet5"
        form = pick.query_one(HyperparameterForm).values()
        assert (form["optimizer"], form["lr"], form["batch_size"], form["init"]) == ("sgd", 0.9, 256, "xavier")
        assert pick.query_one("#datasets", FilterList).options.has_focus

        # "/" filters with any letter, even bound ones like s
        await pilot.press("slash", *"fashion", "enter")
        assert pick.dataset == "fashion-mnist"

        # switching model resets the hyperparameters to that model's seed defaults
        await pilot.press("shift+tab")  # straight to the list above: a filter line is not in the Tab order
        assert models.options.has_focus and models.query_text == "len"
        await pilot.press("escape")  # clears the filter
        assert len(models.shown) == len(models.items)
        await pilot.press("slash", *"mlp-deep", "enter")
        values = pick.query_one(HyperparameterForm).values()
        assert pick.model == "mlp-deep"
        assert (values["optimizer"], values["lr"], values["momentum"], values["epochs"]) == ("sgd", 0.01, 0.5, 10)


async def test_pairs_that_cannot_work_are_marked_and_refused():
    app = WorkbenchApp(RunConfig(model="catdog-cnn", dataset="image-folder"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        datasets = pick.query_one("#datasets", FilterList)
        datasets.focus()
        await pilot.press("slash", *"synthetic", "enter")
        assert pick.dataset == "image-folder"  # refused: 3x128x128 model, 1x28x28 data
        status = str(pick.query_one("#pick-status").render())
        assert "catdog-cnn expects 3x128x128" in status
        assert "synthetic-digits does not fit c" in screen_text(app)  # marked in the list


async def test_bad_hyperparameters_are_explained_not_started():
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        pick.query_one("#hp-lr").value = "fast"
        await pilot.press("s")
        assert isinstance(app.screen, PickScreen)
        assert "lr must be a number" in str(pick.query_one("#pick-status").render())
        pick.query_one("#hp-lr").value = "-1"
        await pilot.press("s")
        assert isinstance(app.screen, PickScreen)
        assert "learning rate must be a positive number" in str(pick.query_one("#pick-status").render())


async def test_help_and_inspect_screens():
    app = WorkbenchApp(tiny(model="mlp-tied"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "start training" in screen_text(app) and "quit" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, PickScreen)

        await pilot.press("i")
        inspect = app.screen
        assert isinstance(inspect, InspectScreen) and inspect.model == "mlp-tied"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Linear" in screen_text(app)  # the printed architecture
        title = str(inspect.query_one("#inspect-title").render())
        assert "mlp-tied" in title and "2 shared (↔)" in title
        params = inspect.query_one(ParameterTable)
        rows = [[str(cell) for cell in params.get_row_at(i)] for i in range(params.row_count)]
        names = [row[0] for row in rows]
        assert names == ["net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias", "net.5.weight", "net.5.bias",
                         "net.7.weight", "net.7.bias"]
        shared = {row[0]: row[6] for row in rows if row[6]}
        assert shared == {"net.5.weight": "↔ net.3.weight", "net.5.bias": "↔ net.3.bias"}
        await pilot.press("2")
        text = screen_text(app)
        assert "count" in text and "std" in text and "↔ net.3.weight" in text
        await pilot.press("3")
        assert inspect.query_one(LayerTable).row_count >= 2
        await pilot.press("escape")
        assert isinstance(app.screen, PickScreen)
        assert not any(isinstance(s, RunScreen) for s in app.screen_stack)


async def test_only_a_users_file_joins_the_model_list():
    app = WorkbenchApp(RunConfig(model="nope", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)):
        keys = [item.key for item in app.screen.query_one("#models", FilterList).items]
        assert "nope" not in keys and keys[0] == "mlp-scratch"
    app = WorkbenchApp(RunConfig(model="my_models.py:Net", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)):
        keys = [item.key for item in app.screen.query_one("#models", FilterList).items]
        assert keys[0] == "my_models.py:Net"


async def test_no_color_draws_plain_images_and_marks_cursors_without_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.rendering == "plain"
        assert app.has_class("-no-color")
        options = app.screen.query_one("#models", FilterList).options
        assert "underline" in str(options.get_component_styles("option-list--option-highlighted").text_style)
        await pilot.press("q")
    assert app.return_code == 0


async def test_q_quits_even_while_a_hyperparameter_field_has_focus():
    app = WorkbenchApp(tiny())
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.screen.query_one("#hp-epochs")
        field.focus()
        await pilot.pause()
        assert field.has_focus
        await pilot.press("q")
    assert app.return_code == 0 and "q" not in field.value


async def test_the_data_folder_field_makes_an_image_folder_ready_and_reaches_the_run(tmp_path):
    from PIL import Image

    from workbench.widgets.pick.hyperparams import HyperparameterForm

    images = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (images / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 30 if cls == "cat" else 220).save(images / cls / f"{i}.png")
    app = WorkbenchApp(RunConfig(model="mlp", dataset="image-folder"))
    async with app.run_test(size=(80, 24)) as pick:
        screen = app.screen
        assert screen.availability["image-folder"].state == "missing"
        field = screen.query_one("#hp-data_dir")
        field.focus()
        await pick.press(*str(tmp_path / "pe"))
        await pick.pause()
        assert field._suggestion == str(images) + "/"  # the path completer offers the folder
        await pick.press("end")
        await pick.pause()
        assert screen.availability["image-folder"].state == "ready", (field.value, screen.availability["image-folder"])
        config = screen.build_config()
        assert config.data_dir == str(images) + "/" and config.dataset == "image-folder"
        form = screen.query_one(HyperparameterForm)
        assert not form.has_class("-gpus")  # no process count to choose without GPUs
        await form.set_devices([("auto", "auto → cuda"), ("cpu", "CPU"), ("cuda", "CUDA 0"), ("cuda:1", "CUDA 1")])
        assert form.has_class("-gpus") and form.values()["nproc_per_node"] == 1


async def test_a_layer_set_by_hand_in_inspect_is_what_the_next_run_starts_from():
    app = WorkbenchApp(tiny(epochs=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        inspect = app.screen
        assert isinstance(inspect, InspectScreen)
        await until(pilot, lambda: inspect.report is not None, 120)
        await pilot.press("3")
        table = inspect.query_one(LayerTable)
        table.move_cursor(row=[layer.name for layer in inspect.report.layers].index("fc1"))
        for _ in range(6):  # default -> normal -> xavier -> kaiming -> zeros -> constant 1 -> constant 42
            await pilot.press("n")
        await until(pilot, lambda: "constant 42" in screen_text(app))
        table.move_cursor(row=[layer.name for layer in inspect.report.layers].index("fc2"))
        await pilot.press("f")
        await until(pilot, lambda: "no (frozen)" in screen_text(app))
        await pilot.press("2")
        await until(pilot, lambda: {p.name: p for p in inspect.report.parameters}["fc1.weight"].mean == 42)
        assert "+42.0000" in screen_text(app)  # the values the run will start from
        assert not {p.name: p for p in inspect.report.parameters}["fc2.weight"].trainable
        await pilot.press("b")
        config = app.screen.build_config()
        assert config.layer_init == ["fc1=constant:42"] and config.freeze == ["fc2"]


async def test_the_parameter_table_fits_80_columns_for_a_model_without_ties():
    import re

    app = WorkbenchApp(RunConfig(model="lenet5", dataset="fashion-mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        rows = [line for line in screen_text(app).splitlines() if re.match(r"^ \d+\.(weight|bias) ", line)]
        assert len(rows) == 10 and "shared with" not in screen_text(app)
        assert all(re.search(r"[+-]\d\.\d{3}, [+-]\d\.\d{3}\s*$", line) for line in rows), rows  # never cut


async def test_F_finds_a_learning_rate_draws_it_and_enter_takes_it_into_the_form():
    from textual.widgets import Input

    from workbench.screens.lr_find import LrFindScreen

    app = WorkbenchApp(tiny(model="mlp"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        assert isinstance(pick, PickScreen)
        lr = pick.query_one("#hp-lr", Input)
        before = lr.value
        await pilot.press("F")
        finder = app.screen
        assert isinstance(finder, LrFindScreen)
        await until(pilot, lambda: finder.suggestion is not None, seconds=120)
        series = finder.chart.series["smoothed"]
        assert len(series.xs) >= 5 and series.xs == sorted(series.xs)  # drawn as it went, lr rising
        assert "Enter puts" in str(finder.query_one("#lr-find-words").render())
        assert lr.value == before  # nothing taken until Enter
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is pick and lr.value == f"{finder.suggestion:.3g}"
        assert pick.query_one(HyperparameterForm).values()["lr"] == float(lr.value)
        assert any(f"lr set to {lr.value}" in n.message for n in app._notifications)
        await pilot.press("F")  # again, and Esc: the form stays as it is
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is pick and lr.value == f"{finder.suggestion:.3g}"
