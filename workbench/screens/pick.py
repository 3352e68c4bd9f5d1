"""The picker: a model, a dataset and hyperparameters, all from the keyboard.

Parameter counts and the device list need torch, so they arrive later from thread workers; the lists
themselves come from the cheap registries and appear at once.
"""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static
from textual.worker import get_current_worker

from trainers.compat import check_pair, compatible_datasets
from trainers.config import RunConfig
from trainers.data.registry import DATASETS, Availability, availability
from trainers.errors import WorkbenchError
from trainers.models.registry import MODELS, is_user_model

from workbench.messages import DevicesFound, ModelCounted, StartRun
from workbench.options import HYPERPARAMETERS
from workbench.widgets.model.parameters import shape_text
from workbench.widgets.pick.cost import CostPanel
from workbench.widgets.pick.hyperparams import FIELDS, HyperparameterForm
from workbench.widgets.shared.filter_list import FilterList, Item

STATE_MARK = {"ready": "✓", "download": "↓", "missing": "✗"}
STATE_WORD = {"ready": "ready here", "download": "will download", "missing": "missing"}


LETTER_ACTIONS = ("start", "inspect", "lab", "sweep", "find_lr")


def filtering(screen: Screen) -> bool:
    """A list's filter line has the keyboard: every letter typed is text, none a shortcut."""
    return isinstance(screen.focused, Input) and screen.focused.has_class("filter")


def form_defaults(config: RunConfig, model: str) -> dict:
    """The form's values: what the config sets, else the model's own (seed) defaults, else global ones."""
    spec = MODELS.get(model)
    filled = config.with_defaults(spec.defaults if spec else {})
    values = {name: getattr(filled, name) for name, _label, _kind in FIELDS}
    values["device"] = config.device
    values["data_dir"] = config.data_dir
    return values


