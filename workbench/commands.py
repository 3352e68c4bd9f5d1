"""The headless subcommands. Output is for people on a terminal and for log files when piped: a rich
progress display on a TTY, one plain line per epoch otherwise (no control characters)."""

from __future__ import annotations

import csv
import itertools
import sys

from trainers.errors import WorkbenchError

from .run_commands import attach, compare, runs, stop, train  # noqa: F401 - the run subcommands


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
    from trainers.runs import find_run

    _check_out(args.out)
    try:
        args.run = str(find_run(args.run))
    except WorkbenchError:
        pass  # a checkpoint file elsewhere; predict_folder says what is wrong with it
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
