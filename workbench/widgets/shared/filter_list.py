"""A keyboard-first list with type-to-filter: an OptionList under a one-line filter Input.

Keys in the list: arrows or j/k move, Enter chooses, "/" opens the filter, Backspace edits the filter,
Escape clears it; every other letter is the screen's shortcut (s starts, i inspects), never text. In the
filter every letter is text: arrows move the highlight below, Enter chooses, Escape clears and returns to
the list. The filter line shows and takes focus only when "/" asks for it (or while it holds text), so Tab and
Shift+Tab go from list to list, as the screen reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Item:
    """One entry: `key` is what gets chosen, `prompt` what is shown, `text` what the filter searches."""

    key: str
    prompt: Text
    text: str


def matches(query: str, text: str) -> bool:
    """Every word of the query appears in the text, case-insensitively."""
    text = text.lower()
    return all(word in text for word in query.lower().split())


class _Options(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    async def on_key(self, event: events.Key) -> None:
        owner = self.parent
        if not isinstance(owner, FilterList):
            return
        if owner.filter_input.wanted:
            # Keys typed right after "/" reached the list before the filter took focus (a fast typist,
            # or keys pasted over SSH): they belong to the filter, in the order typed.
            event.stop()
            event.prevent_default()
            owner.filter_input.post_message(events.Key(event.key, event.character))
            return
        if event.key == "backspace" and owner.query_text:
            event.stop()
            owner.set_filter(owner.query_text[:-1])
        elif event.key == "escape" and owner.query_text:
            event.stop()
            owner.set_filter("")
        elif event.key == "slash":
            event.stop()
            owner.focus_filter()


class _FilterInput(Input):
    """The filter line: its keys are in the key bar while it has focus, so the bar says letters are text."""

    BINDINGS = [
        Binding("enter", "submit", "Choose"),
        Binding("escape", "leave", "Clear filter"),
    ]

    def action_leave(self) -> None:
        owner = self.parent
        if isinstance(owner, FilterList):
            owner.set_filter("")
            owner.options.focus()

    wanted = False  # in the focus chain only while "/" has asked for it: Tab goes from list to list

    def allow_focus(self) -> bool:
        return self.wanted

    def on_blur(self) -> None:
        self.wanted = False
        self.display = bool(self.value)  # an empty filter gives its row back to the list


class FilterList(Vertical):
    """A filterable list that posts `Chosen` on Enter and `Highlighted` as the cursor moves."""

    BINDINGS = [
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    @dataclass
    class Chosen(Message):
        filter_list: "FilterList"
        key: str

        @property
        def control(self) -> "FilterList":
            return self.filter_list

    @dataclass
    class Highlighted(Message):
        filter_list: "FilterList"
        key: str

        @property
        def control(self) -> "FilterList":
            return self.filter_list

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self.items: list[Item] = []
        self.shown: list[Item] = []

    def on_mount(self) -> None:
        self.filter_input.display = False  # "/" shows it; the border's hint says so

    def compose(self) -> ComposeResult:
        yield _FilterInput(placeholder="/ filters", compact=True,
                           select_on_focus=False, classes="filter")
        yield _Options(classes="options")

    @property
    def options(self) -> OptionList:
        return self.query_one(_Options)

    @property
    def filter_input(self) -> Input:
        return self.query_one(Input)

    @property
    def query_text(self) -> str:
        return self.filter_input.value

    @property
    def highlighted_key(self) -> str | None:
        option = self.options.highlighted_option
        return option.id if option is not None else None

    def set_items(self, items: list[Item], highlight: str | None = None) -> None:
        """Replace the entries (keeping the highlight on `highlight` or the current key)."""
        keep = highlight or self.highlighted_key
        self.items = items
        self._refill(keep)

    def set_filter(self, text: str) -> None:
        self.filter_input.value = text  # Input.Changed refills
        self.filter_input.display = bool(text) or self.filter_input.wanted

    def focus_filter(self) -> None:
        self.filter_input.wanted = True
        self.filter_input.display = True
        self.filter_input.focus()
        self.filter_input.cursor_position = len(self.filter_input.value)

    def focus(self, scroll_visible: bool = True) -> "FilterList":
        self.options.focus(scroll_visible)
        return self

    def _refill(self, keep: str | None) -> None:
        self.shown = [item for item in self.items if matches(self.query_text, item.text)]
        options = self.options
        options.set_options([Option(item.prompt, id=item.key) for item in self.shown])
        keys = [item.key for item in self.shown]
        if keep in keys:
            options.highlighted = keys.index(keep)
        elif keys:
            options.highlighted = 0
        shown = f" {len(self.shown)}/{len(self.items)}" if self.query_text else ""
        self.border_subtitle = f"filter: {self.query_text}{shown}" if self.query_text else "/ filters"

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refill(self.highlighted_key)

    @on(Input.Submitted, ".filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = self.highlighted_key
        self.options.focus()
        if key is not None:
            self.post_message(self.Chosen(self, key))

    def action_move(self, step: int) -> None:
        if step > 0:
            self.options.action_cursor_down()
        else:
            self.options.action_cursor_up()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(self, event.option.id))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Highlighted(self, event.option.id))
