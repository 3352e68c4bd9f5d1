"""Charts a person can read: round, evenly spaced ticks, the legend off the data, log scale, smoothing."""

from __future__ import annotations

import math

from workbench.app import WorkbenchApp
from workbench.screens.run import RunScreen
from workbench.widgets.shared.charts import LineChart, ema, log_ticks, nice_ticks, tick_label

from ..conftest import recorded
from .helpers import screen_text, tiny, until


def test_ticks_are_round_and_evenly_spaced_and_cover_the_data():
    for lo, hi in [(0.40, 2.30), (2.05, 2.34), (0.0, 61.0), (1e-4, 3e-4), (7.0, 7.0), (-1.5, 2.5)]:
        ticks = nice_ticks(lo, hi, most=5)
        steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
        assert len(steps) == 1, ticks  # evenly spaced
        step = steps.pop()
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), step  # 1, 2 or 5 x 10^k
        assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 7
    assert nice_ticks(0.40, 2.30, most=5) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [tick_label(t, 0.5) for t in (0.0, 0.5, 2.5)] == ["0.0", "0.5", "2.5"]
    assert tick_label(0.25, 0.25) == "0.25" and tick_label(40.0, 20.0) == "40"


def test_log_ticks_are_decades_and_their_1_2_5_steps():
    assert log_ticks(0.03, 2.0, most=6) == [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]
    wide = log_ticks(1e-4, 10.0, most=4)
    assert all(math.isclose(10 ** round(math.log10(t)), t) for t in wide)  # thinned to decades
    assert wide[0] <= 1e-4 and wide[-1] >= 10.0


def test_smoothing_is_a_debiased_moving_average():
    assert ema([2.0, 2.0, 2.0], 0.9) == [2.0, 2.0, 2.0]  # no pull towards zero at the start
    ys = [0.0, 1.0]
    assert ema(ys, 0.5)[1] == (0.5 * (0.5 * 0.0) + 0.5 * 1.0) / (1 - 0.25)
    assert ema(ys, 0.0) == ys


async def test_the_legend_is_on_the_border_and_log_and_smoothing_are_keys(tmp_path):
    folder, _ = recorded(tiny(epochs=3, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        loss = app.screen.query_one("#chart-loss", LineChart)
        await until(pilot, lambda: loss.replots > 0 and loss.y_ticks)
        lines = screen_text(app).splitlines()
        legend = [line for line in lines if "loss per epoch" in line]
        assert legend and "⣿ train" in legend[0] and "▞ test" in legend[0]
        assert legend[0].startswith("─")  # on the top border line, above the plot, not inside it
        assert not any("train" in line for line in lines if "┤" in line or "│" in line[:6])
        ticks = loss.y_ticks
        assert len({round(b - a, 9) for a, b in zip(ticks, ticks[1:])}) == 1
        batch = app.screen.query_one("#chart-batch", LineChart)
        await pilot.press("l")
        assert batch.log_y and loss.log_y
        await pilot.press("m", "m")
        assert batch.smoothing == 0.8
        await until(pilot, lambda: not batch.dirty)
        assert "smoothing 0.8" in screen_text(app) and "log" in screen_text(app)
        await pilot.press("m", "m", "m", "m")  # 0.9, 0.95, 0.99, then off
        assert batch.smoothing == 0.0  # after the strongest, off again
        await pilot.press("l")
        assert not batch.log_y


def test_a_log_axis_always_reaches_the_lowest_point():
    """Round linear ticks start at 0, which a log axis cannot place: the best epochs must not fall off."""
    for low, high in [(0.08, 0.6), (0.3, 2.3), (1.5, 2.4), (1e-3, 5.0)]:
        chart = LineChart("loss", [("train", "cyan", "braille")])
        chart.log_y = True
        chart.set_y_ticks(math.log10(low), math.log10(high))
        assert chart.y_ticks[0] <= low and chart.y_ticks[-1] >= high, (low, high, chart.y_ticks)
