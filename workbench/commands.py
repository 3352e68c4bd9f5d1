"""The headless subcommands. Output is for people on a terminal and for log files when piped: a rich
progress display on a TTY, one plain line per epoch otherwise (no control characters)."""

from __future__ import annotations

import csv
import itertools
import signal
import sys

from trainers.errors import WorkbenchError


def _fmt_acc(value: float | None) -> str:
    return "" if value is None else f" acc {value * 100:6.2f}%"


def models(args) -> int:
    from trainers.models import MODELS

    width = max(map(len, MODELS))
    for spec in MODELS.values():
        shape = "x".join(map(str, spec.input_shape))
        print(f"{spec.name:<{width}}  {spec.task:<11} {shape:<9} seed {spec.seed}  {spec.description}")
    print("\nyour own: --model path/to/file.py:ClassName (an nn.Module subclass or a function returning one)")
    return 0


def datasets(args) -> int:
    from trainers.data import DATASETS, availability, resolve_data_dir, search_paths

    width = max(map(len, DATASETS))
    for name, info in DATASETS.items():
        a = availability(name, args.data_dir)
        shape = "x".join(map(str, info.shape)) if info.shape else "any"
        print(f"{name:<{width}}  {a.state:<8} {shape:<7} {info.description}")
        print(f"{'':<{width}}  {a.message}")
        if info.needs_files and name != "image-folder":
            print(f"{'':<{width}}  looked in: {', '.join(str(p) for p in search_paths(name, args.data_dir))}")
    print(f"\ndata directory: {resolve_data_dir(args.data_dir)} (--data-dir, or $WORKBENCH_DATA)")
    return 0


