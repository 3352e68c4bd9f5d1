"""The convolution lab screen, used with the keyboard as a person would."""

from workbench.app import WorkbenchApp
from workbench.screens.lab import LabScreen
from workbench.widgets.shared.charts import LineChart

from .helpers import screen_text, shown, until


async def test_the_lab_shows_the_edge_detector_finds_vertical_edges_and_learns_the_kernel_back():
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        assert isinstance(app.screen, LabScreen)
        lab = app.screen
        await until(pilot, lambda: lab.current is not None, 120)
        await shown(pilot, app, "output 6x7")
        text = screen_text(app)
        assert "input 6x8" in text and "kernel 1x2" in text and "output 6x7" in text
        assert " 0  1  0  0  0 -1  0" in text  # the notes' edge map
        assert "(8 − 2 + 2·0) / 1 + 1 = 7" in text
        await pilot.press("t")  # the transposed image: horizontal edges, which [1, -1] misses
        await until(pilot, lambda: "finds nothing" in screen_text(app))
        await pilot.press("t", "l")
        chart = lab.query_one("#lab-loss", LineChart)
        await until(pilot, lambda: chart.points == 10)
        assert lab.query_one("#lab-tabs").active == "tab-learn"
        learned = lab.learned.tolist()[0]
        assert abs(learned[0] - 1) < 0.05 and abs(learned[1] + 1) < 0.05
        await until(pilot, lambda: "step 10: loss" in screen_text(app))
        await pilot.press("m")
        await until(pilot, lambda: chart.points == 20)
        assert abs(lab.learned.tolist()[0][1] + 1) < 0.01  # more steps, closer


async def test_padding_and_stride_change_the_shape_and_a_bad_kernel_is_one_sentence():
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        lab = app.screen
        await until(pilot, lambda: lab.current is not None, 120)
        lab.query_one("#lab-kernel").value = "0 1 0; 1 -4 1; 0 1 0"
        lab.query_one("#lab-padding").value = "1"
        lab.query_one("#lab-stride").value = "2"
        await until(pilot, lambda: "→ 3x4" in screen_text(app))  # 6x8, 3x3, padding 1, stride 2
        assert "⌊(6 − 3 + 2·1) / 2⌋ + 1 = 3" in screen_text(app)
        lab.query_one("#lab-kernel").value = "1 2; 3"
        await until(pilot, lambda: "same number of values" in screen_text(app))
        lab.query_one("#lab-padding").value = "0"
        lab.query_one("#lab-kernel").value = "1 1 1 1 1 1 1 1 1"  # 9 wide on an 8 wide input
        await until(pilot, lambda: "does not fit" in screen_text(app))
        await pilot.press("b")
        assert not isinstance(app.screen, LabScreen)
