"""Training from the app with the real trainers.run on tiny synthetic runs."""

import os
from pathlib import Path

import numpy as np

from trainers.events import Reconstructions
from workbench.app import WorkbenchApp
from workbench.screens.pick import PickScreen
from workbench.screens.train import TrainScreen
from workbench.widgets.charts import LineChart
from workbench.widgets.epochs import EpochTable
from workbench.widgets.images import RAMP, ReconstructionView
from workbench.widgets.predictions import PredictionView
from workbench.widgets.progress import ProgressLine

from .helpers import screen_text, tiny, until


async def test_a_tiny_run_fills_charts_table_and_predictions():
    app = WorkbenchApp(tiny(epochs=2), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running)
        await pilot.pause()
        batch = train.query_one("#chart-batch", LineChart)
        assert batch.points == 6  # 3 batches logged per epoch, every point kept
        loss = train.query_one("#chart-loss", LineChart)
        assert [len(s.ys) for s in loss.series.values()] == [2, 2]
        assert train.query_one(EpochTable).row_count == 2
        assert train.query_one(ProgressLine).state == "finished"
        # the Model tab's parameter table shows the live model after the last epoch
        assert train.query_one("#live-params").row_count == 4
        assert "after epoch 2" in str(train.query_one("#params-title").render())
        # and the run was recorded, though no --out was given
        run_dir = Path(os.environ["WORKBENCH_RUNS"])
        assert any((d / "metrics.jsonl").is_file() and (d / "checkpoint.pt").is_file() for d in run_dir.iterdir())
        assert "Finished: 2 epoch(s)" in screen_text(app)

        # the charts repaint on their timer, only when there is something new
        batch.redraw_if_needed()
        assert not batch.dirty and batch.replots >= 1
        replots = batch.replots
        batch.redraw_if_needed()
        assert batch.replots == replots  # nothing new, no work
        batch.add("train", 7, 1.5)
        batch.redraw_if_needed()
        assert batch.replots == replots + 1
        await pilot.pause()
        assert "loss per logged batch" in screen_text(app)

        await pilot.press("2")
        assert "train loss" in screen_text(app) and "2/2" in screen_text(app)
        # hidden charts are not replotted even when new points arrive
        batch.add("train", 99, 1.0)
        batch.redraw_if_needed()
        assert batch.replots == replots + 1 and batch.dirty

        await pilot.press("3")
        view = train.query_one(PredictionView)
        assert view.event is not None and len(view.event.labels) == 8
        text = screen_text(app)
        assert "softmax" in text and "%" in text
        await pilot.press("right_square_bracket")
        assert view.focus_index == 1
        assert "image 2:" in screen_text(app)


async def test_autoencoder_reconstructions_are_drawn_as_characters():
    app = WorkbenchApp(tiny(model="autoencoder"), start=True)
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running)
        view = train.query_one(ReconstructionView)
        assert view.originals is not None and view.originals.shape[0] >= 8
        assert view.originals.dtype == np.uint8 and view.outputs.shape == view.originals.shape
        assert not train.query_one("#chart-acc").display  # no accuracy for a reconstruction

        await pilot.press("3")
        lines = screen_text(app).splitlines()
        assert any("each above its reconstruction" in line for line in lines)
        drawn = [line for line in lines if line.strip() and set(line) <= set(RAMP)]
        assert len(drawn) >= 6  # originals above reconstructions, all in ramp characters
        assert any(c in "".join(drawn) for c in "=+*#%@")

        await pilot.press("r")  # half blocks for colour terminals
        assert view.rendering == "blocks" and app.rendering == "blocks"
        assert "▀▀▀▀" in screen_text(app)


async def test_reconstruction_view_layout_from_an_event():
    # the widget alone, fed a Reconstructions event the way the screen does
    from textual.app import App

    class One(App):
        def compose(self):
            yield ReconstructionView()

    originals = np.zeros((8, 1, 28, 28), dtype=np.uint8)
    originals[:, :, 8:20, 12:16] = 255  # a bright vertical bar
    event = Reconstructions(epoch=1, originals=originals, outputs=originals // 2)
    async with One().run_test(size=(80, 16)) as pilot:
        view = pilot.app.query_one(ReconstructionView)
        view.rendering = "plain"
        view.show(event.epoch, event.originals, event.outputs)
        await pilot.pause()
        lines = screen_text(pilot.app).splitlines()
        assert lines[0].startswith("epoch 1:")
        top, bottom = "".join(lines[1:6]), "".join(lines[7:12])  # a blank line between them
        assert lines[6].strip() == ""
        assert "@" in top and "@" not in bottom  # the "reconstruction" is half as bright
        assert "=" in bottom or "+" in bottom or "-" in bottom


async def test_stop_then_back_to_the_picker_and_pick_again():
    app = WorkbenchApp(tiny(epochs=200), start=True)  # long enough to stop by hand
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        batch = train.query_one("#chart-batch", LineChart)
        await until(pilot, lambda: batch.points >= 2)
        await pilot.press("p")
        await until(pilot, lambda: train.query_one(ProgressLine).state == "paused")
        await pilot.press("x")
        await until(pilot, lambda: not train.running)
        assert train.query_one(ProgressLine).state == "stopped"
        assert "Stopped" in screen_text(app)

        await pilot.press("b")
        assert isinstance(app.screen, PickScreen)
        pick = app.screen
        await pilot.press("slash", *"autoenc", "enter")
        assert pick.model == "autoencoder"
        pick.query_one("#hp-epochs").value = "1"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen is not train)
        again = app.screen
        assert again.config.model == "autoencoder" and again.config.epochs == 1
        await until(pilot, lambda: not again.running)
        assert again.query_one(ProgressLine).state in ("finished", "failed")


async def test_a_missing_dataset_is_a_readable_message_and_the_app_keeps_running(tmp_path):
    app = WorkbenchApp(tiny(dataset="image-folder", data_dir=str(tmp_path)), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running)
        assert train.query_one(ProgressLine).state == "failed"
        message = str(train.query_one("#run-message").render())
        assert message.startswith("Failed: ") and "Traceback" not in message
        assert str(tmp_path) in message or "image" in message
        await pilot.press("b")
        assert isinstance(app.screen, PickScreen)


async def test_mnist_offline_without_files_fails_cleanly(tmp_path):
    from trainers.data import availability

    config = tiny(dataset="mnist", data_dir=str(tmp_path), download=False)
    if availability("mnist", str(tmp_path)).state == "ready":  # a system-wide copy exists here
        return
    app = WorkbenchApp(config, start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running)
        assert "Failed:" in screen_text(app)
        assert train.query_one(ProgressLine).state == "failed"


async def test_q_quits_during_a_run_and_stops_it():
    app = WorkbenchApp(tiny(epochs=200), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: train.query_one("#chart-batch", LineChart).points >= 1)
        control = train.control
        await pilot.press("q")
        assert control.stop.is_set()
    assert app.return_code == 0


async def test_save_a_checkpoint_while_training(tmp_path):
    app = WorkbenchApp(tiny(epochs=200, out=str(tmp_path / "run")), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: train.query_one("#chart-batch", LineChart).points >= 1)
        await pilot.press("c")
        await until(pilot, lambda: "Checkpoint of epoch" in str(train.query_one("#run-message").render()))
        assert str(tmp_path / "run") in str(train.query_one("#run-message").render())
        await pilot.press("x")
        await until(pilot, lambda: not train.running)
    assert any((tmp_path / "run").iterdir())