class PickScreen(Screen):
    """Choose; `s` starts. Posts StartRun(config) up to the app."""

    BINDINGS = [
        Binding("s", "start", "Start", tooltip="start training the chosen model on the chosen dataset"),
        Binding("i", "inspect", "Inspect model",
                tooltip="look inside the highlighted model: architecture, parameters, layer shapes"),
        Binding("R", "app.runs", "Runs", tooltip="every run, live ones marked: open, compare, stop"),
        Binding("L", "lab", "Conv lab", tooltip="the convolution lab: a kernel by hand, padding, stride, a kernel "
                "learned back"),
        Binding("w", "sweep", "Sweep", tooltip="sweep the chosen pair: each hyperparameter a value, a list a,b,c "
                "or a range LO..HI[:log]; an Optuna search"),
        # workbench lr-find's range test; not in the key bar (full at 80 columns), listed by ?
        Binding("F", "find_lr", "Find lr", show=False, tooltip="find a learning rate for the lr field"),
    ]

    def __init__(self, config: RunConfig, start: bool = False) -> None:
        super().__init__()
        self.base = config
        self.start_now = start
        self.devices_found = False
        self.model = config.model
        self.dataset = config.dataset
        self.counts: dict[str, int] = {}
        self.availability: dict[str, Availability | None] = {}
        self.resumed = False
        # a run was just asked for (or will be, at once): nothing here may take its CPU. With `start`, the
        # cost panel's first pricing (its thread imports torch, seconds of CPU) began before the start and
        # ran on beside the new run: (c) of benchmarks/speed.py lost 5-10 % in its first seconds.
        self.starting = start

    def compose(self) -> ComposeResult:
        with Horizontal(id="pick-main"):
            with Vertical(id="pick-lists"):
                yield FilterList("Models", id="models")
                yield FilterList("Datasets", id="datasets")
            with Vertical(id="pick-side"):
                yield Static(id="details")
                yield CostPanel(id="cost")
                yield HyperparameterForm(id="form")
        yield Static(id="pick-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#details").border_title = "About"
        self.query_one("#form").border_title = "Hyperparameters"
        self.check_availability(self.base.data_dir)
        self.refresh_lists(first=True)
        self.query_one(HyperparameterForm).set_values(form_defaults(self.base, self.model))
        self.query_one("#models", FilterList).focus()
        self.show_details("models", self.model)
        if self.start_now:
            # The run's first seconds need the CPU: counting parameters and listing devices (both import
            # torch here) wait until the user comes back to the picker.
            self.call_after_refresh(self.action_start)
        else:
            # After the first frame: both workers import torch, and an import holds the GIL for seconds at
            # a time, so started at mount they held the picker's first frame back with them.
            self.call_after_refresh(self.find_devices)
            self.call_after_refresh(self.count_parameters)
            self.say("↑↓/jk move, Enter chooses, / filters, Tab moves on, s starts, ? all keys.")

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in LETTER_ACTIONS and filtering(self):
            return None  # letters are text while a filter is typed into: the key bar shows them greyed
        return True

    def check_availability(self, data_dir: str | None) -> None:
        """Whether each dataset's files are here (cheap: looks, never reads or downloads)."""
        for name in DATASETS:
            try:
                avail = availability(name, data_dir, download=self.base.download)
            except WorkbenchError as err:
                avail = None
                self.log.warning(str(err))
            self.availability[name] = avail

    @on(Input.Changed, "#hp-data_dir")
    def _data_dir_changed(self, event: Input.Changed) -> None:
        self.check_availability(event.value.strip() or None)
        self.refresh_lists()
        avail = self.availability.get(self.dataset)
        if avail is not None and DATASETS[self.dataset].needs_files:
            self.show_details("datasets", self.dataset)

    # -- lists ---------------------------------------------------------------------------------------

    def model_items(self) -> list[Item]:
        names = list(MODELS)
        if self.model not in MODELS and is_user_model(self.model):
            names.insert(0, self.model)  # a user's file.py:Class from the command line
        items = []
        for name in names:
            spec = MODELS.get(name)
            desc = spec.description if spec else "your own model"
            fits = check_pair(name, self.dataset) is None
            prompt = Text(no_wrap=True, overflow="ellipsis", end="")
            prompt.append("● " if name == self.model else "  ")
            prompt.append(f"{name:<13}", style="bold" if fits else "dim strike")
            prompt.append(f" {desc}", style="dim")
            items.append(Item(name, prompt, f"{name} {desc}"))
        return items

    def dataset_items(self) -> list[Item]:
        items = []
        for name, info in DATASETS.items():
            avail = self.availability.get(name)
            reason = check_pair(self.model, name)
            prompt = Text(no_wrap=True, overflow="ellipsis", end="")
            prompt.append("● " if name == self.dataset else "  ")
            prompt.append(STATE_MARK.get(avail.state, "?") if avail else "?")
            prompt.append(f" {name:<16}", style="dim strike" if reason else "bold")
            prompt.append(" does not fit " + self.model if reason else f" {info.description}", style="dim")
            items.append(Item(name, prompt, f"{name} {info.description}"))
        return items

    def refresh_lists(self, first: bool = False) -> None:
        self.query_one("#models", FilterList).set_items(self.model_items(), self.model if first else None)
        self.query_one("#datasets", FilterList).set_items(self.dataset_items(), self.dataset if first else None)

    @on(FilterList.Highlighted)
    def _highlighted(self, event: FilterList.Highlighted) -> None:
        if event.filter_list.has_focus_within:
            self.show_details(event.filter_list.id, event.key)

    @on(FilterList.Chosen, "#models")
    def choose_model(self, event: FilterList.Chosen) -> None:
        self.model = event.key
        self.query_one(HyperparameterForm).set_values(
            {**form_defaults(dataclasses.replace(self.base, model=event.key, **dict.fromkeys(HYPERPARAMETERS)),
                             event.key),
             "seed": self.form_value("seed"), "device": self.form_value("device"),
             "data_dir": self.form_value("data_dir")})
        note = ""
        if check_pair(self.model, self.dataset) is not None:
            fitting = compatible_datasets(self.model)
            ready = [d for d in fitting if self.availability.get(d) and self.availability[d].state == "ready"]
            if fitting:
                old, self.dataset = self.dataset, (ready or fitting)[0]
                note = f" {old} does not fit it, so the dataset is now {self.dataset}."
        self.refresh_lists()
        self.query_one("#datasets", FilterList).focus()
        self.say(f"Model: {self.model}; hyperparameters reset to its defaults.{note}")

    @on(FilterList.Chosen, "#datasets")
    def choose_dataset(self, event: FilterList.Chosen) -> None:
        reason = check_pair(self.model, event.key)
        if reason:
            self.say(reason, error=True)
            return
        self.dataset = event.key
        self.refresh_lists()
        avail = self.availability.get(event.key)
        extra = f" ({avail.message})" if avail and avail.state != "ready" else ""
        self.say(f"Ready: s starts {self.model} on {self.dataset}{extra}; Tab edits the hyperparameters.")

    def form_value(self, name: str):
        try:
            return self.query_one(HyperparameterForm).values().get(name)
        except ValueError:
            return None

    # -- details -------------------------------------------------------------------------------------

    def show_details(self, which: str | None, key: str) -> None:
        text = Text()
        if which == "models":
            spec = MODELS.get(key)
            text.append(f"{key}\n", style="bold")
            if spec is None:
                text.append("your own model, loaded from its file when the run starts\n")
            else:
                text.append(f"{spec.description}\n")
                shape = shape_text(spec.input_shape) if spec.input_shape else "the dataset's"
                text.append(f"input {shape} · {spec.task} · {spec.loss} · seed {spec.seed}\n", style="dim")
                count = self.counts.get(key)
                text.append(f"{count:,} parameters" if count is not None else "counting parameters…")
                text.append("\n")
            reason = check_pair(key, self.dataset)
            if reason:
                text.append(f"✗ {reason}", style="bold")
            else:
                text.append(f"✓ fits {self.dataset}", style="dim")
        elif which == "datasets" and key in DATASETS:
            info = DATASETS[key]
            avail = self.availability.get(key)
            text.append(f"{key}\n", style="bold")
            text.append(f"{info.description}\n")
            shape = shape_text(info.shape) if info.shape else "resized to the model's input"
            classes = f"{len(info.classes)} classes" if info.classes else "classes from the folders"
            text.append(f"{shape} · {classes}\n", style="dim")
            if avail:
                text.append(f"{STATE_MARK[avail.state]} {STATE_WORD[avail.state]}: {avail.message}\n")
            reason = check_pair(self.model, key)
            if reason:
                text.append(f"✗ {reason}", style="bold")
        self.query_one("#details", Static).update(text)
        self.show_cost(which, key)

    def show_cost(self, which: str | None, key: str) -> None:
        """The cost panel follows the highlighted pair (priced in its own thread worker) — only while the
        picker is on screen: a dry run beside a training run would take its CPU (the form's late Changed
        events, or the device list arriving, came after the start and timed one while the run trained)."""
        if self.starting or not self.is_current:
            return
        model, dataset = (key, self.dataset) if which == "models" else (self.model, key)
        try:
            values = self.query_one(HyperparameterForm).values()
        except ValueError:
            values = None
        self.query_one(CostPanel).follow(self.base, model, dataset, values, self.model)

    @on(Input.Changed, "#hp-epochs, #hp-batch_size")
    @on(Select.Changed, "#hp-device, #hp-optimizer")
    def _cost_settings_changed(self) -> None:
        self.show_cost("models", self.model)

    def say(self, message: str, error: bool = False) -> None:
        status = self.query_one("#pick-status", Static)
        status.update(Text(message))
        status.set_class(error, "-error")

    # -- workers (torch lives only in here) ------------------------------------------------------------

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def count_parameters(self) -> None:
        from trainers.inspection import parameter_count

        worker = get_current_worker()
        counts = {}
        for name in MODELS:
            if worker.is_cancelled:
                return
            try:
                counts[name] = parameter_count(name)
            except Exception:  # noqa: BLE001 - a model that cannot build shows no count, the run will explain
                continue
        self.post_message(ModelCounted(counts))

    @work(thread=True, exclusive=True, group="devices", exit_on_error=False)
    def find_devices(self) -> None:
        from trainers.devices import available

        try:
            self.post_message(DevicesFound(available()))
        except Exception:  # noqa: BLE001 - keep the plain "auto" choice
            return

    def on_screen_resume(self) -> None:
        if not self.resumed:  # the first resume is the screen's first showing
            self.resumed = True
            return
        self.starting = False
        self.app.warm_spare()
        if not self.devices_found:
            self.find_devices()
        if not self.counts:
            self.count_parameters()
        self.say(f"Chosen: {self.model} on {self.dataset}; s starts.")
        self.show_cost("models", self.model)

    def on_model_counted(self, message: ModelCounted) -> None:
        self.counts.update(message.counts)
        models = self.query_one("#models", FilterList)
        if models.highlighted_key and models.has_focus_within:
            self.show_details("models", models.highlighted_key)

    async def on_devices_found(self, message: DevicesFound) -> None:
        self.devices_found = True
        await self.query_one(HyperparameterForm).set_devices(message.devices)

    # -- actions ---------------------------------------------------------------------------------------

    def build_config(self) -> RunConfig:
        """The run this screen describes; WorkbenchError or ValueError (one sentence) when it cannot run."""
        values = self.query_one(HyperparameterForm).values()
        settings = self.app.layer_settings.get(self.model)
        if settings:  # chosen in the inspect view (n, f): they replace --layer-init and --freeze
            from workbench.screens.inspect import layer_options

            values["layer_init"], values["freeze"] = layer_options(settings)
        config = dataclasses.replace(self.base, model=self.model, dataset=self.dataset, **values)
        config.validate()
        reason = check_pair(config.model, config.dataset)
        if reason:
            raise WorkbenchError(reason)
        return config

    def action_start(self) -> None:
        try:
            config = self.build_config()
        except (WorkbenchError, ValueError) as err:
            self.say(str(err), error=True)
            return
        by_hand = ", ".join(config.layer_init + [f"{n} frozen" for n in config.freeze])
        self.say(f"Starting {config.model} on {config.dataset}" + (f" ({by_hand})" if by_hand else "") + "…")
        self.workers.cancel_group(self, "counts")  # the run needs the CPU; counting resumes on return
        self.starting = True  # and no cost is priced until the picker shows again
        self.query_one(CostPanel).pause()  # so does a dry run
        self.post_message(StartRun(config))

    def action_find_lr(self) -> None:
        from workbench.screens.lr_find import LrFindScreen

        try:
            config = self.build_config()
        except (WorkbenchError, ValueError) as err:
            self.say(str(err), error=True)
            return
        self.app.push_screen(LrFindScreen(config), lambda lr: self.lr_found(config, lr))

    def lr_found(self, config: RunConfig, lr: float | None) -> None:
        """The finder's suggestion into the lr field, if the user took it (Enter) for the pair still chosen."""
        if lr is None:
            self.say("The lr field is as it was.")
            return
        if (config.model, config.dataset) != (self.model, self.dataset):
            self.say(f"The lr found for {config.model} on {config.dataset} was {lr:.3g}; the pair has changed since, "
                     f"so the form is left as it is.")
            return
        self.query_one("#hp-lr", Input).value = f"{lr:.3g}"
        self.notify(f"lr set to {lr:.3g}: where the loss fell fastest in the range test.",
                    title="Learning-rate finder")
        self.say(f"lr {lr:.3g} from the range test; s starts.")

    def fill(self, config: RunConfig, note: str) -> None:
        """Choose `config` here, as if picked by hand (the Sweep screen's f: its best trial's settings)."""
        self.base = config
        self.model, self.dataset = config.model, config.dataset
        self.check_availability(config.data_dir)
        self.refresh_lists(first=True)
        self.query_one(HyperparameterForm).set_values(form_defaults(config, self.model))
        self.show_details("models", self.model)
        self.query_one("#hp-epochs", Input).focus()
        self.say(note)

    def action_lab(self) -> None:
        from workbench.screens.lab import LabScreen

        self.app.push_screen(LabScreen(self.dataset, self.form_value("data_dir") or self.base.data_dir))

    def action_inspect(self) -> None:
        from workbench.screens.inspect import InspectScreen

        models = self.query_one("#models", FilterList)
        model = (models.highlighted_key if models.has_focus_within else None) or self.model
        dataset = self.dataset if check_pair(model, self.dataset) is None else None
        self.app.push_screen(InspectScreen(model, dataset, self.form_value("data_dir") or self.base.data_dir,
                                           init=self.form_value("init") or "default", editable=True))

    def action_sweep(self) -> None:
        from workbench.screens.sweep_form import SweepFormScreen

        reason = check_pair(self.model, self.dataset)
        if reason:
            self.say(reason, error=True)
            return
        self.app.push_screen(SweepFormScreen(self.model, self.dataset, self.query_one(HyperparameterForm).texts(),
                                             self.sweep_base()))

    def sweep_base(self) -> dict:
        """What every trial of a sweep shares: the picker's settings that are not hyperparameters (device, data
        folder, layers set by hand in the inspect view, the command line's other options)."""
        form = self.query_one(HyperparameterForm)
        values = {"device": self.form_value("device") or self.base.device,
                  "data_dir": form.query_one("#hp-data_dir", Input).value.strip() or None}
        settings = self.app.layer_settings.get(self.model)
        if settings:
            from workbench.screens.inspect import layer_options

            values["layer_init"], values["freeze"] = layer_options(settings)
        config = dataclasses.replace(self.base, **values)
        skip = {name for name, _label, _kind in FIELDS} | {"model", "dataset", "model_sha256", "out", "resume",
                                                           "nproc_per_node"}
        return {k: v for k, v in config.to_dict().items() if k not in skip and v is not None}

    @on(Input.Submitted, "HyperparameterForm Input")
    def _form_submitted(self) -> None:
        self.action_start()
