"""The subcommands about runs: train (here or detached), runs, attach, stop, compare.

Output is for people on a terminal and for log files when piped: a rich progress display on a TTY, one
plain line per epoch otherwise (no control characters)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from trainers.errors import WorkbenchError


def _fmt_acc(value: float | None) -> str:
    return "" if value is None else f" acc {value * 100:6.2f}%"


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


def train_config(args):
    """The config `workbench train` runs: from the options, or from RUN's folder for `--resume RUN`."""
    from trainers.backends import resume_config
    from trainers.backends.local import checkpoint_file_config
    from trainers.runs import find_run
    from trainers.runs.home import is_run

    from .options import config_from_args, given

    options = given(args)
    resume = options.get("resume")
    given_file = bool(resume) and Path(resume).expanduser().is_file()
    if resume and not ("model" in options and given_file):
        overrides = {k: v for k, v in options.items() if k != "resume"}
        if given_file and not is_run(Path(resume).expanduser().parent):
            config = checkpoint_file_config(resume, **overrides)  # a .pt on its own: a new run goes on from it
            config.validate()
            return config
        folder = find_run(resume)
        config = resume_config(str(folder), **overrides)
        _check_left(folder, config.epochs)
        _check_checkpoint(folder)
        return config
    if not options.get("model"):
        raise WorkbenchError("train needs --model (and --dataset, synthetic-digits when not given), or --resume RUN "
                             "to continue a run.")
    config = config_from_args(args)
    config.validate()
    from .cli import check_names

    check_names(config)  # a misspelt name is one line here, not a failed run in the runs home
    from trainers.compat import check_pair

    problem = check_pair(config.model, config.dataset)  # so is a pair whose shapes do not fit
    if problem:
        raise WorkbenchError(problem)
    return config


def _check_checkpoint(folder: Path) -> None:
    """A damaged checkpoint is refused before the run's folder is touched: a finished run stays finished."""
    from trainers import checkpoint as ckpt

    if (folder / ckpt.FILENAME).exists():
        ckpt.load(folder)


def _check_left(folder: Path, epochs: int | None) -> None:
    """A finished run has nothing left to train unless --epochs asks for more: say so before starting."""
    from trainers.checkpoint import INFO
    from trainers.runs.files import read_json, whole

    info = read_json(folder / INFO) or {}
    done = whole(info.get("epoch"), 0)  # a damaged record says nothing; loading the checkpoint then checks it
    if epochs is not None and info.get("position") is None and done >= epochs:
        raise WorkbenchError(f"{folder.name} has finished all {done} epoch(s) it was asked for; --epochs N "
                             f"(more than {done}) trains it further.")


