"""`workbench export`: a run as a standalone script, its metrics as CSV, TensorBoard files."""

from __future__ import annotations

import sys
from pathlib import Path

from trainers.errors import WorkbenchError


def export(args) -> int:
    from trainers.export import metrics, script
    from trainers.runs import find_run

    if not (args.script or args.csv or args.tensorboard):
        raise WorkbenchError("export needs --script FILE, --csv [FILE] or --tensorboard DIR (see workbench export "
                             "--help).")
    if args.run is None:
        if args.csv in (None, "-"):
            raise WorkbenchError("export needs a RUN: a name from `workbench runs` or a folder.")
        # `export --csv RUN`: argparse took the run for --csv's optional FILE; the metrics go to stdout
        args.run, args.csv = args.csv, "-"
    folder = find_run(args.run)
    config = script.run_config(folder) if args.script or args.tensorboard else None  # the CSV needs only the log
    to_stdout = args.csv == "-"
    # every output is checked before anything is written: a typo in the last one costs nothing
    if args.script:
        script.check_output_file(args.script)
    if args.csv and not to_stdout:
        script.check_output_file(args.csv)
    if args.tensorboard:
        metrics.need_tensorboard()
        metrics.check_tensorboard_dir(folder, args.tensorboard)
    say = sys.stderr if to_stdout else sys.stdout  # CSV on standard output stays pure CSV
    if args.script:
        path = script.write_script(folder, args.script)
        print(f"wrote {path}: `python {path}` trains {config['model']} on {config['dataset']} as {folder.name} did, "
              f"with torch and torchvision alone", file=say)
    if args.csv:
        from trainers.runs.log import Skipped

        skipped = Skipped()
        rows = metrics.write_csv(folder, sys.stdout if to_stdout else Path(args.csv), skipped)
        if not to_stdout:
            print(f"wrote {rows} row(s) of metrics to {args.csv}", file=say)
        if skipped.lines:
            print(f"workbench: warning: {skipped.sentence(folder)}", file=sys.stderr)
    if args.tensorboard:
        target, counts = metrics.write_tensorboard(folder, args.tensorboard)
        print(f"wrote TensorBoard files to {target} ({sum(counts.values())} points in {len(counts)} scalar tags); "
              f"`tensorboard --logdir {args.tensorboard}` shows them", file=say)
    return 0
