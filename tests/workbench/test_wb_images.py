"""The images tab as a keyboard user sees it: how many images fit at 80x24 and at 140x45, labels that are
never cut, n/N paging, the renderings r offers (never one that shows nothing), and the pixel mode's
detection and fallback (no terminal is asked in tests)."""

import io
import re
import sys

import numpy as np
import pytest

from trainers import events as ev
from trainers.runs import RunWriter
from trainers.runs.files import FolderLock
from workbench.app import WorkbenchApp
from workbench.render import images
from workbench.render.images import RAMP, SHADES, detect_pixels, next_rendering, renderings
from workbench.render.tiling import tile, wrap_label
from workbench.screens.run import RunScreen
from workbench.widgets.run.predictions import PredictionView, image_labels
from workbench.widgets.run.reconstructions import ReconstructionView

from .helpers import screen_text, until

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
COUNT = 32  # test images the trainer records per epoch (RunConfig.samples)


def digits(count: int = COUNT) -> np.ndarray:
    """`count` distinct 28x28 images: image i has a bright bar whose length says i."""
    out = np.full((count, 1, 28, 28), 60, dtype=np.uint8)  # a grey ground: every row of an image shows
    for i in range(count):
        out[i, 0, 2:26, 2:2 + (i % 24) + 1] = 255
        out[i, 0, 0, i % 28] = 128
    return out


