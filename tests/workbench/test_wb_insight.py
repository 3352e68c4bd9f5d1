"""Tabs 6 and 7 of the run screen after a tiny run: the activations of a few images layer by layer, the
confusion matrix and the worst images, an autoencoder's latent scatter and worst reconstructions."""

import numpy as np

from tests.conftest import recorded
from trainers import events as ev
from trainers.data.registry import FASHION_CLASSES
from workbench.app import WorkbenchApp
from workbench.render.images import RAMP
from workbench.screens.run import RunScreen
from workbench.widgets.insight.activations import ActivationView
from workbench.widgets.insight.confusion import ConfusionView, ScatterPlot, WorstReconstructions, abbreviate, matrix_lines

from .helpers import screen_text, tiny, until


def drawn_rows(text: str) -> int:
    """Lines that hold a plain-character picture somewhere (a run of 6+ ramp characters, not all blank)."""
    count = 0
    for line in text.splitlines():
        runs = [run for run in line.split("  ") if len(run) >= 6 and set(run) <= set(RAMP) and run.strip()]
        count += bool(runs)
    return count


async def test_a_classifiers_activations_and_errors_tabs(tmp_path):
    folder, events = recorded(tiny(model="lenet5", epochs=1, out=str(tmp_path / "run")))
    app = WorkbenchApp(attach=folder)
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        view = app.screen
        await pilot.press("6")
        assert view.query_one("#tabs").active == "tab-activations"
        acts = view.query_one(ActivationView)
        assert acts.has_focus and acts.event.epoch == 1  # the last epoch's walk, not initialisation's
        text = screen_text(app)
        assert "activations after epoch 1" in text and "6×28×28" in text and "16×5×5" in text
        assert "Conv2d 0: 6×28×28 · image 1/4" in text
        assert "before: Conv2d 0" in text and "after: Sigmoid 1" in text  # the pair, one above the other
        assert drawn_rows(text) >= 4
        assert "Layer" in text.splitlines()[-1] and "Image" in text.splitlines()[-1]  # the keys, in the footer
        await pilot.press("down", "down", "right")
        assert (acts.layer, acts.image) == (2, 1)
        text = screen_text(app)
        assert "AvgPool2d 2: 6×14×14 · image 2/4" in text and "before:" not in text
        await pilot.press(*["down"] * 20)  # past the end: stays on the last layer
        assert acts.layer == len(acts.event.layers) - 1
        assert "no feature maps" in screen_text(app)
        await pilot.press("left", "left")
        assert acts.image == 3  # wraps round

        await pilot.press("7")
        assert view.query_one("#tabs").active == "tab-errors"
        confusion = [e for e in events if isinstance(e, ev.Confusion)][-1]
        shown = view.query_one(ConfusionView).event
        assert np.array_equal(shown.matrix, confusion.matrix)
        text = screen_text(app)
        assert "7 Errors" in text and "rows true, columns predicted" in text
        right = int(np.trace(confusion.matrix))
        assert f"{right} of 64 test images right" in text
        row = next(line for line in text.splitlines() if line.startswith("3 "))  # true class "3"
        assert [int(v) for v in row.split()[1:11]] == confusion.matrix[3].tolist()
        await pilot.press("end")  # the worst images are below the matrix: the arrows scroll there
        await pilot.pause()
        text = screen_text(app)
        wrong = len(confusion.worst_true)
        assert f"the {wrong} most confidently wrong" in text
        first = f"pred {confusion.classes[confusion.worst_predicted[0]]} {100 * confusion.worst_confidence[0]:.0f}%"
        assert first in text and f"true {confusion.classes[confusion.worst_true[0]]}" in text
        assert drawn_rows(text) >= 2
        for key in "1234567":  # every tab from here, and back
            await pilot.press(key, "7")
            assert view.query_one("#tabs").active == "tab-errors"


async def test_an_autoencoders_latent_tab(tmp_path):
    folder, events = recorded(tiny(model="autoencoder", epochs=2, out=str(tmp_path / "ae")))
    app = WorkbenchApp(attach=folder)
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.press("7")
        view = app.screen
        latent = [e for e in events if isinstance(e, ev.Latent)][-1]
        scatter = view.query_one(ScatterPlot)
        assert scatter.event.epoch == 2 and scatter.replots >= 1
        text = screen_text(app)
        assert "7 Latent/errors" in text and "PCA of 64 codes" in text
        assert "worst first · mean error" in text and f"{latent.worst_errors[0]:.3f}" in text
        pictures = [line for line in view.query_one(WorstReconstructions).render().plain.splitlines()
                    if line.strip() and set(line) <= set(RAMP)]
        assert len(pictures) >= 8  # originals over reconstructions, in plain characters
        legend = view.query_one("#latent-legend").render().plain
        assert all(f"{c} {c}" in legend for c in sorted(set(latent.labels.tolist())))
        assert not view.query_one("#confusion-scroll").display
        assert view.query_one(WorstReconstructions).event is latent or \
            view.query_one(WorstReconstructions).event.epoch == 2
        await pilot.press("6")
        assert "encoder.0" in screen_text(app) and "decoder.0 ConvT2d" in screen_text(app)  # short kinds in the list


def test_fashion_names_are_shortened_at_word_boundaries_and_whole_in_the_matrix():
    assert abbreviate("T-shirt/top", 7) == "T-shirt" and abbreviate("Ankle boot", 6) == "Ankle"
    assert abbreviate("Pullover", 6) == "Pullo." and abbreviate("Bag", 9) == "Bag"
    matrix = np.arange(100).reshape(10, 10) * 11
    per_class = tuple(float(matrix[i, i]) / matrix[i].sum() for i in range(10))
    lines = [line.plain for line in matrix_lines(matrix, FASHION_CLASSES, per_class, 80)]
    assert all(len(line) <= 80 for line in lines)
    for i, name in enumerate(FASHION_CLASSES):  # the legend: each row ends in its whole class name
        assert lines[i + 1].endswith(name) and lines[i + 1].startswith(f"{i} ")
        assert f"{100 * per_class[i]:3.0f}%" in lines[i + 1]
    assert lines[0].split()[:10] == [str(j) for j in range(10)]


def test_the_scatter_legend_never_splits_an_entry():
    from workbench.widgets.insight.confusion import legend_lines

    lines = [line.plain for line in legend_lines(FASHION_CLASSES, range(10), 48)]
    assert all(len(line) <= 48 for line in lines) and len(lines) == 3
    entries = [entry for line in lines for entry in line.split("  ")]
    assert entries == [f"{i} {name}" for i, name in enumerate(FASHION_CLASSES)]
