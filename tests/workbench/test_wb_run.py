"""The view of a run, fed by its folder: a run started from the app (a real detached trainer), a finished
run opened again, and a live run whose folder the test writes itself, event by event."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import recorded
from trainers import events as ev
from trainers.runs import RunWriter, lock_holder, read_status
from trainers.runs.files import FolderLock
from workbench.app import WorkbenchApp
from workbench.render.images import RAMP
from workbench.screens.pick import PickScreen
from workbench.screens.run import TABS, RunScreen
from workbench.widgets.run.epochs import EpochTable
from workbench.widgets.run.predictions import PredictionView
from workbench.widgets.run.progress import ProgressLine
from workbench.widgets.run.reconstructions import ReconstructionView
from workbench.widgets.shared.charts import LineChart

from .helpers import screen_text, shown, tiny, until


@pytest.mark.slow
async def test_a_run_started_in_the_app_trains_in_its_own_process_and_fills_the_view():
    app = WorkbenchApp(tiny(epochs=2), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        view = app.screen
        await until(pilot, lambda: view.ended, 120)
        await pilot.pause()
        assert view.query_one(ProgressLine).state == "finished"
        assert view.query_one(ProgressLine).text.endswith("elapsed")  # no time "left" once it ended
        assert view.query_one("#chart-batch", LineChart).points == 6  # 3 batches logged per epoch, every point
        assert [len(s.ys) for s in view.query_one("#chart-loss", LineChart).series.values()] == [2, 2]
        assert view.query_one(EpochTable).row_count == 2
        assert view.query_one("#live-params").row_count == 4
        await shown(pilot, app, "Finished: 2 epoch(s)")
        folder = Path(view.folder)
        assert folder.parent == Path(os.environ["WORKBENCH_RUNS"])  # the runs home, not the current directory
        trainer = app.children_started[0]
        assert trainer.wait(30) == 0 and trainer.pid != os.getpid()
        assert read_status(folder).state == "finished" and lock_holder(folder) is None

        await pilot.press("3")
        predictions = view.query_one(PredictionView)
        assert predictions.event is not None and len(predictions.event.labels) == 32
        assert "softmax" in screen_text(app)
        await pilot.press("right_square_bracket")
        assert predictions.focus_index == 1


async def test_every_tab_key_works_from_every_tab(tmp_path):
    folder, _ = recorded(tiny(epochs=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        tabs = app.screen.query_one("#tabs")
        keys = "".join(str(i + 1) for i in range(len(TABS)))
        assert len(keys) == 7
        for first in keys:
            for second in keys:
                await pilot.press(first, second)
                assert tabs.active == TABS[int(second) - 1], (first, second)


async def test_a_finished_run_opens_again_exactly_as_it_was(tmp_path):
    folder, events = recorded(tiny(model="autoencoder", epochs=2, out=str(tmp_path / "ae")))
    app = WorkbenchApp(attach=folder)
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        view = app.screen
        assert not view.live and view.query_one(ProgressLine).state == "finished"
        recon = view.query_one(ReconstructionView)
        last = [e for e in events if isinstance(e, ev.Reconstructions)][-1]
        assert recon.epoch == 2 and np.array_equal(recon.outputs, last.outputs)
        assert not view.query_one("#chart-acc").display  # no accuracy for a reconstruction
        await pilot.press("3")
        lines = screen_text(app).splitlines()
        drawn = [line for line in lines if line.strip() and set(line) <= set(RAMP)]
        assert len(drawn) >= 6 and any(c in "".join(drawn) for c in "=+*#%@")
        await pilot.press("p")  # a finished run cannot be paused: the key does nothing
        assert not (Path(folder) / "control.json").exists()


def _started(**overrides) -> ev.RunStarted:
    values = dict(model="mlp", dataset="synthetic-digits", task="classify", summary="MLP()", parameters=10,
                  trainable=10, device="cpu", train_size=96, test_size=32, batches_per_epoch=3, epochs=4,
                  classes=tuple("0123456789"), config={"model": "mlp", "dataset": "synthetic-digits"})
    values.update(overrides)
    return ev.RunStarted(**values)


async def test_a_live_run_written_by_another_process_is_followed(tmp_path):
    """The folder is written here, as any trainer would write it; the view only reads and steers."""
    folder = tmp_path / "live"
    folder.mkdir()
    lock = FolderLock(folder).acquire()
    writer = RunWriter(folder)
    writer.starting()
    writer.write(ev.Loading("downloading train-images-idx3-ubyte.gz", 45, 100))
    app = WorkbenchApp(attach=str(folder))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen))
            view = app.screen
            progress = view.query_one(ProgressLine)
            await until(pilot, lambda: "downloading" in progress.text)
            assert "downloading train-images-idx3-ubyte.gz 45%" in screen_text(app)
            # resumed mid-epoch 3 of 4, with a warning about the data
            writer.write(_started(start_epoch=2, resumed_at=(3, 1), warnings=("could not read image cat.9.png.",)))
            await until(pilot, lambda: progress.state == "running")
            assert "Warning: could not read image cat.9.png" in screen_text(app)
            writer.write(ev.BatchEnded(epoch=3, batch=2, batches=3, seen=64, total=96, loss=2.0, accuracy=0.1,
                                       samples_per_sec=64.0, elapsed=2.0, step=8))
            await until(pilot, lambda: progress.text.startswith("epoch 3/4  batch 2/3"))
            assert "0:02 elapsed  0:01 left" in progress.text  # 4 batches left at 0.25 s each
            await pilot.press("c")
            assert json.loads((folder / "control.json").read_text())["save"] == 1
            writer.write(ev.CheckpointSaved(str(folder / "checkpoint.pt"), 3, 2, 3, complete=False))
            await until(pilot, lambda: "Checkpoint of epoch 3, batch 2/3 saved" in screen_text(app))
            await pilot.press("x")
            assert json.loads((folder / "control.json").read_text())["stop"] is True
            writer.write(ev.RunFinished(epochs_completed=2, stopped=True, seconds=3.0))
            await until(pilot, lambda: view.ended)
            assert "Stopped" in screen_text(app) and "--resume live" in screen_text(app)
            await pilot.press("4")
            assert "warning: could not read image cat.9.png" in screen_text(app)
    finally:
        writer.close()
        lock.release()


async def test_a_trainer_killed_while_watched_reads_as_interrupted(tmp_path):
    folder = tmp_path / "dies"
    folder.mkdir()
    lock = FolderLock(folder).acquire()
    writer = RunWriter(folder)
    writer.starting()
    writer.write(_started())
    app = WorkbenchApp(attach=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.started is not None)
        lock.release()  # the trainer is gone without a final event
        writer.close()
        await until(pilot, lambda: app.screen.ended)
        assert app.screen.query_one(ProgressLine).state == "interrupted"
        assert "--resume dies" in screen_text(app)


@pytest.mark.slow
async def test_pause_stop_back_and_start_again_with_a_real_trainer():
    app = WorkbenchApp(tiny(epochs=200), start=True)  # long enough to stop by hand
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        view = app.screen
        await until(pilot, lambda: view.query_one("#chart-batch", LineChart).points >= 2, 120)
        await pilot.press("p")
        await until(pilot, lambda: view.query_one(ProgressLine).state == "paused")
        await pilot.press("x")
        await until(pilot, lambda: view.ended)
        assert view.query_one(ProgressLine).state == "stopped"
        await pilot.press("b")
        assert isinstance(app.screen, PickScreen)
        pick = app.screen
        await pilot.press("slash", *"autoenc", "enter")
        assert pick.model == "autoencoder"
        pick.query_one("#hp-epochs").value = "1"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen is not view)
        again = app.screen
        await until(pilot, lambda: again.ended, 120)
        config = json.loads((Path(again.folder) / "config.json").read_text())
        assert config["model"] == "autoencoder" and config["epochs"] == 1
        assert again.query_one(ProgressLine).state == "finished"


@pytest.mark.slow
async def test_q_leaves_the_run_training_and_says_how_to_come_back():
    app = WorkbenchApp(tiny(epochs=200), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        view = app.screen
        await until(pilot, lambda: view.query_one("#chart-batch", LineChart).points >= 1, 120)
        folder = Path(view.folder)
        await pilot.press("q")
    assert app.return_code == 0
    assert lock_holder(folder) is not None and read_status(folder).state == "running"  # still training
    assert f"workbench attach {folder.name}" in app.exit_message and "keeps training" in app.exit_message
    from trainers.runs import send

    send(folder, "stop")
    child = app.children_started[0]
    assert child.wait(60) == 0
    assert read_status(folder).state == "stopped"


@pytest.mark.slow
async def test_a_missing_dataset_is_one_readable_message(tmp_path):
    app = WorkbenchApp(tiny(dataset="image-folder", data_dir=str(tmp_path)), start=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        view = app.screen
        await until(pilot, lambda: view.ended, 120)
        assert view.query_one(ProgressLine).state == "failed"
        message = str(view.query_one("#run-message").render())
        assert message.startswith("Failed: ") and "Traceback" not in message and "image" in message
        await pilot.press("b")
        assert isinstance(app.screen, PickScreen)


async def test_a_folder_with_a_broken_image_trains_and_the_view_warns(tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for cls, colour in (("cat", (250, 250, 250)), ("dog", (0, 0, 0))):
        for i in range(4):
            Image.new("RGB", (16, 16), colour).save(images / f"{cls}.{i}.png")
    (images / "cat.9.png").write_bytes(b"not an image at all")
    folder, _ = recorded(tiny(model="catdog-cnn", dataset="image-folder", data_dir=str(images), batch_size=2,
                              limit_batches=1, extra={}, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        view = app.screen
        assert view.query_one(ProgressLine).state == "finished"
        assert any("cat.9.png" in w for w in view.warnings)
        assert "data warning(s) on tab 4" in str(view.query_one("#run-message").render())
        await pilot.press("4")
        assert "cat.9.png" in str(view.query_one("#run-info").render())


async def test_reconstruction_view_layout_from_an_event():
    # the widget alone, fed a Reconstructions event the way the screen does
    from textual.app import App

    class One(App):
        def compose(self):
            yield ReconstructionView()

    originals = np.zeros((8, 1, 28, 28), dtype=np.uint8)
    originals[:, :, 8:20, 12:16] = 255  # a bright vertical bar
    event = ev.Reconstructions(epoch=1, originals=originals, outputs=originals // 2)
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


async def test_the_runs_screen_opens_marks_and_compares_runs(tmp_path):
    from workbench.screens.compare import CompareScreen
    from workbench.screens.run_list import RunListScreen

    home = Path(os.environ["WORKBENCH_RUNS"])
    deep, _ = recorded(tiny(model="mlp-deep", epochs=2, out=str(home / "deep")))
    wide, _ = recorded(tiny(model="mlp-wide", epochs=2, lr=0.05, out=str(home / "wide")))  # mlp-deep: 0.01
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.table.row_count == 2)
        # the rows are in the table a frame before they are on the screen: wait for the screen to show them
        for word in ("deep", "wide", "finished"):
            await shown(pilot, app, word)
        table = app.screen.table
        await pilot.press("j")  # as in the picker
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("c")
        assert "Mark two or more runs" in screen_text(app)
        await pilot.press("space", "space", "c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        acc = compare.query_one("#cmp-acc", LineChart)
        await until(pilot, lambda: acc.points == 4)  # two epochs of each run, one line per run
        assert sorted(acc.series) == ["1 mlp-wide", "2 mlp-deep"]
        batch = compare.query_one("#cmp-batch", LineChart)
        assert all(max(s.xs) == 2.0 for s in batch.series.values())  # a common axis in epochs
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "≠ model" in text and "≠ lr" in text and "  dataset" in text  # the differences marked
        assert "limit_batches" not in text  # the same in both: only the usual settings are listed always
        await pilot.press("b", "b")
        assert isinstance(app.screen, PickScreen)


async def test_relaunched_while_a_run_trains_the_runs_come_first_with_it_highlighted(tmp_path):
    from workbench.screens.run_list import RunListScreen

    home = Path(os.environ["WORKBENCH_RUNS"])
    folder = home / "busy"
    folder.mkdir(parents=True)
    lock = FolderLock(folder).acquire()
    writer = RunWriter(folder)
    writer.starting()
    writer.write(_started())
    try:
        app = WorkbenchApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.table.row_count == 1)
            await shown(pilot, app, "busy is training")
            await shown(pilot, app, "Enter attaches")
            await pilot.press("x")
            await shown(pilot, app, "x again stops it")
            await pilot.press("escape")  # answers the question: the run trains on, the list stays
            await shown(pilot, app, "Kept training")
            assert isinstance(app.screen, RunListScreen)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.started is not None)
            assert app.screen.live
    finally:
        writer.close()
        lock.release()


def test_compared_settings_list_any_other_setting_in_which_the_runs_differ():
    from workbench.screens.compare import differing

    rows = {key: (values, differs) for key, values, differs in differing([
        {"model": "lenet5", "lr": 0.1, "limit_batches": 50, "freeze": [], "out": "/a", "amp": "off"},
        {"model": "mlp", "lr": 0.1, "limit_batches": None, "freeze": [], "out": "/b", "amp": "off"}])}
    assert rows["model"] == (["lenet5", "mlp"], True) and rows["lr"] == (["0.1", "0.1"], False)
    assert rows["limit_batches"] == (["50", "-"], True)  # it explains why one curve is short
    assert "amp" not in rows and "freeze" not in rows and "out" not in rows  # the same, or where it was written


async def test_a_finished_run_on_screen_follows_its_resume_from_another_terminal(tmp_path, monkeypatch):
    import asyncio

    from trainers.backends import resume_config
    from workbench.screens import run as run_screen

    monkeypatch.setattr(run_screen, "RESUME_WATCH_SECONDS", 0.1)
    folder, _ = recorded(tiny(epochs=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        view = app.screen
        assert view.query_one(EpochTable).row_count == 1 and not view.live
        await asyncio.to_thread(recorded, resume_config(folder, epochs=2))  # `workbench train --resume` elsewhere
        await until(pilot, lambda: view.ended and view.query_one(EpochTable).row_count == 2)
        assert view.query_one(ProgressLine).state == "finished" and app.screen is view
        await shown(pilot, app, "Finished: 2 epoch(s)")


async def test_back_from_an_attached_run_the_picker_is_on_its_model_and_dataset(tmp_path):
    from workbench.widgets.shared.filter_list import FilterList

    folder, _ = recorded(tiny(model="lenet5", epochs=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.press("b")
        assert isinstance(app.screen, PickScreen)
        await until(pilot, lambda: app.screen.query_one("#models", FilterList).highlighted_key == "lenet5")
        assert app.screen.query_one("#datasets", FilterList).highlighted_key == "synthetic-digits"


async def test_the_runs_screen_at_80_columns_shows_status_and_start_whole():
    import json
    import time as clock

    from workbench.screens.run_list import RunListScreen

    home = Path(os.environ["WORKBENCH_RUNS"])
    for name, model in (("a-folder-someone-named-at-great-length-for-their-own-reasons", "resnet-small"),
                        ("resnet-small-synthetic-digits-20261207-101500", "resnet-small")):
        folder = home / name
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model": model, "dataset": "synthetic-digits", "epochs": 10}))
        (folder / "status.json").write_text(json.dumps({"state": "running", "pid": 999999, "time": clock.time()}))
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.table.row_count == 2)
        await shown(pilot, app, "interrupted")
        rows = [line for line in screen_text(app).splitlines() if "synthetic-digits" in line]
        assert len(rows) == 2
        for row in rows:  # the trainer is gone: the whole word, and the start time whole at the end
            assert " interrupted " in row and row.rstrip().endswith(" ago"), row
