"""`workbench predict`: label a folder of images with a trained run, as CSV."""

from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

from trainers.errors import WorkbenchError


def _check_out(out: str) -> None:
    """The CSV's path can be written: checked before the model loads, so a typo costs no time."""
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
        if not Path(args.run).expanduser().exists():
            raise  # neither a run nor a file: "no run named ..."
        # a checkpoint file elsewhere; predict_folder says what is wrong with it
    written = skipped = 0
    try:
        rows = predict_folder(args.run, args.images, model=args.model)
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
