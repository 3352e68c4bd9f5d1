"""`workbench train`: a run here (a progress bar on a terminal, one plain line per epoch in a log),
in the background (--detach), or over several processes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from trainers.devices import gb
from trainers.errors import WorkbenchError
from trainers.events import END

from workbench.options import check_names  # shared with cli.py and sweeps, from the options' layer
from workbench.render.text import gpu_words


def fmt_acc(value: float | None) -> str:
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

    from workbench.options import config_from_args, given

    options = given(args)
    if options.get("from_run") or options.get("weights_from"):
        return fork_config(options)
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
        check_left(folder, config.epochs)
        check_checkpoint(folder)
        return config
    if not options.get("model"):
        raise WorkbenchError("train needs --model (and --dataset, synthetic-digits when not given), or --resume RUN "
                             "to continue a run.")
    config = config_from_args(args)
    config.validate()
    check_names(config)  # a misspelt name is one line here, not a failed run in the runs home
    from trainers.compat import check_pair

    problem = check_pair(config.model, config.dataset)  # so is a pair whose shapes do not fit
    if problem:
        raise WorkbenchError(problem)
    return config


def fork_config(options: dict):
    """`--from RUN` / `--weights-from RUN`: a new run from RUN's settings, the options given changed."""
    from trainers import backends
    from trainers.compat import check_pair
    from trainers.runs import runs_home
    from trainers.sweeps import is_sweep

    if options.get("resume"):
        raise WorkbenchError("--resume continues a run in its own folder, --from and --weights-from start a new one "
                             "from it: give one or the other.")
    for flag, run in (("--from", options.get("from_run")), ("--weights-from", options.get("weights_from"))):
        if run and (is_sweep(Path(run).expanduser()) or is_sweep(runs_home() / run)):
            raise WorkbenchError(f"{flag} {run}: that is a sweep, not a run; `workbench runs --home SWEEP` lists its "
                                 f"trials, and {flag} SWEEP/trial-NNN starts from one of them.")
    config = backends.fork_config(**options)
    check_names(config)
    problem = check_pair(config.model, config.dataset)
    if problem:
        raise WorkbenchError(problem)
    return config


def check_checkpoint(folder: Path) -> None:
    """A damaged checkpoint is refused before the run's folder is touched: a finished run stays finished."""
    from trainers import checkpoint as ckpt

    if (folder / ckpt.FILENAME).exists():
        ckpt.load(folder)


def check_left(folder: Path, epochs: int | None) -> None:
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
    from trainers.devices import pci_order
    from trainers.runs import FolderControl, RunReader, send

    pci_order()  # before CUDA starts (the device check below starts it): cuda:N as `workbench gpus` counts
    config = train_config(args)
    check_gpu(config)
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


def check_gpu(config) -> None:
    """Before a folder is made: a GPU that is not here, or --batch-size auto off a GPU, is a one-line error
    (exit 2); a GPU another live run trains on is a one-line warning naming that run."""
    from trainers.devices import check
    from trainers.gpus import busy_sentence

    check(config)
    busy = busy_sentence(config.device)
    if busy:
        print(f"workbench: warning: {busy}", file=sys.stderr, flush=True)


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
                where = f"after epoch {e}" if b >= END else f"at epoch {e}, batch {b}/{event.batches_per_epoch}"
                span = f"resumed {where}, on to epoch {event.epochs}"
            else:
                span = f"{event.epochs} epoch(s)"
            from trainers.devices import record_words

            procs = event.config.get("nproc_per_node", 1) * event.config.get("nnodes", 1)
            gpu = record_words(event.config.get("gpu"))
            device = (gpu or event.device) + (f" x {procs} processes" if procs > 1 else "")
            print(f"{event.model} on {event.dataset}: {event.train_size:,} train / {event.test_size:,} test "
                  f"({event.data_source}); {event.parameters:,} parameters; {device}; "
                  f"{event.config['optimizer']} lr {event.config['lr']:g}, batch {event.config['batch_size']}; "
                  f"{span}; run {Path(run_dir).name}", flush=True)
            for note in event.notes:
                print(note, flush=True)
            for warning in event.warnings:
                print(f"workbench: warning: {warning}", file=sys.stderr, flush=True)
            if tty and progress is None:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                           TimeRemainingColumn)

                # on a GPU, its memory beside the progress (the column is empty on a CPU)
                progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("loss {task.fields[loss]:.4f}{task.fields[acc]}"),
                                    TextColumn("{task.fields[speed]:,.0f} samples/s"),
                                    TextColumn("{task.fields[gpu]}"),
                                    TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
                progress.start()
                task = progress.add_task("train", total=event.batches_per_epoch, epoch=1, loss=float("nan"),
                                         acc="", speed=0.0, gpu="")
        elif isinstance(event, BatchEnded) and progress is not None:
            progress.update(task, completed=event.batch, epoch=f"{event.epoch}", loss=event.loss,
                            acc=fmt_acc(event.accuracy), speed=event.samples_per_sec,
                            gpu=gpu_words(event.gpu_memory, event.gpu_peak, event.gpu_util))
        elif isinstance(event, EpochEnded):
            line = (f"epoch {event.epoch}/{event.epochs}  train loss {event.train_loss:.4f}"
                    f"{fmt_acc(event.train_accuracy)}  test loss {event.test_loss:.4f}"
                    f"{fmt_acc(event.test_accuracy)}  {event.seconds:.1f}s  {event.samples_per_sec:,.0f} samples/s"
                    + (f"  GPU peak {gb(event.gpu_peak)}" if event.gpu_peak is not None else "")
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
