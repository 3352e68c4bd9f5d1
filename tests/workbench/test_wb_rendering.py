"""Pure functions of the widgets: image renderers, chart reduction, progress text, filtering, parsing."""

import numpy as np
import pytest
from rich.text import Text

from workbench.render.images import RAMP, block_lines, default_rendering, plain_lines, resample
from workbench.render.tiling import cell_size
from workbench.widgets.pick.hyperparams import parse_value
from workbench.widgets.run.predictions import probability_bars
from workbench.widgets.run.progress import format_duration, loading_text, progress_text, remaining_seconds
from workbench.widgets.shared.charts import integer_ticks, reduce_series
from workbench.widgets.shared.filter_list import matches


def test_ramp_maps_brightness_to_characters():
    # one pixel per character: 0 is blank, 255 is "@", the steps in between climb the ramp
    row = np.array([0, 26, 52, 77, 103, 128, 154, 180, 205, 255], dtype=np.uint8)
    image = np.stack([row, row[::-1]])[None]  # (1, 2, 10)
    assert plain_lines(image, 10, 2) == [RAMP, RAMP[::-1]]
    assert RAMP == " .:-=+*#%@"


def test_ramp_downsamples_by_area_average():
    image = np.zeros((1, 4, 4), dtype=np.uint8)
    image[0, :2, :2] = 255  # bright top-left quarter
    assert plain_lines(image, 2, 2) == ["@ ", "  "]
    assert plain_lines(image, 1, 1) == [":"]  # a quarter of full brightness: 64 of 255


def test_resample_keeps_the_mean_and_handles_colour():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    small = resample(image, 7, 7)
    assert small.shape == (3, 7, 7)
    assert np.allclose(small.mean(axis=(1, 2)), image.mean(axis=(1, 2)), atol=1e-3)
    assert len(plain_lines(image, 9, 5)) == 5 and all(len(line) == 9 for line in plain_lines(image, 9, 5))


def test_half_blocks_colour_top_and_bottom_pixels():
    image = np.zeros((1, 2, 1), dtype=np.uint8)
    image[0, 0, 0] = 255  # top white, bottom black
    (line,) = block_lines(image, 1, 1)
    assert isinstance(line, Text) and line.plain == "▀"
    style = line.spans[0].style
    assert style.color.triplet == (255, 255, 255)
    assert style.bgcolor.triplet == (0, 0, 0)


def test_no_color_picks_the_plain_rendering():
    assert default_rendering({"NO_COLOR": "1"}) == "plain"
    assert default_rendering({"NO_COLOR": ""}) == "blocks"  # the spec: set *and non-empty*
    assert default_rendering({}) == "blocks"


def test_eight_digits_fit_side_by_side_at_80_columns():
    width, height = cell_size((28, 28), 8, (80, 16))
    assert 8 * width + 7 <= 80 and 2 * height + 1 <= 16
    assert width >= 8 and height >= 4


def test_reduce_series_keeps_extremes_and_bounds_the_size():
    xs = list(range(10_000))
    ys = [1.0] * 10_000
    ys[1234], ys[8765] = 50.0, -3.0  # single-batch spikes must survive the reduction
    rx, ry = reduce_series(xs, ys, 160)
    assert len(ry) <= 160
    assert max(ry) == 50.0 and min(ry) == -3.0
    assert rx == sorted(rx)
    assert reduce_series([1, 2, 3], [3.0, 2.0, 1.0], 160) == ([1, 2, 3], [3.0, 2.0, 1.0])


def test_integer_ticks():
    assert integer_ticks(1) == [1]
    assert integer_ticks(5) == [1, 2, 3, 4, 5]
    ticks = integer_ticks(100, most=6)
    assert ticks[0] == 1 and ticks[-1] == 100 and len(ticks) <= 8


def test_progress_text_and_time_left():
    assert format_duration(0) == "0:00"
    assert format_duration(75) == "1:15"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) == "--:--"
    # 10 of 40 batches done in 5 s -> 15 s left
    assert remaining_seconds(5.0, 10, 1, 10, 20, 2) == pytest.approx(15.0)
    text = progress_text(1, 2, 10, 20, 1234.5, 5.0, 15.0)
    assert text == "epoch 1/2  batch 10/20  1,234 samples/s  0:05 elapsed  0:15 left"
    # resumed after epoch 2 for 2 more (the run's last epoch is 4): 10 of this run's 40 batches in 5 s
    assert remaining_seconds(5.0, 10, 3, 10, 20, 4) == pytest.approx(15.0)


def test_loading_text():
    assert loading_text("downloading train-images-idx3-ubyte.gz", 450, 1000) == (
        "downloading train-images-idx3-ubyte.gz 45%")
    assert loading_text("decoding training images", 1200, 5000) == "decoding training images 1200/5000"
    assert loading_text("downloading t10k-labels-idx1-ubyte.gz", 2_500_000, 0) == (
        "downloading t10k-labels-idx1-ubyte.gz 2.5 MB")
    assert loading_text("reading files", 0, 0) == "reading files…"


def test_probability_bars():
    lines = probability_bars(np.array([0.75, 0.25]), ("cat", "dog"), 32)  # bars of 20 cells
    assert lines[0].startswith("cat ") and lines[0].endswith(" 75.0%")
    assert lines[0].count("█") == 3 * lines[1].count("█")
    assert all(len(line) == len(lines[0]) for line in lines)


def test_filter_matches_words_in_name_or_description():
    assert matches("auto", "autoencoder convolutional autoencoder")
    assert matches("conv 28", "autoencoder convolutional 28x28")
    assert not matches("lenet", "mlp 784-256-10")
    assert matches("", "anything")


def test_form_values_parse_with_readable_errors():
    assert parse_value("lr", float, " 0.01 ") == 0.01
    assert parse_value("epochs", int, "") is None
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        parse_value("epochs", int, "2.5")
