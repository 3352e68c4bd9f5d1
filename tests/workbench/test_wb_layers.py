"""The Layers tab (5): a row per layer after a run with layer statistics, how to get them when there are
none, and the lease that asks a live trainer for them while the tab is shown."""

from tests.conftest import recorded
from trainers.runs.requests import WATCH
from trainers.runs.files import read_json
from workbench.app import WorkbenchApp
from workbench.screens.run import RunScreen
from workbench.widgets.run.layer_stats import BARS, LayerStatsView, sparkline

from .helpers import screen_text, shown, tiny, until


async def test_the_layers_tab_shows_a_row_per_layer_after_a_run_with_stats(tmp_path):
    folder, _ = recorded(tiny(model="lenet5", epochs=1, layer_stats=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.press("5")
        await pilot.pause()
        view = app.screen.query_one(LayerStatsView)
        assert app.screen.query_one("#tabs").active == "tab-layers"
        assert view.event is not None and view.event.batch == 3  # the last one recorded
        table = view.table
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[0] for r in rows][:2] == ["0", "1"] and rows[0][1] == "Conv2d" and rows[1][1] == "Sigmoid"
        assert rows[0][5] and set(rows[0][5]) <= set(BARS + " ")  # the weights' histogram as bars
        assert rows[1][6].endswith("% sat.")
        text = screen_text(app)
        assert "Vanishing gradients" in text and "Conv2d" in text
        lines = text.splitlines()
        assert all(len(line) <= 80 for line in lines)
        # flags wrap at words: no line of the flags ends inside a word that the next one continues
        flag_lines = [i for i, line in enumerate(lines) if "Vanishing" in line]
        assert flag_lines and lines[flag_lines[0]].rstrip()[-1:] != "-"


async def test_a_finished_run_without_stats_says_how_to_turn_them_on(tmp_path):
    folder, _ = recorded(tiny(epochs=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.press("5")
        await pilot.pause()
        assert "--layer-stats N" in screen_text(app)
        assert not app.screen.query_one(LayerStatsView).table.display
        assert "layers_until" not in (read_json(tmp_path / "run" / WATCH) or {})  # nobody to ask


async def test_showing_the_tab_of_a_live_run_asks_its_trainer_for_stats_and_draws_them_as_they_come(tmp_path):
    import time

    import numpy as np

    from trainers import events as ev
    from trainers.runs import FolderControl, RunWriter
    from trainers.runs.files import FolderLock

    folder = tmp_path / "live"  # a live run's folder, written here as its trainer would
    folder.mkdir()
    lock = FolderLock(folder).acquire()
    writer = RunWriter(folder)
    writer.starting()
    app = WorkbenchApp(attach=str(folder))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and "5 Layers" in screen_text(app))
            await pilot.press("2")
            assert "layers_until" not in (read_json(folder / WATCH) or {})  # not shown: not asked
            await pilot.press("5")
            await until(pilot, lambda: "layers_until" in (read_json(folder / WATCH) or {}))
            assert read_json(folder / WATCH)["layers_until"] > time.time()
            assert FolderControl(folder).layer_stats_wanted()  # what the trainer's control then says
            await shown(pilot, app, "While this tab is shown the")
            counts = np.array([0, 1, 3, 9] * 4, dtype=np.int64)
            writer.write(ev.LayerStats(epoch=1, batch=50, batches=100, step=50, images=32, layers=(
                ev.LayerStat("fc1", "Linear", 200960, 9.8, 0.7, 1.4e-3, counts, np.linspace(-1, 1, 17)),
                ev.LayerStat("relu", "ReLU", dead=0.62)), flags=("Dead ReLUs: relu 62% of the units output 0.",)))
            view = app.screen.query_one(LayerStatsView)
            await shown(pilot, app, "62% dead")
            text = screen_text(app)
            assert "fc1" in text and "1.4e-03" in text and "batch 50/100" in text
            assert "step 50 · epoch 1" in text and "Dead ReLUs" in text
            assert view.event.step == 50
    finally:
        writer.log.close()
        lock.release()


def test_the_histogram_strip_scales_to_the_fullest_bin_and_leaves_empty_bins_blank():
    assert sparkline([0, 1, 2, 4]) == " ▃▅█"
    assert sparkline([]) == "" and sparkline([0, 0]) == "  "
