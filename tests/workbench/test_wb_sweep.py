"""The Sweep screen, fed by a sweep's folder: a mid-sweep folder the tests write themselves (Optuna's journal
through Optuna, each trial's run folder through RunWriter, a live trial's lock held here), a damaged journal,
the Runs screen's row for a sweep, `workbench attach`/`stop` on one, and a real sweep of trainers (slow)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY
from trainers import events as ev
from trainers.runs import FolderLock, RunWriter
from trainers.sweeps import make_sweep
from trainers.sweeps.study import SweeperLock, SweepSpec, open_study, write_sweeper
from workbench.app import WorkbenchApp
from workbench.screens.pick import PickScreen
from workbench.screens.run import RunScreen
from workbench.screens.sweep import SweepScreen
from workbench.widgets.sweep.charts import BestSoFar, TrialCurves
from workbench.widgets.sweep.importances import ImportanceBars
from workbench.widgets.sweep.trials import TrialTable

from .helpers import screen_text, shown, until

BASE = dict(model="mlp", dataset="synthetic-digits", epochs=2, batch_size=32, limit_batches=4, limit_test_batches=1,
            log_every=2, extra=dict(TINY), device="cpu")
SPACE = {"lr": "0.01..0.3:log", "optimizer": "sgd,adam"}
# number: (lr, optimizer, test accuracy per epoch, how it ended): 1 is the best, 3 still trains
TRIALS = {
    0: (0.05, "sgd", [0.30, 0.50], "finished"),
    1: (0.2, "adam", [0.40, 0.70], "finished"),
    2: (0.01, "sgd", [0.10], "pruned"),
    3: (0.1, "adam", [0.35], "running"),
}


def _epoch(epoch: int, value: float) -> ev.EpochEnded:
    return ev.EpochEnded(epoch=epoch, epochs=2, train_loss=1.0, train_accuracy=value, test_loss=1.0,
                         test_accuracy=value, seconds=0.5, samples_per_sec=100.0)


def _started(params: dict) -> ev.RunStarted:
    return ev.RunStarted(model="mlp", dataset="synthetic-digits", task="classify", summary="MLP()", parameters=10,
                         trainable=10, device="cpu", train_size=96, test_size=32, batches_per_epoch=3, epochs=2,
                         classes=tuple("0123456789"), config={**BASE, **params, "threads": 1})


class MidSweep:
    """A sweep folder as a sweep process leaves it mid-way: two trials finished, one pruned, one training
    (its run folder's lock held by this test, as a trainer holds it), and the sweep process at work (its lock
    held here too; sweeper.json names `pid`)."""

    def __init__(self, root: Path, pid: int | None = None) -> None:
        import optuna

        spec = SweepSpec(name="", base=dict(BASE), space=dict(SPACE), trials=6, parallel=2, prune="median", seed=1)
        self.folder = make_sweep(spec, str(root / "sweep"))
        study = open_study(self.folder, spec)
        dists = {"lr": optuna.distributions.FloatDistribution(0.01, 0.3, log=True),
                 "optimizer": optuna.distributions.CategoricalDistribution(["sgd", "adam"])}
        self.locks, self.writers = [], []
        for number, (lr, optimizer, values, end) in TRIALS.items():
            study.enqueue_trial({"lr": lr, "optimizer": optimizer})
            trial = study.ask(dists)
            assert trial.number == number
            trial.set_user_attr("folder", f"trial-{number:03d}")
            folder = self.folder / f"trial-{number:03d}"
            folder.mkdir()
            lock = FolderLock(folder).acquire()
            writer = RunWriter(folder)
            writer.starting()
            writer.write(_started({"lr": lr, "optimizer": optimizer}))
            for epoch, value in enumerate(values, start=1):
                writer.write(_epoch(epoch, value))
                trial.report(value, epoch)
            if end == "running":
                self.locks.append(lock)
                self.writers.append(writer)
                continue
            writer.write(ev.RunFinished(epochs_completed=len(values), stopped=end == "pruned", seconds=1.0))
            writer.close()
            lock.release()
            if end == "pruned":
                trial.set_user_attr("pruning", "at epoch 1")
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, values[-1])
        self.sweeper = SweeperLock(self.folder)
        assert self.sweeper.acquire()
        write_sweeper(self.folder, "running")
        if pid is not None:
            data = json.loads((self.folder / "sweeper.json").read_text())
            (self.folder / "sweeper.json").write_text(json.dumps({**data, "pid": pid}))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        for lock in self.locks:
            lock.release()
        self.sweeper.release()


@pytest.fixture
def mid_sweep(tmp_path):
    sweep = MidSweep(tmp_path)
    yield sweep
    sweep.close()


def order(table: TrialTable) -> list[int]:
    return [int(row.key.value) for row in table.ordered_rows]


async def opened(pilot, app) -> SweepScreen:
    await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.table.row_count > 0)
    return app.screen


async def test_the_table_lists_every_trial_with_its_settings_status_and_the_best_starred(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        assert view.table.row_count == 4
        await shown(pilot, app, "running")
        text = screen_text(app)
        for word in ("lr", "optimizer", "status", "test acc", "finished", "pruned", "running", "adam", "sgd",
                     "70.00%", "0.05", "3/6 done", "1 running", "1 pruned", "best ★ trial 1: 70.00% · lr=0.2 optimizer=adam"):
            assert word in text, word
        star = [line for line in text.splitlines() if "★" in line and "70.00%" in line]
        assert len(star) == 2 and any("adam" in line and "finished" in line for line in star)  # the row, the header
        assert order(view.table) == [0, 1, 2, 3]
        assert all(len(line) <= 80 for line in text.splitlines())


async def test_sorting_by_the_metric_puts_the_best_first_and_o_cycles_the_columns(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        table = view.table
        seen = []
        for _ in range(len(table.columns_now)):
            await pilot.press("o")
            seen.append(table.sort_column)
            if table.sort_column == "test_accuracy":
                break
        assert seen[:3] == ["lr", "optimizer", "status"]
        assert order(table) == [1, 0, 3, 2]  # 70 %, 50 %, 35 % (still training), 10 %
        assert "test acc▼" in screen_text(app)
        await pilot.press("O")
        assert order(table) == [2, 3, 0, 1]
        await pilot.click("#sweep-trials", offset=(1, 0))  # a click on the header of the mark column: nothing
        assert table.sort_column == "test_accuracy"
        await pilot.press("o")
        assert table.sort_column == "time"
        await pilot.click("#sweep-trials", offset=(9, 0))  # the header of lr, as htop's
        assert table.sort_column == "lr" and order(table) == [2, 0, 3, 1]


async def test_enter_opens_the_highlighted_trials_run_screen_and_b_comes_back(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        await pilot.press("j", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        assert app.screen.folder == str(mid_sweep.folder / "trial-001")
        await pilot.press("b")
        assert app.screen is view
        await pilot.press("j", "j", "enter")  # the live one is followed
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.started is not None)
        assert app.screen.live and app.screen.folder.endswith("trial-003")


async def test_x_asks_a_live_trial_to_stop_and_says_so_of_one_that_ended(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("x")
        await shown(pilot, app, "Trial 0 is not training")
        assert not (mid_sweep.folder / "trial-000" / "control.json").exists()
        await pilot.press("j", "j", "j", "x")
        await shown(pilot, app, "Asked trial 3 to stop")
        control = json.loads((mid_sweep.folder / "trial-003" / "control.json").read_text())
        assert control["stop"] is True


async def test_X_asks_first_and_y_sends_the_sweep_process_SIGTERM(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sweep = MidSweep(tmp_path, pid=sleeper.pid)
    try:
        app = WorkbenchApp(sweep=str(sweep.folder))
        async with app.run_test(size=(80, 24)) as pilot:
            view = await opened(pilot, app)
            await pilot.press("X")
            await shown(pilot, app, "Stop the whole sweep?")
            await pilot.press("escape")  # an answer, not also a way out
            await shown(pilot, app, "The sweep goes on")
            assert app.screen is view and sleeper.poll() is None
            await pilot.press("X", "y")
            await shown(pilot, app, "Stopping the sweep")
            assert sleeper.wait(10) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()
        sweep.close()


async def test_p_writes_hold_json_and_p_again_clears_it(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("p")
        assert json.loads((mid_sweep.folder / "hold.json").read_text()) == {"hold": True}
        await shown(pilot, app, "holding: no new trials")
        await pilot.press("p")
        assert json.loads((mid_sweep.folder / "hold.json").read_text()) == {"hold": False}


async def test_the_charts_draw_one_series_per_trial_the_best_last_and_the_best_so_far(mid_sweep):
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        curves = view.query_one(TrialCurves)
        await until(pilot, lambda: curves.replots > 0)
        assert list(curves.series) == ["0", "2", "3", "1"]  # the best drawn last, over the others
        assert curves.series["1"].ys == [0.40, 0.70] and curves.series["1"].marker != curves.series["0"].marker
        assert curves.series["3"].ys == [0.35]
        best = view.query_one(BestSoFar).series["best so far"]
        assert list(zip(best.xs, best.ys)) == [(0, 0.5), (1, 0.7), (2, 0.7), (3, 0.7)]
        assert "best #1" in screen_text(app)
        assert view.query_one(ImportanceBars).has_class("-empty")  # fewer than 4 finished: no importances yet


async def test_a_damaged_journal_is_one_line_and_the_trials_are_still_listed(mid_sweep):
    (mid_sweep.folder / "optuna.journal").write_text("{not json\n\x00\x00garbage\n")
    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        await until(pilot, lambda: view.table.row_count == 4)
        problem = view.query_one("#sweep-problem")
        assert problem.display and "is not a readable Optuna journal" in str(problem.render())
        assert problem.size.height == 1
        await shown(pilot, app, "optuna.journal")
        text = screen_text(app)
        assert "adam" in text and "sgd" in text


async def test_f_opens_the_picker_with_the_best_trials_settings_and_twice_its_epochs(mid_sweep):
    from workbench.widgets.pick.hyperparams import HyperparameterForm

    app = WorkbenchApp(sweep=str(mid_sweep.folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, PickScreen))
        await shown(pilot, app, "Trial 1's settings")
        values = app.screen.query_one(HyperparameterForm).values()
        assert values["lr"] == pytest.approx(0.2) and values["optimizer"] == "adam" and values["epochs"] == 4
        config = app.screen.build_config()
        assert config.threads is None and config.out is None  # a run of its own: all the cores, a new folder
        assert config.parent["folder"] == str(mid_sweep.folder / "trial-001")  # its lineage names the trial
        assert config.parent["weights"] is False and config.weights_from is None


async def test_the_runs_screen_shows_a_sweep_as_one_row_and_enter_opens_it(mid_sweep, monkeypatch):
    from workbench.screens.run_list import RunListScreen

    monkeypatch.setenv("WORKBENCH_RUNS", str(mid_sweep.folder.parent))
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.table.row_count == 1, 30)
        await shown(pilot, app, "3/6")
        # a DataTable widens its columns to new cells when it is next idle: until then a frame shows them cut
        # to their headers ("70.0", "runnin"), which a loaded machine can catch
        await shown(pilot, app, "70.00%")
        text = screen_text(app)
        assert "sweep" in text and "70.00%" in text and "running" in text, text
        await pilot.press("enter")
        await opened(pilot, app)


def test_attach_and_stop_know_a_sweep_by_its_folder_or_its_name(tmp_path, monkeypatch, capsys):
    from workbench.commands.runs import stop, stop_sweep, sweep_named

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sweep = MidSweep(tmp_path, pid=sleeper.pid)
    try:
        monkeypatch.setenv("WORKBENCH_RUNS", str(sweep.folder.parent))
        assert sweep_named(str(sweep.folder)) == sweep.folder
        assert sweep_named("sweep") == sweep.folder
        assert sweep_named(str(sweep.folder / "trial-000")) is None  # a trial is a run
        assert stop_sweep(sweep.folder, wait=False) == 0
        assert sleeper.wait(10) == -signal.SIGTERM
        assert "its running trials save" in capsys.readouterr().out
        sweep.sweeper.release()  # the sweep process has ended
        assert stop(type("Args", (), {"run": str(sweep.folder), "no_wait": False})()) == 0
        out = capsys.readouterr().out
        assert "is not running" in out and f"workbench sweep --resume {sweep.folder}" in out
    finally:
        sleeper.kill()
        sleeper.wait()
        sweep.close()


# --- a real sweep: trainers in their own processes, once for all the tests below ----------------------------

@pytest.fixture(scope="session")
def ended_sweep(tmp_path_factory):
    """Four trials of two epochs, two at a time, run to the end once (about 10 s)."""
    from trainers.sweeps.runner import Sweeper

    root = tmp_path_factory.mktemp("sweep-screen")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_DATA", str(root / "data"))
        spec = SweepSpec(name="", base=dict(BASE), space=dict(SPACE), trials=4, parallel=2, prune="none", seed=3)
        folder = make_sweep(spec, str(root / "sweep"))
        events = list(Sweeper(folder, poll=0.1).run())
    return folder, events


@pytest.mark.slow
async def test_an_ended_sweep_of_real_trainers_reads_whole(ended_sweep):
    from trainers.sweeps.runner import SweepEnded

    folder, events = ended_sweep
    end = events[-1]
    assert isinstance(end, SweepEnded) and end.finished == 4
    app = WorkbenchApp(sweep=str(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)
        await until(pilot, lambda: view.view is not None and view.view.importances)
        assert order(view.table) == [0, 1, 2, 3]
        assert view.table.current_trial().state == "finished"
        assert view.view.best.number == end.best
        assert sorted(view.query_one(TrialCurves).series) == ["0", "1", "2", "3"]
        bars = view.query_one(ImportanceBars)
        assert not bars.has_class("-empty") and set(bars.importances) == {"lr", "optimizer"}
        await shown(pilot, app, "importance")
        await shown(pilot, app, f"★ trial {end.best}")
        text = screen_text(app)
        assert "finished" in text and "4/4 done" in text
        await pilot.press("space", "space", "c")
        from workbench.screens.compare import CompareScreen

        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert len(app.screen.folders) == 2
        await pilot.press("b", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        assert Path(app.screen.folder).parent == folder
