"""Training from the app with the real trainers.run on tiny synthetic runs."""

import asyncio
import multiprocessing
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trainers.process
from trainers.events import BatchEnded, Loading, Reconstructions, RunFinished, RunStarted
from workbench import messages as m
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
    if availability("mnist", str(tmp_path)).state == "ready":
        pytest.skip("a system-wide copy of MNIST exists here, so the offline failure cannot happen")
    app = WorkbenchApp(config, start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running)
        assert "Failed:" in screen_text(app)
        assert train.query_one(ProgressLine).state == "failed"


def _trainers_alive() -> list:
    return [p for p in multiprocessing.active_children() if p.name == "workbench-trainer"]


async def test_q_quits_during_a_run_and_stops_it(tmp_path):
    app = WorkbenchApp(tiny(epochs=200, out=str(tmp_path / "run")), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: train.query_one("#chart-batch", LineChart).points >= 1)
        control = train.control
        await pilot.press("q")
        assert control.stop.is_set()
    assert app.return_code == 0
    # the run's thread sees its child save and end (no sleeping: a wait on the thread's own signal)
    assert await asyncio.to_thread(train.bridge_done.wait, 60)
    run = Path(train.run_dir)
    assert run == tmp_path / "run"
    assert (run / "checkpoint.pt").is_file() and (run / "result.json").is_file()
    assert not _trainers_alive()


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
        epochs_done = train.query_one(EpochTable).row_count
    assert train.run_dir == str(tmp_path / "run")  # a new folder is used as given, never suffixed
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert checkpoint.is_file()
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert isinstance(payload["epoch"], int) and 0 <= payload["epoch"] <= 200
    assert payload["epoch"] == epochs_done  # a stop keeps the last finished epoch's label


def _fake_run(steps: list, go: threading.Event):
    """A stand-in for run_in_process: yields `steps`, waiting for `go` at each "wait", then for the stop."""

    def run_in_process(config, control, *args, **kwargs):
        for step in steps:
            if step == "wait":
                assert go.wait(60)
                go.clear()
            else:
                yield step
        control.stop.wait(60)
        yield RunFinished(epochs_completed=0, stopped=True, seconds=1.0)

    return run_in_process


def _started(**overrides) -> RunStarted:
    values = dict(model="mlp", dataset="synthetic-digits", task="classify", summary="MLP()", parameters=10,
                  trainable=10, device="cpu", train_size=96, test_size=32, batches_per_epoch=3, epochs=1,
                  classes=tuple("0123456789"), config={"out": "/tmp/x"})
    values.update(overrides)
    return RunStarted(**values)


async def test_loading_progress_resumed_epochs_and_warnings_show(monkeypatch):
    go = threading.Event()
    steps = [
        Loading("downloading train-images-idx3-ubyte.gz", 45, 100), "wait",
        *[Loading("decoding training images", n, 5000) for n in range(1, 5001, 50)],
        Loading("decoding training images", 5000, 5000), "wait",
        # resumed after epoch 2 with 2 more epochs: RunStarted.epochs is the last epoch, 4
        _started(start_epoch=2, epochs=4, warnings=("could not read image cat.9.png (broken).",)), "wait",
        BatchEnded(epoch=3, batch=1, batches=3, seen=32, total=96, loss=2.0, accuracy=0.1, samples_per_sec=64.0,
                   elapsed=2.0, step=1),
    ]
    monkeypatch.setattr(trainers.process, "run_in_process", _fake_run(steps, go))
    app = WorkbenchApp(tiny(epochs=2), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        progress = train.query_one(ProgressLine)
        await until(pilot, lambda: "downloading" in progress.text)
        assert progress.text == "downloading train-images-idx3-ubyte.gz 45%"
        assert "downloading train-images-idx3-ubyte.gz 45%" in screen_text(app)
        go.set()
        # a burst of progress: the screen ends on the newest value (older queued ones are replaced)
        await until(pilot, lambda: progress.text == "decoding training images 5000/5000")
        assert progress.state == "starting"
        go.set()
        await until(pilot, lambda: progress.state == "running")
        assert progress.text.startswith("epoch 3/4: first batches")
        message = train.query_one("#run-message")
        assert "Warning: could not read image cat.9.png" in str(message.render())
        assert message.has_class("-warning")
        assert "cat.9.png" in screen_text(app)  # readable at 80x24
        go.set()
        await until(pilot, lambda: progress.text.startswith("epoch 3/4  batch 1/3"))
        # 2 s for this run's 1 batch; 5 batches of this run are left (2 of epoch 3, 3 of epoch 4)
        assert "0:02 elapsed  0:10 left" in progress.text
        await pilot.press("x")
        await until(pilot, lambda: not train.running)
        assert "1 data warning(s) on tab 4" in str(message.render())
        await pilot.press("4")
        assert "warning: could not read image cat.9.png" in screen_text(app)


async def test_loading_messages_keep_only_the_newest():
    older = m.LoadingProgressed(1, Loading("decoding training images", 1, 10))
    assert older.can_replace(m.LoadingProgressed(1, Loading("decoding training images", 2, 10)))
    assert not older.can_replace(m.LoadingProgressed(2, Loading("decoding training images", 2, 10)))
    assert isinstance(m.wrap(1, Loading("x", 0, 0)), m.LoadingProgressed)


async def test_a_folder_with_a_broken_image_trains_and_warns(tmp_path):
    for cls, colour in (("cat", (250, 250, 250)), ("dog", (0, 0, 0))):
        for i in range(4):
            Image.new("RGB", (16, 16), colour).save(tmp_path / f"{cls}.{i}.png")
    (tmp_path / "cat.9.png").write_bytes(b"not an image at all")
    config = tiny(model="catdog-cnn", dataset="image-folder", data_dir=str(tmp_path), batch_size=2,
                  limit_batches=1, extra={}, out=str(tmp_path / "run"))
    app = WorkbenchApp(config, start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        train = app.screen
        await until(pilot, lambda: not train.running, 120)
        assert train.query_one(ProgressLine).state == "finished"
        assert any("cat.9.png" in w for w in train.warnings)
        assert "data warning(s) on tab 4" in str(train.query_one("#run-message").render())
        await pilot.press("4")
        assert "cat.9.png" in str(train.query_one("#run-info").render())
        assert "warning:" in screen_text(app)
