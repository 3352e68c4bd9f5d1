"""A run's metrics taken home: every logged batch and epoch as CSV rows, and as TensorBoard event files.

- `write_csv(folder, out)`: every logged batch and every epoch of the run, one row each (CSV_COLUMNS).
- `write_tensorboard(folder, log_dir)`: the same scalars, the config as text and hparams, and the test
  images each epoch, as TensorBoard event files (needs the optional `tensorboard` package).

Everything is read from the run folder (config.json, events.jsonl); nothing here trains or imports a UI.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TextIO

from ..runs.files import EVENTS
from .script import ExportError, check_output_file, run_config, write_text

TB_INSTALL = "pip install 'workbench[tensorboard]'"


# ------------------------------------------------------------------------------------------------ CSV

CSV_COLUMNS = ("kind", "epoch", "batch", "batches", "step", "seen", "total", "loss", "accuracy", "test_loss",
               "test_accuracy", "samples_per_sec", "elapsed", "seconds", "eval_seconds", "time")


def _records(folder: Path, skipped=None):
    """(unix time, event) for each readable event of the run's log; damaged lines count in `skipped`
    (trainers.runs.log.Skipped)."""
    from ..runs.files import number
    from ..runs.log import decode, read_records

    if not (folder / EVENTS).exists():
        run_config(folder)  # a run that never started says so
        raise ExportError(f"{folder.name} has no {EVENTS}: it has not recorded anything yet.")
    for _start, _end, record in read_records(folder, skipped):
        event = decode(record, folder, skipped)
        if event is not None:
            yield number(record.get("t")), event


def metric_rows(folder: str | os.PathLike, skipped=None) -> list[dict]:
    """The CSV's rows, as dicts keyed by CSV_COLUMNS (None: an empty cell), from the event log alone (a
    damaged config.json costs nothing here); damaged lines are skipped and counted in `skipped`."""
    from .. import events as ev

    folder = Path(folder)
    rows, last_step, batches = [], {}, 0
    for t, event in _records(folder, skipped):
        if isinstance(event, ev.RunStarted):
            batches = event.batches_per_epoch
        elif isinstance(event, ev.BatchEnded):
            last_step[event.epoch] = event.step
            rows.append(dict(kind="batch", epoch=event.epoch, batch=event.batch, batches=event.batches,
                             step=event.step, seen=event.seen, total=event.total, loss=event.loss,
                             accuracy=event.accuracy, samples_per_sec=event.samples_per_sec, elapsed=event.elapsed,
                             time=t))
        elif isinstance(event, ev.EpochEnded):
            rows.append(dict(kind="epoch", epoch=event.epoch, batches=batches or None, step=last_step.get(event.epoch),
                             loss=event.train_loss, accuracy=event.train_accuracy, test_loss=event.test_loss,
                             test_accuracy=event.test_accuracy, samples_per_sec=event.samples_per_sec,
                             seconds=event.seconds, eval_seconds=event.eval_seconds, time=t))
    return [{c: row.get(c) for c in CSV_COLUMNS} for row in rows]


def write_csv(folder: str | os.PathLike, out: str | os.PathLike | TextIO, skipped=None) -> int:
    """Write the run's metrics as CSV to a path or an open text stream; returns the number of rows. Damaged
    lines of the log are skipped, and counted in `skipped` (trainers.runs.log.Skipped) when one is given."""
    rows = metric_rows(folder, skipped)
    if isinstance(out, (str, os.PathLike)):
        check_output_file(out)
        buffer = io.StringIO()
        _csv_to(buffer, rows)
        write_text(out, buffer.getvalue())
    else:
        _csv_to(out, rows)
    return len(rows)


def _csv_to(stream: TextIO, rows: list[dict]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow("" if row[c] is None else row[c] for c in CSV_COLUMNS)  # floats in full (repr)


# ---------------------------------------------------------------------------------------- TensorBoard

TB_TAGS = {"batch": ("batch/loss", "batch/accuracy", "batch/samples_per_sec"),
           "epoch": ("epoch/train_loss", "epoch/train_accuracy", "epoch/test_loss", "epoch/test_accuracy",
                     "epoch/seconds")}


def need_tensorboard():
    """torch's SummaryWriter, or one sentence on how to install what it needs."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ExportError(f"--tensorboard needs the tensorboard package: {TB_INSTALL}") from None
    return SummaryWriter


def tensorboard_dir(folder: str | os.PathLike, log_dir: str | os.PathLike) -> Path:
    """Where a run's event files go: LOG_DIR/RUN_NAME, so that several runs exported to one folder show as
    runs side by side in `tensorboard --logdir LOG_DIR`."""
    return Path(log_dir).expanduser() / Path(folder).name


