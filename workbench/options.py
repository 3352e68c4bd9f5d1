"""The run options, declared once in trainers.config.RunConfig's field metadata and turned here into
command-line flags (argparse) and the form's fields (widgets.hyperparams). No third list to keep in step."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from trainers.config import RunConfig
from trainers.errors import WorkbenchError


def _whole(minimum: float | None, words: tuple[str, ...] = ()):
    def parse(text: str) -> int | str:
        if text.strip().lower() in words:
            return text.strip().lower()  # --batch-size auto
        try:
            value = int(text)
        except ValueError:
            also = "".join(f" or {w}" for w in words)
            raise argparse.ArgumentTypeError(f"expected a whole number{also}, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_run_options(parser: argparse.ArgumentParser, *, required: bool = False, skip: tuple[str, ...] = (),
                    only: tuple[str, ...] | None = None, helps: dict[str, str] | None = None,
                    bounds: bool = True) -> None:
    """One flag per RunConfig option, every default None so that unset means "the model's own". `only`: just
    these options (another command's flags for the same settings); `helps`: what an option means there;
    `bounds` False leaves minimums to RunConfig.validate (a one-line error of the command's own)."""
    for name, meta in RunConfig.options():
        if not meta.get("flag") or name in skip or (only is not None and name not in only):
            continue
        meta = {**meta, "help": (helps or {}).get(name, meta["help"])}
        names = [meta["flag"]] + ([meta["short"]] if meta.get("short") else [])
        kind = meta.get("kind")
        if kind is bool:  # --no-x turns a default-on switch off; --x turns a default-off one on
            parser.add_argument(*names, dest=name, action="store_const", const=not meta["flag"].startswith("--no-"),
                                default=None, help=meta["help"])
            continue
        if kind is list:  # repeatable: each use adds one item
            parser.add_argument(*names, dest=name, action="append", default=None, help=meta["help"],
                                metavar=meta.get("metavar"))
            continue
        kwargs: dict = {"dest": name, "default": None, "help": meta["help"]}
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        elif kind is int:
            kwargs["type"] = _whole(meta.get("minimum") if bounds else None, tuple(meta.get("words") or ()))
        elif kind is float:
            kwargs["type"] = _number
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        if required and name in ("model", "dataset"):
            kwargs["required"] = True
        parser.add_argument(*names, **kwargs)


def given(args: argparse.Namespace) -> dict:
    """The run options the user actually gave, by RunConfig field name."""
    return {name: getattr(args, name) for name, meta in RunConfig.options()
            if meta.get("flag") and getattr(args, name, None) is not None}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig(**given(args))


def model_defaulted() -> tuple[str, ...]:
    """The form's options a model sets when they are left unset: those RunConfig leaves None and
    `with_defaults` fills (epochs, batch size, optimizer, learning rate, momentum, weight decay, init)."""
    unset, filled = RunConfig(), RunConfig().with_defaults({})
    return tuple(name for name, meta in RunConfig.options()
                 if meta.get("form") and getattr(unset, name) is None and getattr(filled, name) is not None)


HYPERPARAMETERS = model_defaulted()


@dataclass(frozen=True)
class FormField:
    name: str  # the RunConfig field
    label: str
    kind: object  # int, float, str, or a tuple of choices
    help: str
    words: tuple[str, ...] = ()  # what a number field also takes (batch: auto)


def form_fields() -> list[FormField]:
    """The form's fields, in RunConfig's order; device and the data folder are laid out by the form."""
    fields = []
    for name, meta in RunConfig.options():
        if meta.get("form"):
            kind = tuple(meta["choices"]) if meta.get("choices") else (meta.get("kind") or str)
            fields.append(FormField(name, meta["form"], kind, meta["help"], tuple(meta.get("words") or ())))
    return fields


def check_names(config) -> None:
    """Unknown model or dataset names are a one-line error before the app opens. A user's file.py:Name
    is only checked to exist (running it is the run's job), and a pair that does not fit still opens:
    the picker marks it and says what does fit."""
    from trainers.compat import check_pair
    from trainers.data.registry import DATASETS
    from trainers.models import get_spec, is_user_model

    if is_user_model(config.model):
        path = Path(config.model.rsplit(":", 1)[0]).expanduser()
        if not path.is_file():
            raise WorkbenchError(f"model file {path} does not exist.")
    else:
        get_spec(config.model)  # ConfigError naming the models, for an unknown name
    if config.dataset not in DATASETS:
        raise WorkbenchError(check_pair(config.model, config.dataset) or f"unknown dataset {config.dataset!r}.")


def lab_input(image: str, data_dir: str | None = None, transpose: bool = False):
    """(2-D tensor, description) for --image: "stripes", or DATASET[:N] (test image N, default 0)."""
    from trainers import lab

    if image == "stripes":
        x, what = lab.stripes(), "stripes"
    else:
        name, _, index = image.partition(":")
        try:
            n = int(index) if index else 0
        except ValueError:
            raise WorkbenchError(f"--image {image}: the part after ':' is a test image's number.") from None
        x, label = lab.test_image(name, n, data_dir)
        what = f"{name} #{n}, {label}"
    if transpose:
        x, what = x.t().contiguous(), what + ", transposed"
    return x, what