def train(args) -> int:
    from trainers.backends import claim, start, train_here
    from trainers.runs import FolderControl, RunReader, send

    config = train_config(args)
    distributed = config.nproc_per_node > 1 or config.nnodes > 1
    if args.detach or distributed:
        folder, child = start(config)
        if args.detach:
            print(f"training {config.model} on {config.dataset} in the background: {folder.name}")
            print(f"  folder   {folder}")
            print(f"  watch    workbench attach {folder.name}")
            print(f"  stop     workbench stop {folder.name}")
            return 0
        run_dir = str(folder)
        control = None
        events = RunReader(folder).events(follow=True)  # rank 0 writes the folder; this terminal shows it
    else:
        config, lock = claim(config)
        run_dir = config.out
        control = FolderControl(run_dir)
        loading = LoadProgress(sys.stdout.isatty())
        events = train_here(config, progress=loading, control=control, lock=lock)

    def interrupted(signum, _frame):
        # The first Ctrl-C (or SIGTERM) stops after the current batch and saves the run; a second aborts.
        if stopping:
            raise KeyboardInterrupt
        stop_after_batch()
        print("\nstopping after this batch and saving the run (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def hung_up(signum, frame):
        # The terminal went away (an SSH drop without tmux): its writes would fail, and the shell may hang up
        # again. Stop and save as for Ctrl-C, once, and say so in the run's trainer.log.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _leave_terminal(run_dir)
        # to the descriptor itself: a progress display holds sys.stderr, and its console wrote to the terminal
        os.write(2, b"workbench: the terminal hung up (SIGHUP); stopping after this batch and saving the run\n")
        if not stopping:
            stop_after_batch()

    def stop_after_batch() -> None:
        stopping.append(True)
        if control is not None:
            control.request_stop()
        else:
            send(run_dir, "stop")

    stopping: list = []
    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, hung_up)
    try:
        return show_events(events, run_dir)
    except KeyboardInterrupt:
        if distributed:
            os.killpg(child.pid, signal.SIGKILL)
        print(f"aborted; the last checkpoint in {run_dir} (if any) is kept", file=sys.stderr)
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _leave_terminal(run_dir: str) -> None:
    """From now on standard output goes nowhere and errors go to RUN/trainer.log: a hung-up terminal fails
    every write with EIO, and the run must still save and say how it ended."""
    from trainers.runs.files import TRAINER_LOG

    try:
        log = os.open(Path(run_dir) / TRAINER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        log = os.open(os.devnull, os.O_WRONLY)
    null = os.open(os.devnull, os.O_RDWR)
    for fd, target in ((0, null), (1, null), (2, log)):
        os.dup2(target, fd)
    os.close(null)
    os.close(log)


def show_events(events, run_dir: str) -> int:
    """Print a run's events for a person: a progress bar on a terminal, one plain line per epoch in a log.
    Returns the exit code: 0 finished, 130 stopped, 1 failed."""
    from trainers.events import BatchEnded, CheckpointSaved, EpochEnded, RunFailed, RunFinished, RunStarted
    from trainers.models import resume_command
    from trainers.runs import TrainerGone

    tty = sys.stdout.isatty()
    progress = task = None
    code = 0
    stop_note: list[str] = []
    model = None
    for event in events:
        if isinstance(event, RunStarted):
            model = event.config.get("model")
            if event.resumed_at:
                e, b = event.resumed_at
                where = f"after epoch {e}" if b >= 1 << 30 else f"at epoch {e}, batch {b}/{event.batches_per_epoch}"
                span = f"resumed {where}, on to epoch {event.epochs}"
            else:
                span = f"{event.epochs} epoch(s)"
            procs = event.config.get("nproc_per_node", 1) * event.config.get("nnodes", 1)
            device = event.device + (f" x {procs} processes" if procs > 1 else "")
            print(f"{event.model} on {event.dataset}: {event.train_size:,} train / {event.test_size:,} test "
                  f"({event.data_source}); {event.parameters:,} parameters; {device}; "
                  f"{event.config['optimizer']} lr {event.config['lr']:g}, batch {event.config['batch_size']}; "
                  f"{span}; run {Path(run_dir).name}", flush=True)
            for warning in event.warnings:
                print(f"workbench: warning: {warning}", file=sys.stderr, flush=True)
            if tty and progress is None:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                           TimeRemainingColumn)

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
                    f"{_fmt_acc(event.test_accuracy)}  {event.seconds:.1f}s  {event.samples_per_sec:,.0f} samples/s"
                    + ("  (resumed)" if event.resumed else ""))
            if progress is not None:
                progress.console.print(line, highlight=False, markup=False)
                progress.reset(task)
            else:
                print(line, flush=True)
        elif isinstance(event, CheckpointSaved) and not event.complete:
            stop_note[:] = [event.label]
        elif isinstance(event, RunFinished):
            if progress is not None:
                progress.stop()
            if event.stopped:
                where = stop_note[0] if stop_note else f"epoch {event.epochs_completed}"
                print(f"stopped at {where}; saved in {run_dir}; `{resume_command(Path(run_dir).name, model)}` "
                      f"continues it exactly there", flush=True)
            else:
                print(f"finished {event.epochs_completed} epoch(s) in {event.seconds:.1f}s; run saved in "
                      f"{run_dir}", flush=True)
            code = 130 if event.stopped else 0
        elif isinstance(event, (RunFailed, TrainerGone)):
            if progress is not None:
                progress.stop()
            saved = f" (the last good weights are in {event.checkpoint})" if getattr(event, "checkpoint", None) else ""
            print(f"workbench: training failed: {event.reason}{saved}", file=sys.stderr)
            code = 1
    if progress is not None:
        progress.stop()
    return code


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def runs_table(summaries) -> list[list[str]]:
    from trainers.runs.status import quiet_words

    rows = []
    now = time.time()
    for s in summaries:
        best = (f"{100 * s.best_accuracy:.2f}%" if s.best_accuracy is not None
                else f"loss {s.best_loss:.4f}" if s.best_loss is not None else "-")
        state = f"{s.state} ({quiet_words(s.quiet)})" if s.quiet else s.state
        rows.append([s.name, s.model, s.dataset, f"{s.epochs_done}/{s.epochs}", best, state,
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started)) + f" ({_age(now - s.started)})"])
    return rows


def runs(args) -> int:
    from trainers.runs import list_runs, runs_home

    home = Path(args.home).expanduser() if args.home else runs_home()
    summaries = list_runs(home)
    if not summaries:
        print(f"no runs in {home} yet; `workbench train ...` or the app's s starts one.")
        return 0
    for s in summaries:
        for what in s.damaged:
            print(f"workbench: warning: {s.name}/{what}", file=sys.stderr)
    header = ["name", "model", "dataset", "epochs", "best", "status", "started"]
    rows = runs_table(summaries)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in header:
            table.add_column(col, no_wrap=col != "name", overflow="fold")
        for s, row in zip(summaries, rows):
            table.add_row(*row, style="bold" if s.live else ("red" if s.state in ("failed", "interrupted") else None))
        Console(highlight=False).print(table)
        print(f"\n{len(rows)} run(s) in {home}")
    else:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def attach(args) -> int:
    from trainers.runs import find_run, list_runs

    if args.run:
        folder = find_run(args.run)
    else:
        summaries = list_runs()
        if not summaries:
            raise WorkbenchError("there are no runs to attach to yet.")
        folder = Path(next((s for s in summaries if s.live), summaries[0]).folder)
    from .app import run_app

    return run_app(attach=str(folder)) or 0


def compare(args) -> int:
    from trainers.runs import find_run

    folders = [str(find_run(name)) for name in args.runs]
    if len(set(folders)) < 2:
        raise WorkbenchError("compare needs two or more different runs.")
    from .app import run_app

    return run_app(compare=folders) or 0


def stop(args) -> int:
    from trainers.runs import find_run, lock_holder, read_status, send

    folder = find_run(args.run)
    status = read_status(folder)
    if not status.live:
        print(f"{folder.name} is not training ({status.state}); nothing to stop.")
        return 0
    send(folder, "stop")
    if args.no_wait:
        print(f"asked {folder.name} to stop after its current batch.")
        return 0
    deadline = time.monotonic() + 120
    while lock_holder(folder) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    status = read_status(folder)
    if status.live:
        print(f"{folder.name} has not stopped within 2 minutes (still {status.state}); it stops after its current "
              f"batch, which may be slow.", file=sys.stderr)
        return 1
    from trainers.models import resume_command
    from trainers.runs import RunReader

    command = resume_command(folder.name, RunReader(folder).config().get("model"))
    print(f"{folder.name} {status.state}; saved in {folder}. `{command}` continues it.")
    return 0
