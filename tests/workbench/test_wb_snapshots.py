"""Layout regressions fail CI: the main screens at 80x24 and 120x40, compared with Textual's snapshot plugin
(pytest-textual-snapshot). After an intended change of layout: `pytest tests/workbench/test_wb_snapshots.py
--snapshot-update`, then look at the SVGs it writes (tests/workbench/__snapshots__/) before committing them.

Everything drawn must be the same on every machine: the run is written from made-up events with fixed
numbers (no timings), and the data folders are ones that do not exist here.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainers import events as ev
from trainers.config import RunConfig
from trainers.runs import RunWriter
from workbench.app import WorkbenchApp
from workbench.screens.run import RunScreen

from .helpers import until

SIZES = [(80, 24), (120, 40)]
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@pytest.fixture(autouse=True)
def no_local_data(monkeypatch):
    """The same datasets "ready" everywhere: no system folders, a data folder that is not there."""
    import trainers.data.idx

    import trainers.cost

    monkeypatch.setattr(trainers.data.idx, "SYSTEM_DIRS", {})
    monkeypatch.setattr(trainers.cost, "timed_elsewhere", fixed_timing)
    monkeypatch.setenv("WORKBENCH_DATA", "/nonexistent/workbench-data")
    monkeypatch.delenv("NO_COLOR", raising=False)


def fixed_timing(cost, config, **_):
    """The picker's dry run, with made-up times: the same on every machine."""
    import dataclasses

    batch = 0.004
    epoch = batch * (cost.batches_per_epoch or 0) + 0.5
    return dataclasses.replace(cost, device="cpu (2 threads)", seconds_per_batch=batch, timed_steps=3,
                               seconds_per_epoch=epoch, seconds_total=epoch * cost.epochs)


def picker_ready(app):
    async def wait(pilot):
        from workbench.widgets.pick.cost import CostPanel

        await until(pilot, lambda: app.screen.counts and app.screen.query_one(CostPanel).cost is not None
                    and app.screen.query_one(CostPanel).cost.seconds_per_batch is not None
                    and app.screen.devices_found)
        await pilot.pause()
    return wait


def images(n: int, seed: int) -> np.ndarray:
    """Blobs and bars that read as shapes, the same every time."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 1, 28, 28), dtype=np.uint8)
    for i in range(n):
        cy, cx, r = rng.integers(8, 20), rng.integers(8, 20), rng.integers(4, 9)
        blob = ((y - cy) ** 2 + (x - cx) ** 2 < r * r) * 220
        bars = ((x // 4) % 2 == i % 2) * (y > 20) * 120
        out[i, 0] = np.clip(blob + bars, 0, 255)
    return out


def write_run(folder, model: str = "mlp", task: str = "classify", epochs: int = 3, batches: int = 10) -> str:
    """A finished run's folder, from events with fixed numbers: what the screen shows depends on nothing else."""
    config = RunConfig(model=model, dataset="fashion-mnist", epochs=epochs, batch_size=64, seed=0).to_dict()
    folder.mkdir(parents=True)
    writer = RunWriter(folder)
    writer.starting()
    classes = FASHION
    writer.write(ev.RunStarted(model=model, dataset="fashion-mnist", task=task, summary=f"{model}(\n  (fc1): Linear"
                               "(in_features=784, out_features=256, bias=True)\n)", parameters=203_530,
                               trainable=203_530, device="cpu (2 threads)", train_size=640, test_size=128,
                               batches_per_epoch=batches, epochs=epochs, classes=classes, config=config,
                               data_source="fashion-mnist IDX files in /data/fashion-mnist"))
    step = 0
    for epoch in range(1, epochs + 1):
        for b in range(1, batches + 1):
            step += 1
            loss = 2.3 * np.exp(-step / 12) + 0.3 + 0.05 * np.sin(step)
            writer.write(ev.BatchEnded(epoch=epoch, batch=b, batches=batches, seen=64 * b, total=640, loss=float(loss),
                                       accuracy=min(0.95, step / 35) if task == "classify" else None,
                                       samples_per_sec=12_000.0, elapsed=step * 0.05, step=step))
        acc = (0.55 + 0.12 * epoch) if task == "classify" else None
        writer.write(ev.EpochEnded(epoch=epoch, epochs=epochs, train_loss=1.4 / epoch, train_accuracy=acc,
                                   test_loss=1.5 / epoch + 0.05, test_accuracy=acc and acc - 0.03, seconds=0.5,
                                   eval_seconds=0.1, samples_per_sec=12_000.0))
        shown = images(8, epoch)
        if task == "classify":
            probs = np.full((8, 10), 0.02, dtype=np.float32)
            labels = tuple(range(8))
            predicted = tuple((i + (i % 3 == 0)) % 10 for i in range(8))
            for i, p in enumerate(predicted):
                probs[i, p] = 0.82
            writer.write(ev.Predictions(epoch=epoch, images=shown, labels=labels, predicted=predicted,
                                        probabilities=probs, classes=classes))
        else:
            writer.write(ev.Reconstructions(epoch=epoch, originals=shown, outputs=(shown // 2 + 40).astype(np.uint8)))
    writer.write(ev.RunFinished(epochs_completed=epochs, stopped=False, seconds=1.5, final_test_accuracy=0.82
                                if task == "classify" else None, final_test_loss=0.55))
    writer.close()
    return str(folder)


def run_screen_ready(app):
    async def wait(pilot):
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.pause(1.2)  # charts replot at most once a second
    return wait


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_picker(snap_compare, size):
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    assert snap_compare(app, terminal_size=size, run_before=picker_ready(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tab", ["1", "2", "3"])
def test_run_screen(snap_compare, tmp_path, size, tab):
    app = WorkbenchApp(attach=write_run(tmp_path / "mlp-fashion-mnist-snapshot"))
    assert snap_compare(app, terminal_size=size, run_before=run_screen_ready(app), press=[tab, "_"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reconstructions(snap_compare, tmp_path, size):
    app = WorkbenchApp(attach=write_run(tmp_path / "autoencoder-fashion-mnist-snapshot", model="autoencoder",
                                        task="reconstruct"))
    assert snap_compare(app, terminal_size=size, run_before=run_screen_ready(app), press=["3", "_"])


def test_help(snap_compare):
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark", "_"])


def test_too_small(snap_compare):
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    assert snap_compare(app, terminal_size=(50, 15), press=["_"])