def write_run(folder, task: str, count: int = COUNT) -> str:
    """A finished run's folder, written as a trainer would, without training: one epoch's images."""
    folder.mkdir()
    lock = FolderLock(folder).acquire()
    writer = RunWriter(folder)
    writer.starting()
    model = "autoencoder" if task == "reconstruct" else "lenet"
    writer.write(ev.RunStarted(model=model, dataset="fashion-mnist", task=task, summary="Net()", parameters=10,
                               trainable=10, device="cpu", train_size=96, test_size=count, batches_per_epoch=3,
                               epochs=1, classes=FASHION, config={"model": model, "dataset": "fashion-mnist"}))
    x = digits(count)
    if task == "reconstruct":
        writer.write(ev.Reconstructions(epoch=1, originals=x, outputs=x // 2))
    else:
        labels = tuple(i % 10 for i in range(count))
        predicted = tuple((i + (i % 3 == 0)) % 10 for i in range(count))  # every third one wrong
        probs = np.full((count, 10), 0.01, dtype=np.float32)
        probs[np.arange(count), predicted] = 0.91
        writer.write(ev.Predictions(epoch=1, images=x, labels=labels, predicted=predicted, probabilities=probs,
                                    classes=FASHION))
    writer.write(ev.RunFinished(epochs_completed=1, stopped=False, seconds=1.0))
    writer.close()
    lock.release()
    return str(folder)


async def open_images(pilot, app):
    await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
    await pilot.press("3")
    await pilot.pause()
    return app.screen


# -- layout ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (140, 45)])
async def test_reconstructions_use_the_tab(tmp_path, size):
    app = WorkbenchApp(attach=write_run(tmp_path / "ae", "reconstruct"))
    app.rendering = "plain"
    async with app.run_test(size=size) as pilot:
        view = (await open_images(pilot, app)).query_one(ReconstructionView)
        t = view.tiling()
        assert t.per_page >= 4 and t.width >= 14 and t.height >= 7  # at least 4 pairs of at least 14x7
        width, height = view.size
        used_w = t.per_row * (t.width + 1) - 1
        used_h = 1 + t.bands * (2 * t.height + 2) - 1
        assert used_w <= width and used_h <= height
        # what is drawn: per_row originals side by side, each `width` cells of the ramp
        lines = [line for line in screen_text(app).splitlines() if line.strip() and set(line) <= set(RAMP)]
        assert len(lines) == 2 * t.bands * t.height  # every image row of originals and reconstructions
        if size == (140, 45):
            # growing with the terminal: more picture than at 80x24, and most of the tab is used
            assert t.per_page * t.width * t.height > 5 * 14 * 7
            assert t.per_page >= 8 and t.width > 14  # more pairs, and bigger
            assert used_w * used_h > 0.6 * width * height


async def test_predictions_at_80x24_fit_four_images_with_whole_labels(tmp_path):
    app = WorkbenchApp(attach=write_run(tmp_path / "cl", "classify"))
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(PredictionView)
        t = view.tiling()
        assert t.per_page >= 4 and t.width >= 14 and t.height >= 7
        text = screen_text(app)
        e = view.event
        for i in view.shown():  # every label on the page, whole
            assert f"{'✓' if e.labels[i] == e.predicted[i] else '✗'}{FASHION[e.predicted[i]]}" in text
            if e.labels[i] != e.predicted[i]:
                assert f"={FASHION[e.labels[i]]}" in text
        assert "softmax" in text and "Ankle boot" in text


@pytest.mark.parametrize("width", [4, 6, 9, 14, 20])
def test_labels_are_never_cut(width):
    for name in FASHION + ("automobile", "a-very-long-class-name/with parts"):
        for label, guess in ((0, 0), (0, 1)):
            classes = (name, name)
            guess_lines, true_lines = image_labels(classes, label, guess, width)
            assert all(len(line) <= width for line in guess_lines + true_lines)
            assert "".join(guess_lines).replace(" ", "") == f"{'✓' if label == guess else '✗'}{name}".replace(" ", "")
            if label != guess:
                assert "".join(true_lines).replace(" ", "") == f"={name}".replace(" ", "")


def test_wrap_label_breaks_at_word_ends_first():
    assert wrap_label("T-shirt/top", 14) == ["T-shirt/top"]
    assert wrap_label("✓T-shirt/top", 9) == ["✓T-shirt/", "top"]
    assert wrap_label("=Ankle boot", 9) == ["=Ankle", "boot"]
    assert wrap_label("Sneaker", 4) == ["Snea", "ker"]


async def test_narrow_images_get_their_labels_on_more_lines():
    from textual.app import App

    class One(App):
        def compose(self):
            yield PredictionView()

    labels, predicted = (0, 9, 2, 7), (0, 0, 2, 9)  # T-shirt/top right; Ankle boot taken for a T-shirt/top...
    probs = np.full((4, 10), 0.1, dtype=np.float32)
    event = ev.Predictions(epoch=1, images=digits(4), labels=labels, predicted=predicted, probabilities=probs,
                           classes=FASHION)
    async with One().run_test(size=(38, 19)) as pilot:
        view = pilot.app.query_one(PredictionView)
        view.rendering = "plain"
        view.show(event)
        await pilot.pause()
        t = view.tiling()
        assert t.width < len("✓T-shirt/top")  # too narrow for one line
        text = screen_text(pilot.app)
        for i in view.shown():
            for line in sum(image_labels(FASHION, labels[i], predicted[i], t.width), []):
                assert line in text
        assert "T-shirt/" in text and "top" in text


def test_tiling_grows_and_keeps_the_aspect():
    small = tile((28, 28), 32, (80, 16), stack=2, extra=1)
    large = tile((28, 28), 32, (140, 37), stack=2, extra=1)
    assert small.per_page * small.width * small.height < large.per_page * large.width * large.height
    for t in (small, large):
        assert t.width == 2 * t.height  # a cell is one pixel across, two down
    wide = tile((32, 64), 8, (80, 16), stack=1)
    assert wide.width == 4 * wide.height
    assert tile((28, 28), 3, (140, 37)).per_page <= 3  # no more slots than images
    alone = tile((28, 28), 1, (140, 40))
    assert (alone.width, alone.height) == (28, 14)  # no bigger than its own pixels: more would show nothing new


# -- paging ---------------------------------------------------------------------------------------------


async def test_n_and_shift_n_page_through_other_reconstructions(tmp_path):
    app = WorkbenchApp(attach=write_run(tmp_path / "ae", "reconstruct"))
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(ReconstructionView)
        per_page = view.tiling().per_page
        first = screen_text(app)
        assert list(view.shown()) == list(range(per_page))
        assert f"1-{per_page} of {COUNT} (n/N)" in first
        await pilot.press("n")
        assert list(view.shown()) == list(range(per_page, 2 * per_page))
        second = screen_text(app)
        assert second != first and f"{per_page + 1}-{2 * per_page} of {COUNT} (n/N)" in second
        await pilot.press("N")
        assert screen_text(app) == first
        await pilot.press("N")  # back from the first page: the last one
        last = (COUNT - 1) // per_page * per_page
        assert view.shown().start == last and view.shown().stop == COUNT


async def test_paging_predictions_moves_the_focus_and_the_page_follows_it(tmp_path):
    app = WorkbenchApp(attach=write_run(tmp_path / "cl", "classify"))
    app.rendering = "plain"
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(PredictionView)
        per_page = view.tiling().per_page
        await pilot.press("n")
        assert view.focus_index == per_page and view.shown().start == per_page
        assert f"image {per_page + 1}: true {FASHION[per_page % 10]}" in screen_text(app)
        await pilot.press("left_square_bracket")  # off the page's left edge: the page before
        assert view.focus_index == per_page - 1 and view.shown().start == 0


# -- renderings -----------------------------------------------------------------------------------------


def test_renderings_offered_show_something():
    assert renderings(colour=True) == ("blocks", "shades", "plain")
    assert renderings(colour=False) == ("shades", "plain")  # half blocks need colour
    assert renderings(colour=True, pixels="tgp")[0] == "pixels"
    assert "pixels" not in renderings(colour=False, pixels="tgp")  # Kitty's placeholders are coloured
    assert renderings(colour=False, pixels="sixel")[0] == "pixels"
    assert next_rendering("blocks", ("shades", "plain")) == "shades"
    assert next_rendering("plain", ("blocks", "shades", "plain")) == "blocks"
    assert images.default_rendering(colour=True, pixels="sixel") == "pixels"
    assert images.default_rendering(colour=False) == "plain"


def test_shades_climb_from_blank_to_full_block():
    row = np.array([0, 60, 110, 160, 255], dtype=np.uint8)
    assert images.shade_lines(row[None, None], 5, 1) == [SHADES]


async def test_no_color_never_draws_half_blocks_and_r_skips_them(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = WorkbenchApp(attach=write_run(tmp_path / "ae", "reconstruct"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_images(pilot, app)
        view = screen.query_one(ReconstructionView)
        seen = []
        for _ in range(4):  # twice round
            seen.append(view.rendering)
            text = screen_text(app)
            assert "▀" not in text
            drawn = "".join(line for line in text.splitlines() if set(line) <= set(RAMP + SHADES) and line.strip())
            assert len(set(drawn)) >= 3  # an image, not one character everywhere
            await pilot.press("r")
        assert seen == ["plain", "shades", "plain", "shades"]


async def test_r_cycles_all_character_renderings_in_colour(tmp_path):
    app = WorkbenchApp(attach=write_run(tmp_path / "ae", "reconstruct"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_images(pilot, app)
        view = screen.query_one(ReconstructionView)
        assert view.rendering == "blocks" and "▀" in screen_text(app)
        await pilot.press("r")
        assert view.rendering == "shades" and "█" in screen_text(app) and "▀" not in screen_text(app)
        assert "r: shades" in screen_text(app) and "shade characters" in screen_text(app)
        await pilot.press("r", "r")
        assert view.rendering == "blocks"


# -- real pixels ----------------------------------------------------------------------------------------


def test_pixel_detection_asks_no_terminal_in_tests(monkeypatch):
    monkeypatch.setattr(images, "_pixels", None)
    monkeypatch.setattr(sys, "__stdout__", io.StringIO())  # not a terminal: nothing is asked
    assert detect_pixels({}) is None and images.pixel_protocol() is None
    assert detect_pixels({"WORKBENCH_PIXELS": "0"}) is None
    assert "pixels" not in WorkbenchApp().renderings


def _textual_image_widget(name: str = "HalfcellImage"):
    """One of textual-image's widgets, imported with stdout not a terminal so that it asks nothing."""
    saved = sys.__stdout__
    sys.__stdout__ = io.StringIO()
    try:
        from textual_image import widget
    finally:
        sys.__stdout__ = saved
    return getattr(widget, name)


async def test_pixel_mode_places_one_picture_per_image_over_the_blanks(tmp_path, monkeypatch):
    # a stand-in for Sixel/Kitty: textual-image's own half-cell widget, which draws through Textual
    monkeypatch.setattr(images, "_pixels", ("sixel", _textual_image_widget()))
    app = WorkbenchApp(attach=write_run(tmp_path / "ae", "reconstruct"))
    assert app.renderings[0] == "pixels" and app.rendering == "pixels"
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(ReconstructionView)
        t = view.tiling()
        await pilot.pause()
        pictures = list(view.children)
        assert len(pictures) == 2 * t.per_page
        spots = {(p.region.x - view.content_region.x, p.region.y - view.content_region.y, p.region.width,
                  p.region.height) for p in pictures}
        assert spots == {(x, y, w, h) for _, x, y, w, h in view.placements()}
        assert len(spots) == len(pictures)  # none on top of another
        await pilot.press("n")
        await pilot.pause()
        assert len(view.children) == 2 * min(t.per_page, COUNT - t.per_page)
        await pilot.press("r")  # to half blocks: the pictures go, characters come
        await pilot.pause()
        assert not view.children and "▀" in screen_text(app)


async def test_pixel_mode_without_a_pixel_terminal_falls_back_to_characters(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_pixels", None)
    app = WorkbenchApp(attach=write_run(tmp_path / "cl", "classify"))
    app.rendering = "pixels"  # e.g. chosen in another terminal: here none was detected
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(PredictionView)
        assert not view.children and "▀" in screen_text(app)
        await pilot.press("r")  # pixels is not among this terminal's renderings: r goes to the first that is
        assert view.rendering == "blocks"


async def test_pixel_mode_with_sixel_sends_one_sixel_picture_per_image(tmp_path, monkeypatch):
    # textual-image's Sixel widget draws through Textual's segments (Kitty's writes to the terminal itself)
    monkeypatch.setattr(images, "_pixels", ("sixel", _textual_image_widget("SixelImage")))
    app = WorkbenchApp(attach=write_run(tmp_path / "cl", "classify"))
    async with app.run_test(size=(80, 24)) as pilot:
        view = (await open_images(pilot, app)).query_one(PredictionView)
        await pilot.pause()
        per_page = view.tiling().per_page
        segments = [s for strip in app.screen._compositor.render_strips() for s in strip]
        assert sum("\x1bP" in s.text for s in segments) == per_page  # a Sixel sequence (DCS) per image
        assert "✗Trouser" in screen_text(app)  # the labels are still characters


def _decode_sixel(data: str):
    """A small Sixel decoder (colour resolved when a pixel is painted, as the standard has it): (H, W, 3) ints."""
    import numpy as np

    body = data.split("q", 1)[1].removesuffix("\x1b\\")
    raster = re.match(r'"\d+;\d+;(\d+);(\d+)', body)
    width, height = int(raster.group(1)), int(raster.group(2))
    body = body[raster.end():]
    out = np.full((height, width, 3), -1)
    registers, colour, x, band = {}, (0, 0, 0), 0, 0
    for token in re.finditer(r"#(\d+)(?:;2;(\d+);(\d+);(\d+))?|!(\d+)(.)|([?-~])|(\$)|(-)", body):
        number, r, g, b, count, repeated, single, cr, nl = token.groups()
        if number is not None:
            if r is not None:
                registers[number] = (int(r), int(g), int(b))
            colour = registers[number]
        elif cr:
            x = 0
        elif nl:
            x, band = 0, band + 6
        else:
            char, times = (repeated, int(count)) if count else (single, 1)
            bits = ord(char) - 0x3F
            for _ in range(times):
                for row in range(6):
                    if bits >> row & 1 and band + row < height:
                        out[band + row, x] = colour
                x += 1
    return out


def test_a_sixel_image_defines_every_colour_before_its_first_pixel():
    """xterm (vt340) painted the bands drawn before a colour's definition in its default palette: a flat bar
    over the top of every image. The terminal must receive every register defined first, then the pixels."""
    import numpy as np
    from PIL import Image
    from textual_image._sixel import image_to_sixels

    from workbench.render.images import registers_first

    grey = np.zeros((12, 4), np.uint8)
    grey[6:] = 255
    grey[3, 1] = 128
    sent = registers_first(image_to_sixels(Image.fromarray(grey).convert("RGB")))
    assert sent == ('\x1bP0;0;0q"1;1;4;12#1;2;0;0;0#2;2;50;50;50#0;2;100;100;100'
                    '#1!4~$#2?G-#0!4~-\x1b\\')
    rng = np.random.default_rng(0)
    for shape in ((7, 5), (30, 40), (13, 64)):
        picture = rng.integers(0, 4, shape).astype(np.uint8) * 85  # four greys, exact in Sixel's percentages
        raw = image_to_sixels(Image.fromarray(picture).convert("RGB"))
        fixed = registers_first(raw)
        parts = re.fullmatch(r'"\d+;\d+;\d+;\d+((?:#\d+;2;\d+;\d+;\d+)*)(.*)', fixed.split("q", 1)[1], re.S)
        assert parts and ";2;" not in parts.group(2)  # every definition before the first pixel
        expected = np.round(np.repeat(picture[..., None].astype(int), 3, axis=2) * 100 / 255)
        assert (_decode_sixel(fixed) == expected).all()  # the same picture, pixel for pixel
        assert (_decode_sixel(raw) == expected).all()


def test_overlaid_curves_use_markers_the_usual_fonts_carry_and_m_picks_another_set():
    """plotext's "fhd" draws Unicode 13 sextants, which DejaVu Sans Mono (xterm's usual font) lacks: a compared
    run drawn with them showed nothing at all. The default set keeps to block elements, braille, the bullet and
    ASCII; WORKBENCH_MARKERS picks another."""
    from workbench.widgets.shared.charts import MARKER_SETS, marker_set, markers, next_marker_set

    carried = {"hd", "braille", "dot"} | {chr(c) for c in range(0x21, 0x7F)}
    for count in range(1, 9):
        chosen = markers(marker_set({}), count)
        assert set(chosen) <= carried and len(set(chosen)) == count  # every run its own, none sextants
    assert all(len(m) == 1 and m.isascii() for m in MARKER_SETS["ascii"])
    assert marker_set({"WORKBENCH_MARKERS": "sextants"}) == "sextants" and "fhd" in MARKER_SETS["sextants"]
    assert marker_set({"WORKBENCH_MARKERS": "nonsense"}) == "common"
    seen, name = [], "common"
    for _ in MARKER_SETS:
        seen.append(name)
        name = next_marker_set(name)
    assert sorted(seen) == sorted(MARKER_SETS) and name == "common"  # m cycles through every set


@pytest.mark.parametrize("version, shown", [
    ("kitty(0.26.5)", False),  # Debian 12's: answers the graphics query, draws each placeholder as a box
    ("kitty(0.28.0)", True), ("kitty(0.39.1)", True), ("ghostty 1.1.3", True),
    ("WezTerm 20240203-110809-5046fc22", False), ("", False),
])
def test_kitty_graphics_only_where_its_placeholders_are_drawn(version, shown):
    from workbench.render.images import placeholders_shown

    assert placeholders_shown(version) is shown


def test_sixteen_colours_start_on_shades_not_half_blocks():
    """TERM=xterm (xterm's own default) gives 16 colours: half blocks came out in four greys, shade characters
    keep the strokes. 256 colours and more start on half blocks, NO_COLOR on plain characters."""
    from workbench.render.images import default_rendering

    assert default_rendering(colour=True, colours=16) == "shades"
    assert default_rendering(colour=True, colours=256) == "blocks"
    assert default_rendering(colour=True) == "blocks"
    assert default_rendering(colour=False, colours=16) == "plain"
    assert default_rendering(colour=True, colours=16, pixels="sixel") == "pixels"


def test_a_kitty_graphics_image_is_sent_as_the_protocol_says(monkeypatch):
    """What a Kitty-protocol terminal must receive for a small image: the PNG in base64 chunks of at most 4096
    bytes (m=1 on all but the last, f=100, quiet), one virtual placement of the image's cells (U=1), then per
    cell the placeholder U+10EEEE with its row and column diacritics, coloured with the image's id."""
    import base64
    import io
    import itertools

    import numpy as np
    from PIL import Image
    from rich.console import Console
    from textual_image.renderable import tgp
    from textual_image._terminal import CellSize

    sent = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", sent)
    monkeypatch.setattr(tgp, "get_cell_size", lambda: CellSize(10, 20))
    monkeypatch.setattr(tgp.Image, "_image_id_counter", itertools.count(0x0A0B0C))
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (40, 30, 3)).astype(np.uint8)  # noise: a PNG of several chunks
    console = Console(file=io.StringIO(), width=80, color_system="truecolor", force_terminal=True)
    with console.capture() as cells:
        console.print(tgp.Image(Image.fromarray(picture), width=3, height=2))
    messages = re.findall(r"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\", sent.getvalue())
    assert "".join(f"\x1b_G{k}{';' + p if p else ''}\x1b\\" for k, p in messages) == sent.getvalue()
    *chunks, placement = messages
    assert len(chunks) > 1 and all(len(p) <= 4096 for _, p in chunks)
    assert [k for k, _ in chunks] == ["i=658188,m=1,f=100,q=2"] * (len(chunks) - 1) + ["i=658188,m=0,f=100,q=2"]
    png = Image.open(io.BytesIO(base64.b64decode("".join(p for _, p in chunks))))
    assert png.format == "PNG" and png.size == (30, 40)  # 3x2 cells of 10x20 pixels
    assert (np.asarray(png.convert("RGB")) == picture).all()  # the pixels, unchanged
    assert placement == ("a=p,i=658188,c=3,r=2,U=1,q=2", "")
    rows = cells.get().rstrip("\n").split("\n")
    assert len(rows) == 2 and "38;2;10;11;12" in rows[0]  # the id 0x0A0B0C as the placeholders' colour
    first = re.sub(r"\x1b\[[0-9;]*m", "", rows[0])
    assert first == "".join(f"\U0010eeee{chr(0x305)}{chr(d)}{chr(0x305)}" for d in (0x305, 0x30D, 0x30E))
