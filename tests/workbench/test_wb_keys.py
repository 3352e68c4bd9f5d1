"""Keys and focus as a keyboard user expects them: in a filter letters are text, focus follows the screen."""

from __future__ import annotations

import pytest

from trainers.config import RunConfig
from workbench.app import WorkbenchApp
from workbench.screens.pick import PickScreen
from workbench.widgets.shared.filter_list import FilterList

from .helpers import screen_text

# every letter a screen or the app binds, typed into a filter: none of them may act
SHORTCUT_LETTERS = "siLRq?jk"


@pytest.mark.parametrize("which", ["#models", "#datasets"])
async def test_letters_typed_into_a_filter_are_text_never_shortcuts(which):
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        lst = pick.query_one(which, FilterList)
        lst.focus()
        await pilot.press("slash", *SHORTCUT_LETTERS)
        assert isinstance(app.screen, PickScreen), "a letter in the filter opened another screen"
        assert app.is_running and lst.query_text == SHORTCUT_LETTERS.replace("?", "?")
        assert "Starting" not in screen_text(app)
        # the key bar stays and says what the keys do now; the letter shortcuts are not offered
        bar = screen_text(app).splitlines()[-1]
        assert "Choose" in bar and "Clear filter" in bar and "Start" not in bar
        await pilot.press("escape")
        assert lst.query_text == "" and lst.options.has_focus
        bar = screen_text(app).splitlines()[-1]
        assert "Start" in bar and "Inspect" in bar


async def test_in_a_list_letters_are_shortcuts_and_slash_filters():
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        datasets = pick.query_one("#datasets", FilterList)
        datasets.focus()
        await pilot.press("a")  # an unbound letter neither filters nor moves focus
        assert datasets.query_text == "" and datasets.options.has_focus
        await pilot.press("slash", *"fashion", "enter")
        assert pick.dataset == "fashion-mnist" and datasets.options.has_focus
        await pilot.press("i")  # back in the list, i is Inspect again
        assert type(app.screen).__name__ == "InspectScreen"


async def test_focus_order_follows_the_screen():
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        models, datasets = pick.query_one("#models", FilterList), pick.query_one("#datasets", FilterList)
        assert models.options.has_focus
        await pilot.press("tab")
        assert datasets.options.has_focus
        await pilot.press("shift+tab")  # straight back to the list above, not into a filter line
        assert models.options.has_focus
        await pilot.press("tab", "tab")
        assert app.focused is not None and app.focused.id == "hp-epochs"  # then the form, in reading order
        await pilot.press("shift+tab")
        assert datasets.options.has_focus
        # a filter used and left keeps its text, shown on the border, but is out of the Tab order
        await pilot.press("slash", *"fash", "enter", "shift+tab", "tab")
        assert datasets.options.has_focus and datasets.query_text == "fash"
        assert "filter: fash" in screen_text(app)


async def test_a_terminal_too_small_is_told_so_and_the_screen_comes_back():
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(50, 15)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Make the terminal at least 80×24: it is 50×15." in text
        assert "Hyperparameters" not in text  # not a broken picker under it
        await pilot.resize_terminal(79, 30)
        await pilot.pause()
        assert "it is 79×30" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert isinstance(app.screen, PickScreen) and "Hyperparameters" in screen_text(app)
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert app.return_code is None
        await pilot.press("q")  # q quits from the message too
        assert app.return_code == 0


async def test_letters_typed_fast_after_slash_all_reach_the_filter():
    """A burst ("/syn" arriving in one read, as tmux or a fast typist sends it) loses no letter and starts
    nothing: the letters reach the list before the filter has focus, and are passed on in order."""
    from textual import events

    app = WorkbenchApp(RunConfig(model="mlp", dataset="mnist"))
    async with app.run_test(size=(80, 24)) as pilot:
        pick = app.screen
        datasets = pick.query_one("#datasets", FilterList)
        datasets.focus()
        await pilot.pause()
        for key, char in [("slash", "/"), ("s", "s"), ("y", "y"), ("n", "n"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, PickScreen)
        assert datasets.query_text == "syn" and pick.dataset == "synthetic-digits"
