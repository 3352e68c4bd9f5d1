"""The run options, declared once in trainers.config.RunConfig's field metadata and turned here into
command-line flags (argparse) and the form's fields (widgets.hyperparams). No third list to keep in step."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from trainers.config import RunConfig


def _whole(minimum: float | None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, got {value}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_run_options(parser: argparse.ArgumentParser, *, required: bool = False, skip: tuple[str, ...] = ()) -> None:
    """One flag per RunConfig option, every default None so that unset means "the model's own"."""
    for name, meta in RunConfig.options():
        if not meta.get("flag") or name in skip:
            continue
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
            kwargs["type"] = _whole(meta.get("minimum"))
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


@dataclass(frozen=True)
class FormField:
    name: str  # the RunConfig field
    label: str
    kind: object  # int, float, str, or a tuple of choices
    help: str


def form_fields() -> list[FormField]:
    """The form's fields, in RunConfig's order; device and the data folder are laid out by the form."""
    fields = []
    for name, meta in RunConfig.options():
        if meta.get("form"):
            kind = tuple(meta["choices"]) if meta.get("choices") else (meta.get("kind") or str)
            fields.append(FormField(name, meta["form"], kind, meta["help"]))
    return fields
