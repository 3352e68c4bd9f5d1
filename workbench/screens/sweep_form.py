"""The sweep form (`w` in the picker): the run form's hyperparameters, each a value, a list a,b,c or a range
LO..HI[:log], and how the search goes. Every field is checked as it is typed, with the sentences of
`workbench sweep` (both go through workbench.sweep_options); Enter starts the sweep in the background."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from trainers.errors import ConfigError, WorkbenchError
from trainers.models import MODELS
from trainers.sweeps import space as sp
from trainers.sweeps.study import METRICS, PRUNERS, SAMPLERS

from workbench.sweep_options import SweepOptionError, SweepSettings, build_sweep, summary
from workbench.widgets.pick.hyperparams import FIELDS

SETTINGS = [  # (SweepSettings field, label, what it means)
    ("trials", "trials", "runs in all (empty: 10, or the whole grid)"),
    ("parallel", "at once", "trials training side by side"),
    ("metric", "metric", "what the search goes for"),
    ("prune", "prune", "stop trials behind the others early"),
    ("sampler", "sampler", "auto: a grid when all are lists, else TPE"),
]
CHOICES = {"metric": tuple(METRICS), "prune": PRUNERS, "sampler": SAMPLERS}


def hint(kind: object) -> str:
    if isinstance(kind, tuple):
        return f"{'|'.join(kind)}, or a list a,b"
    return "a value, a list a,b,c or LO..HI" + (":log" if kind is float else "")


class ChoiceSelect(Select):
    """A Select whose Enter starts the sweep, as in the text fields; Space, ↑ or ↓ open its list."""

    BINDINGS = [Binding("enter", "screen.start", "Start the sweep", show=False)]


class SweepFormScreen(ModalScreen[Path | None]):
    """Dismissed with the sweep's folder once it started, None when closed (Esc)."""

    BINDINGS = [
        # Enter reaches the screen through a field (Input.Submitted, ChoiceSelect): after the keys typed before
        # it, which a screen binding of priority would overtake when keys come in a burst (a paste, tmux).
        Binding("enter", "start", "Start the sweep", tooltip="start the sweep in the background and follow it"),
        Binding("escape", "close", "Close", tooltip="close the form; nothing starts"),
        # Tab moves the focus before the keys after it are handed to a field (else they land in the old one)
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, model: str, dataset: str, texts: dict[str, str], fixed: dict) -> None:
        """`texts`: the run form's fields as shown; `fixed`: the RunConfig settings every trial shares."""
        super().__init__()
        self.model, self.dataset = model, dataset
        self.texts, self.fixed = texts, fixed
        spec = MODELS.get(model)
        self.metric = "test_loss" if spec is not None and spec.task == "reconstruct" else "test_accuracy"
        self.errors: dict[str, str] = {}
        self.spec = None

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-form") as body:
            body.border_title = f"Sweep {self.model} on {self.dataset}"
            body.border_subtitle = "Enter starts · Esc closes"
            with Grid(id="sweep-fields"):
                for name, label, kind in FIELDS:
                    yield Label(label, classes="field-label", id=f"sw-label-{name}")
                    yield Input(self.texts.get(name, ""), id=f"sw-{name}", compact=True, select_on_focus=True)
                    yield Static(hint(kind), classes="field-hint", id=f"sw-hint-{name}")
                for name, label, what in SETTINGS:
                    yield Label(label, classes="field-label", id=f"sw-label-{name}")
                    if name in CHOICES:
                        choices = CHOICES[name]
                        value = self.metric if name == "metric" else choices[0]
                        yield ChoiceSelect([(c, c) for c in choices], value=value, id=f"sw-{name}", allow_blank=False,
                                     compact=True)
                    else:
                        yield Input("1" if name == "parallel" else "", id=f"sw-{name}", compact=True,
                                    type="integer", placeholder="auto" if name == "trials" else "")
                    yield Static(what, classes="field-hint", id=f"sw-hint-{name}")
            yield Static(id="sweep-line")

    def on_mount(self) -> None:
        self.query_one(f"#sw-{FIELDS[0][0]}", Input).focus()
        self.check()

    # -- checking as it is typed ----------------------------------------------------------------------

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.check()

    def field_texts(self) -> dict[str, str]:
        return {name: self.query_one(f"#sw-{name}", Input).value.strip() for name, _label, _kind in FIELDS}

    def settings(self) -> SweepSettings:
        """The search's settings; ValueError naming the field for one that is not a whole number."""
        def whole(name: str, empty: int | None) -> int | None:
            text = self.query_one(f"#sw-{name}", Input).value.strip()
            if not text:
                return empty
            try:
                return int(text)
            except ValueError:
                raise SweepOptionError(f"--{name} {text!r}: a whole number.", name) from None

        return SweepSettings(trials=whole("trials", None), parallel=whole("parallel", 1),
                             metric=self.query_one("#sw-metric", Select).value,
                             prune=self.query_one("#sw-prune", Select).value,
                             sampler=self.query_one("#sw-sampler", Select).value)

    def check(self):
        """The sweep as the form stands (also in self.spec), or None with self.errors by field."""
        errors: dict[str, str] = {}
        texts = {name: text for name, text in self.field_texts().items() if text}
        for name, text in texts.items():
            try:
                sp.parse(name, text)
            except ConfigError as err:
                errors[name] = str(err)
        settings = None
        try:
            settings = self.settings()
        except SweepOptionError as err:
            errors[err.option] = str(err)
        spec = None
        if not errors:
            try:
                spec, _notes = build_sweep({**texts, "model": self.model, "dataset": self.dataset}, settings,
                                           self.fixed)
            except SweepOptionError as err:
                errors[err.option or ""] = str(err)
            except WorkbenchError as err:
                errors[""] = str(err)
        self.errors, self.spec = errors, spec
        self.show()
        return spec

    def show(self) -> None:
        for name, _label, kind in FIELDS:
            self._mark(name, hint(kind))
        for name, _label, what in SETTINGS:
            self._mark(name, what)
        line = self.query_one("#sweep-line", Static)
        if self.errors:
            line.update("✗ " + next(iter(self.errors.values())))
        else:
            line.update(summary(self.spec))
        line.set_class(bool(self.errors), "-error")

    def _mark(self, name: str, what: str) -> None:
        bad = name in self.errors
        for widget in (self.query_one(f"#sw-label-{name}"), self.query_one(f"#sw-{name}"),
                       self.query_one(f"#sw-hint-{name}")):
            widget.set_class(bad, "-bad")
        self.query_one(f"#sw-hint-{name}", Static).update("✗ " + self.errors[name] if bad else what)

    # -- keys ---------------------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        spec = self.check()
        if spec is None:
            bad = next((name for name in self.errors if name and self.query(f"#sw-{name}")), None)
            if bad:
                self.query_one(f"#sw-{bad}").focus()
            self.app.bell()
            return
        from trainers.sweeps import make_sweep, start_detached_sweep

        try:
            folder = make_sweep(spec)
            process = start_detached_sweep(folder)
        except (WorkbenchError, OSError) as err:
            self.errors = {"": str(err)}
            self.show()
            return
        started = getattr(self.app, "children_started", None)
        if isinstance(started, list):
            started.append(process)  # reaped with the app's trainers when it ends
        self.follow(folder)

    def follow(self, folder: Path) -> None:
        """The Sweep screen on the new sweep, where it exists; else where to find it."""
        try:
            from workbench.screens.sweep import SweepScreen
        except ImportError as err:
            if err.name != "workbench.screens.sweep":
                raise
            self.dismiss(folder)
            self.app.notify(f"sweep {folder.name} runs in the background: workbench attach {folder}",
                            title="Sweep started", timeout=15)
            return
        self.app.switch_screen(SweepScreen(folder))

    def action_close(self) -> None:
        self.dismiss(None)