def check_tensorboard_dir(folder: str | os.PathLike, log_dir: str | os.PathLike) -> Path:
    """LOG_DIR/RUN_NAME, created, empty of earlier event files and writable, or one sentence on why not."""
    target = tensorboard_dir(folder, log_dir)
    if target.is_dir() and any(p.name.startswith("events.out.tfevents") for p in target.iterdir()):
        raise ExportError(f"{target} already holds TensorBoard files (TensorBoard would mix the two); remove it or "
                          f"give another folder.")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file; give a folder for the TensorBoard files.")
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".workbench-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ExportError(f"cannot write TensorBoard files in {target}: {err.strerror or err}.") from None
    return target


def write_tensorboard(folder: str | os.PathLike, log_dir: str | os.PathLike) -> tuple[Path, dict[str, int]]:
    """Write the run as TensorBoard event files under LOG_DIR/RUN_NAME; returns that folder and how many
    points each scalar tag got."""
    from .. import events as ev

    folder = Path(folder)
    config = run_config(folder)
    SummaryWriter = need_tensorboard()
    target = check_tensorboard_dir(folder, log_dir)
    records = list(_records(folder))
    counts: dict[str, int] = {}
    writer = SummaryWriter(log_dir=str(target))

    def scalar(tag: str, value, step: int, t) -> None:
        if value is None:
            return
        writer.add_scalar(tag, float(value), step, walltime=t)
        counts[tag] = counts.get(tag, 0) + 1

    try:
        last = None
        writer.add_text("config", "```\n" + json.dumps({k: v for k, v in config.items() if k != "run"}, indent=2)
                        + "\n```", 0)
        summary = (config.get("run") or {}).get("summary")
        if summary:
            writer.add_text("model", "```\n" + str(summary) + "\n```", 0)
        for t, event in records:
            if isinstance(event, ev.BatchEnded):
                for tag, value in zip(TB_TAGS["batch"], (event.loss, event.accuracy, event.samples_per_sec)):
                    scalar(tag, value, event.step, t)
            elif isinstance(event, ev.EpochEnded):
                last = event
                for tag, value in zip(TB_TAGS["epoch"], (event.train_loss, event.train_accuracy, event.test_loss,
                                                         event.test_accuracy, event.seconds)):
                    scalar(tag, value, event.epoch, t)
            elif isinstance(event, ev.Predictions) and event.images is not None and len(event.images):
                writer.add_image("predictions", _grid(event.images), event.epoch, walltime=t, dataformats="CHW")
                names = event.classes
                lines = ["| # | label | predicted |", "|---|---|---|"] + [
                    f"| {i} | {names[y] if y < len(names) else y} | {names[p] if p < len(names) else p}"
                    f"{'' if p == y else ' ✗'} |" for i, (y, p) in enumerate(zip(event.labels, event.predicted))]
                writer.add_text("predictions", "\n".join(lines), event.epoch, walltime=t)
            elif isinstance(event, ev.Reconstructions) and event.originals is not None and event.outputs is not None:
                import numpy as np

                both = np.concatenate([event.originals, event.outputs])  # originals above, reconstructions below
                writer.add_image("reconstructions", _grid(both, rows=2), event.epoch, walltime=t, dataformats="CHW")
        _hparams(writer, config, last)
    finally:
        writer.close()
    return target, counts


def _grid(images, rows: int | None = None):
    """uint8 (N, C, H, W) -> one (C, H', W') grid with a thin border, for add_images."""
    import torch
    from torchvision.utils import make_grid

    x = torch.from_numpy(images).float().div(255)
    per_row = -(-len(x) // rows) if rows else max(1, int(len(x) ** 0.5 + 0.999))
    return make_grid(x, nrow=per_row, padding=1, pad_value=0.5)


def _hparams(writer, config: dict, last) -> None:
    """The settings in TensorBoard's HPARAMS tab, with the run's final test figures."""
    from torch.utils.tensorboard.summary import hparams

    values = {}
    for key, value in config.items():
        if key in ("run", "out", "resume") or value is None:
            continue
        values[key] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    metrics = {}
    if last is not None:
        metrics["hparam/test_loss"] = float(last.test_loss)
        if last.test_accuracy is not None:
            metrics["hparam/test_accuracy"] = float(last.test_accuracy)
    for summary in hparams(values, metrics):
        writer.file_writer.add_summary(summary)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value)