def inspect(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from trainers.inspection import report

    r = report(args.model, args.dataset)
    console = Console(highlight=False)
    console.print(f"[bold]{r.model}[/]  input {'x'.join(map(str, r.input_shape))}\n")
    console.print(r.summary, markup=False)
    params = Table(title="named parameters", title_justify="left")
    for col in ("name", "shape", "count", "train", "mean", "std", "first values"):
        # the names are what the table is for: at 80 columns they fold onto a second line, never "net.5.weig…"
        params.add_column(col, justify="right" if col in ("count", "mean", "std") else "left", overflow="fold")
    for p in r.parameters:
        name = p.name + (f"  (shared with {p.shared_with})" if p.shared_with else "")
        params.add_row(name, "x".join(map(str, p.shape)), f"{p.count:,}", "yes" if p.trainable else "no",
                       f"{p.mean:+.4f}", f"{p.std:.4f}", ", ".join(f"{v:+.4f}" for v in p.first))
    console.print(params)
    console.print(f"total parameters: {r.total:,}   trainable: {r.trainable:,}   "
                  f"non-trainable: {r.total - r.trainable:,}\n")
    shapes = Table(title=f"output shape per layer for a 1x{'x'.join(map(str, r.input_shape))} input",
                   title_justify="left")
    for col in ("layer", "type", "output", "params"):
        shapes.add_column(col, justify="right" if col == "params" else "left")
    for layer in r.layers:
        shapes.add_row(layer.name, layer.kind, "x".join(map(str, layer.output_shape)), f"{layer.params:,}")
    console.print(shapes)
    return 0


class LoadProgress:
    """Downloads and decoding before training: a live bar on a terminal, one line per step in a log."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.last, self.bar = tty, None, None

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.tty:
            if what != self.last and not what.startswith("reading"):  # local reads take a blink
                print(f"{what} ...", flush=True)
                self.last = what
            return
        from rich.progress import Progress

        if self.bar is None:
            self.bar = Progress(transient=True)
            self.bar.start()
        if what != self.last:
            self.task = self.bar.add_task(what, total=total or None)
            self.last = what
        self.bar.update(self.task, completed=done, total=total or None)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def train(args) -> int:
    from trainers import RunControl, run
    from trainers.events import BatchEnded, EpochEnded, RunFailed, RunFinished, RunStarted
    from trainers.record import default_run_dir

    from .cli import config_from_args

    config = config_from_args(args)
    config.validate()
    if config.out is None:
        config.out = default_run_dir(config.model, config.dataset)
    tty = sys.stdout.isatty()
    progress = task = None
    run_dir = config.out
    loading = LoadProgress(tty)
    code = 0
    control = RunControl()

    def interrupted(_signum, _frame):
        # The first Ctrl-C stops after the current batch and saves the run; a second one aborts.
        if control.stop.is_set():
            raise KeyboardInterrupt
        control.request_stop()
        print("\nstopping after this batch and saving the run (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        for event in run(config, control, progress=loading):
            loading.close()
            if isinstance(event, RunStarted):
                print(f"{event.model} on {event.dataset}: {event.train_size:,} train / {event.test_size:,} test "
                      f"({event.data_source}); {event.parameters:,} parameters; {event.device}; "
                      f"{event.config['optimizer']} lr {event.config['lr']:g}, batch {event.config['batch_size']}, "
                      + (f"epochs {event.start_epoch + 1}-{event.epochs} (resumed)" if event.start_epoch
                         else f"{event.epochs} epoch(s)"), flush=True)
                run_dir = event.config.get("out") or config.out  # a used --out becomes DIR-2
                for warning in event.warnings:
                    print(f"workbench: warning: {warning}", file=sys.stderr, flush=True)
                if tty:
                    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                               TimeElapsedColumn, TimeRemainingColumn)

                    progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                        TextColumn("loss {task.fields[loss]:.4f}{task.fields[acc]}"),
                                        TextColumn("{task.fields[speed]:,.0f} samples/s"),
                                        TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
                    progress.start()
                    task = progress.add_task("train", total=event.batches_per_epoch, epoch=1, loss=float("nan"),
                                             acc="", speed=0.0)
            elif isinstance(event, BatchEnded) and progress is not None:
                progress.update(task, completed=event.batch, epoch=f"{event.epoch}", loss=event.loss,
                                acc=_fmt_acc(event.accuracy), speed=event.samples_per_sec)
            elif isinstance(event, EpochEnded):
                line = (f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.4f}"
                        f"{_fmt_acc(event.train_accuracy)}  test loss {event.test_loss:.4f}"
                        f"{_fmt_acc(event.test_accuracy)}  {event.seconds:.1f}s  {event.samples_per_sec:,.0f} samples/s")
                if progress is not None:
                    progress.console.print(line, highlight=False, markup=False)
                    progress.reset(task)
                else:
                    print(line, flush=True)
            elif isinstance(event, RunFinished):
                if progress is not None:
                    progress.stop()
                state = "stopped" if event.stopped else "finished"
                print(f"{state} after {event.epochs_completed} epoch(s) in {event.seconds:.1f}s; "
                      f"run saved in {run_dir}", flush=True)
                code = 130 if event.stopped else 0
            elif isinstance(event, RunFailed):
                if progress is not None:
                    progress.stop()
                saved = f" (the last finished epoch is saved in {event.checkpoint})" if event.checkpoint else ""
                print(f"workbench: training failed: {event.reason}{saved}", file=sys.stderr)
                code = 1
    except KeyboardInterrupt:
        if progress is not None:
            progress.stop()
        print("aborted; the run was not saved", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    return code


def _check_out(out: str) -> None:
    """The CSV's path can be written: checked before the model loads, so a typo costs no time."""
    from pathlib import Path

    path = Path(out).expanduser()
    if path.is_dir():
        raise WorkbenchError(f"--out {out} is a folder; give a file name such as {path / 'predictions.csv'}.")
    if not path.parent.is_dir():
        raise WorkbenchError(f"--out {out}: the folder {path.parent} does not exist.")


def predict(args) -> int:
    from trainers.predict import Labelled, predict_folder

    _check_out(args.out)
    written = skipped = 0
    try:
        rows = predict_folder(args.run, args.images)
        first = next(rows)  # raises early for a bad run or folder, before the CSV is created
    except StopIteration:
        first = None
    try:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["file", "label", "class", "probability"])
            for row in itertools.chain([first] if first else [], rows):
                if isinstance(row, Labelled):
                    out.writerow([row.file, row.label, row.class_name, f"{row.probability:.4f}"])
                    written += 1
                else:
                    print(f"workbench: skipped {row.file}: {row.reason}", file=sys.stderr)
                    skipped += 1
    except OSError as err:
        raise WorkbenchError(f"could not write {args.out}: {err.strerror or err}.") from None
    print(f"wrote {written} prediction(s) to {args.out}" + (f"; skipped {skipped} unreadable" if skipped else ""))
    if written == 0:
        raise WorkbenchError(f"no image in {args.images} could be read.")
    return 0
