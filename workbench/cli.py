"""The `workbench` command: the interactive app by default, subcommands for headless use.

Imports stay light here (no torch, no textual) so `workbench --help` and the app's first frame are quick;
each subcommand imports what it needs.
"""

from __future__ import annotations

import argparse
import sys

from trainers.config import DEVICES, INITS, OPTIMIZERS, RunConfig
from trainers.errors import WorkbenchError

SUBCOMMANDS = ("train", "models", "datasets", "inspect", "predict")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (and --help), not the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_run_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--model", "-m", required=required, help="model name (see `workbench models`) or file.py:Class")
    p.add_argument("--dataset", "-d", required=required, help="dataset name (see `workbench datasets`)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=_number, help="learning rate")
    p.add_argument("--momentum", type=_number)
    p.add_argument("--weight-decay", type=_number)
    p.add_argument("--init", choices=INITS, help="parameter initialisation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N")
    p.add_argument("--data-dir", help="where dataset files are (default: $WORKBENCH_DATA or ~/.cache/workbench/data)")
    p.add_argument("--out", help="run folder for config, metrics and checkpoint (default: runs/MODEL-DATASET-TIME)")
    p.add_argument("--resume", help="continue from a checkpoint (a run folder or .pt file)")
    p.add_argument("--no-download", action="store_true", help="never try to download a dataset")
    p.add_argument("--limit-batches", type=_positive_int, help="train on at most this many batches per epoch")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        model=args.model or "mlp", dataset=args.dataset or "synthetic-digits", epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, init=args.init, seed=args.seed, device=args.device,
        data_dir=args.data_dir, out=args.out, resume=args.resume, download=not args.no_download,
        limit_batches=args.limit_batches,
    )


def check_names(config: RunConfig) -> None:
    """Unknown model or dataset names are a one-line error before the app opens. A user's file.py:Name
    is only checked to exist (running it is the run's job), and a pair that does not fit still opens:
    the picker marks it and says what does fit."""
    from pathlib import Path

    from trainers.compat import check_pair
    from trainers.data import DATASETS
    from trainers.models import get_spec, is_user_model

    if is_user_model(config.model):
        path = Path(config.model.rsplit(":", 1)[0]).expanduser()
        if not path.is_file():
            raise WorkbenchError(f"model file {path} does not exist.")
    else:
        get_spec(config.model)  # ConfigError naming the models, for an unknown name
    if config.dataset not in DATASETS:
        raise WorkbenchError(check_pair(config.model, config.dataset) or f"unknown dataset {config.dataset!r}.")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench", description="Train small PyTorch vision models and watch them learn, in the terminal.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    train = sub.add_parser("train", help="train without the interactive screen")
    add_run_options(train, required=True)
    sub.add_parser("models", help="list the models")
    ds = sub.add_parser("datasets", help="list the datasets and whether each is ready here")
    ds.add_argument("--data-dir")
    insp = sub.add_parser("inspect", help="print a model's architecture, parameters and layer shapes")
    insp.add_argument("model")
    insp.add_argument("--dataset", "-d")
    pred = sub.add_parser("predict", help="label every image in a folder with a trained run")
    pred.add_argument("run", help="a run folder or checkpoint file")
    pred.add_argument("--images", required=True, help="folder of images")
    pred.add_argument("--out", default="predictions.csv", help="CSV to write (default: predictions.csv)")
    return parser


def build_app_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench", epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (workbench COMMAND --help)",
        description="Open the interactive workbench. Options preselect a run; --start begins it at once.")
    add_run_options(parser, required=False)
    parser.add_argument("--start", action="store_true", help="start training at once")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            from . import commands

            return getattr(commands, args.command)(args)
        args = build_app_parser().parse_args(argv)
        config = config_from_args(args)
        config.validate()
        check_names(config)
        from .app import run_app

        return run_app(config, start=args.start) or 0
    except WorkbenchError as err:
        print(f"workbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
