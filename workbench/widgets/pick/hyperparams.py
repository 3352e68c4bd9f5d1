"""The hyperparameter form: a compact grid of Inputs and Selects, filled with a model's defaults."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Grid
from textual.suggester import Suggester
from textual.widgets import Input, Label, Select

from workbench.options import form_fields

# (field, label, kind): kind is int, float or a tuple of choices. From RunConfig's metadata; the device,
# the data folder and the number of processes are laid out separately.
FIELDS: list[tuple[str, str, object]] = [(f.name, f.label, f.kind) for f in form_fields()
                                         if f.name not in ("device", "data_dir", "nproc_per_node")]
WORDS: dict[str, tuple[str, ...]] = {f.name: f.words for f in form_fields() if f.words}  # batch: auto


class PathSuggester(Suggester):
    """Completes a folder path as it is typed (→ or End accepts): the first folder whose name starts with
    what follows the last slash."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        parent, stem = (typed, "") if value.endswith(os.sep) else (typed.parent, typed.name)
        try:
            names = sorted(e.name for e in os.scandir(parent) if e.is_dir() and not e.name.startswith("."))
        except OSError:
            return None
        match = next((n for n in names if n.startswith(stem) and n != stem), None)
        return value + match[len(stem):] + os.sep if match else None


def format_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_value(label: str, kind: object, text: str, words: tuple[str, ...] = ()) -> object:
    """The typed value of one field, or ValueError with one readable sentence."""
    text = text.strip()
    if not text:
        return None
    if text.lower() in words:
        return text.lower()
    try:
        return kind(text)  # type: ignore[operator]
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        also = "".join(f" or {w}" for w in words)
        raise ValueError(f"{label} must be {noun}{also}, got {text!r}.") from None


class NumberInput(Input):
    """An Input that takes only characters a number can contain; any other key (q, s, ?) is left to the
    screen's and app's bindings, so the keys in the footer work while a field has focus."""

    NUMBER_CHARACTERS = frozenset("0123456789.eE+-")

    def __init__(self, *args, words: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # a word the field also takes (the batch's auto) is typed as text: its letters are no shortcuts here
        self.characters = self.NUMBER_CHARACTERS | frozenset("".join(words))

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in self.characters

    async def _on_key(self, event) -> None:
        if event.is_printable and event.character not in self.characters:
            # Not ours: skip Input's handler (it would swallow the key) and let the key bubble up to
            # the bindings. Textual runs each class's _on_key unless the default is prevented.
            event.prevent_default()


class PathInput(Input):
    """A path field with completion: → or End takes the suggested completion, as in fish and zsh."""

    def action_end(self, select: bool = False) -> None:
        if not select and self.cursor_at_end and self._suggestion:
            self.action_cursor_right()
            return
        super().action_end(select)


class HyperparameterForm(Grid):
    """Values down via `set_values()` and `set_devices()`, up via `values()`."""

    def compose(self) -> ComposeResult:
        for name, label, kind in FIELDS:
            yield Label(label, classes="field-label")
            if isinstance(kind, tuple):
                yield Select([(c, c) for c in kind], id=f"hp-{name}", allow_blank=False, compact=True)
            else:
                words = WORDS.get(name, ())
                yield NumberInput(id=f"hp-{name}", compact=True, select_on_focus=True, words=words,
                                  type="text" if words else "integer" if kind is int else "number")
        yield Label("device", classes="field-label", id="device-label")
        yield self._device_select("auto")
        yield Label("procs", classes="field-label -procs", id="procs-label")
        yield Select([("1 process", 1)], value=1, id="hp-nproc_per_node", allow_blank=False, compact=True,
                     classes="-procs")
        yield Label("data", classes="field-label", id="data-label")
        yield PathInput(id="hp-data_dir", compact=True, suggester=PathSuggester(),
                    placeholder="folder of the data files (image-folder: your images)")

    def on_mount(self) -> None:
        self.set_class(False, "-gpus")  # the process count shows only where there are GPUs to share out

    def set_values(self, values: dict) -> None:
        for name, _label, kind in FIELDS:
            value = values.get(name)
            if isinstance(kind, tuple):
                if value in kind:
                    self.query_one(f"#hp-{name}", Select).value = value
            else:
                self.query_one(f"#hp-{name}", Input).value = format_value(value)
        if values.get("device"):
            self._ensure_device(values["device"])
            self.query_one("#hp-device", Select).value = values["device"]
        if "data_dir" in values:
            self.query_one("#hp-data_dir", Input).value = values["data_dir"] or ""

    devices: list[tuple[str, str]] = [("auto", "auto")]

    def _device_select(self, current: str) -> Select:
        return Select([(label, value) for value, label in self.devices], value=current, id="hp-device",
                      allow_blank=False, compact=True)

    def _ensure_device(self, device: str) -> None:
        if device not in [value for value, _label in self.devices]:
            self.devices = self.devices + [(device, device)]
            self.query_one("#hp-device", Select).set_options([(label, value) for value, label in self.devices])

    async def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Offer what this machine has, e.g. [("auto", "auto → cpu"), ("cpu", "CPU, 2 threads")]."""
        old = self.query_one("#hp-device", Select)
        current, focused = old.value, old.has_focus
        if current not in [value for value, _label in devices]:
            devices = devices + [(current, f"{current} (not found here)")]
        self.devices = list(devices)
        # a fresh Select: set_options() keeps showing the old label when the value stays the same
        await old.remove()
        if not self.is_attached:  # the app quit while the device list was on its way
            return
        new = self._device_select(current)
        await self.mount(new, after=self.query_one("#device-label"))
        if focused:
            new.focus()
        gpus = sum(1 for value, _label in devices if value.startswith("cuda"))
        if gpus > 1:  # one process per GPU, under torchrun
            self.query_one("#hp-nproc_per_node", Select).set_options(
                [(f"{n} process{'es' if n > 1 else ''}" + (" (one per GPU)" if n == gpus else ""), n)
                 for n in range(1, gpus + 1)])
        self.set_class(gpus > 1, "-gpus")

    def texts(self) -> dict[str, str]:
        """Each hyperparameter as its field shows it, checked or not (the sweep form starts from these)."""
        out = {}
        for name, _label, kind in FIELDS:
            if isinstance(kind, tuple):
                value = self.query_one(f"#hp-{name}", Select).value
                out[name] = "" if value is Select.NULL else str(value)
            else:
                out[name] = self.query_one(f"#hp-{name}", Input).value.strip()
        return out

    def values(self) -> dict:
        """The form as RunConfig fields; ValueError (one sentence) for a value that is not a number."""
        def selected(name: str, blank=None):
            value = self.query_one(f"#hp-{name}", Select).value
            return blank if value is Select.NULL else value  # a list whose options are still coming

        out: dict = {}
        for name, label, kind in FIELDS:
            if isinstance(kind, tuple):
                out[name] = selected(name)
            else:
                out[name] = parse_value(label, kind, self.query_one(f"#hp-{name}", Input).value, WORDS.get(name, ()))
        if out.get("seed") is None:
            out["seed"] = 0
        out["device"] = selected("device", "auto")
        out["data_dir"] = self.query_one("#hp-data_dir", Input).value.strip() or None
        out["nproc_per_node"] = selected("nproc_per_node", 1)
        return out
