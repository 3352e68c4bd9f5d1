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


async def test_the_channels_tab_shows_each_output_channel_as_a_sum_over_the_input_channels():
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        lab = app.screen
        await until(pilot, lambda: lab.current is not None, 120)
        await pilot.press("3")
        assert lab.query_one("#lab-tabs").active == "tab-channels"
        await shown(pilot, app, "192 224")  # the notes' three output channels
        text = screen_text(app)
        assert "input X: 2 channels of 3x3" in text and "X[0]⋆K[0,0] +" in text and "X[1]⋆K[0,1] =" in text
        assert " 56  72" in text and "19 25" in text and "K 3x2x2x2 (out × in × h × w)" in text
        await pilot.press("o")
        await shown(pilot, app, "X[1]⋆K[1,1] =")
        assert "Y[1] ◂" in screen_text(app) and "49  63" in screen_text(app)
        lab.query_one("#lab-ch-kernels").value = "0 1; 2 3 | 1 2; 3 4 | 1 1; 1 1"
        said = "the kernel stack has 3 input channels but the input has 2: give one kernel per"  # ... input channel.
        await shown(pilot, app, said)
        await pilot.press("1")  # each tab keeps its own message
        await until(pilot, lambda: said not in screen_text(app))
        await pilot.press("3")
        await shown(pilot, app, said)
        lab.query_one("#lab-ch-in").value = "3"  # now it fits: one output channel of three summed maps
        lab.query_one("#lab-ch-out").value = "1"
        await shown(pilot, app, "X[2]⋆K[0,2] =")
        lab.query_one("#lab-stride").value = "2"  # the row above serves this tab too
        await shown(pilot, app, "⌊(3 − 2 + 2·0) / 2⌋ + 1 = 1")


async def test_the_pooling_tab_moves_the_window_and_shows_max_and_average_side_by_side():
    from workbench.widgets.lab.pooling import PoolingView

    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("L")
        lab = app.screen
        await until(pilot, lambda: lab.current is not None, 120)
        await pilot.press("4")
        view = lab.query_one(PoolingView)
        await shown(pilot, app, "window 1/4: rows 0–1, cols 0–1 → max 4 · avg (0 + 1 + 3 + 4) / 4 = 2")
        text = screen_text(app)
        assert "max 2x2" in text and "average 2x2" in text and "4 5" in text and "2 3" in text
        assert view.marked() == "0 1" "4" "2" "3 4"  # row by row: the window over 0 1 / 3 4, the cells 4 and 2
        await pilot.press("n")
        await shown(pilot, app, "window 2/4: rows 0–1, cols 1–2 → max 5 · avg (1 + 2 + 4 + 5) / 4 = 3")
        assert view.marked() == "1 2" "5" "3" "4 5"
        await pilot.press("N")
        await shown(pilot, app, "window 1/4")
        await pilot.press("p")  # plays to the last window and stops
        await until(pilot, lambda: view.position == 3 and view.playing is None)
        assert view.marked() == "4 5" "8" "6" "7 8"
        lab.query_one("#lab-pool-image").value = "notes-4x4"
        lab.query_one("#lab-pool-size").value = "3"
        lab.query_one("#lab-padding").value = "1"
        lab.query_one("#lab-stride").value = "2"
        await shown(pilot, app, "nn.AvgPool2d(3, stride=2, padding=1)")
        await shown(pilot, app, "13 15")  # the notes' MaxPool2d(3, padding=1, stride=2)
        assert "padded 6x6" in screen_text(app) and "−∞ for max" in screen_text(app)
        lab.query_one("#lab-pool-size").value = "2x3"
        lab.query_one("#lab-padding").value = "0"
        await shown(pilot, app, "window 2x3, stride 2, padding 0")
        lab.query_one("#lab-pool-size").value = "5"
        await shown(pilot, app, "a 5x5 pooling window does not fit a 4x4 input with padding 0")
        lab.query_one("#lab-pool-size").value = "2"
        lab.query_one("#lab-stride").value = "0"
        await shown(pilot, app, "stride must be at least 1, got 0.")
