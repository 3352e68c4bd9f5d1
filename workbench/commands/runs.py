"""The subcommands about runs already in the runs home: runs, attach, stop, compare."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from trainers.errors import WorkbenchError

from workbench.render.text import age, lineage


def runs_table(summaries, narrow: bool = False) -> list[list[str]]:
    """The listing's rows. `narrow` (a terminal too narrow for whole names): each name without the model and
    dataset its own columns show, as the Runs screen has it, and the start as an age."""
    from trainers.runs.status import quiet_words

    rows = []
    now = time.time()
    by_name = {s.name: s for s in summaries}

    def shown(name: str) -> str:
        s = by_name.get(name)
        prefix = f"{s.model}-{s.dataset}-" if s is not None else ""
        return name[len(prefix):] if narrow and prefix and name.startswith(prefix) and name != prefix else name

    for s in summaries:
        best = (f"{100 * s.best_accuracy:.2f}%" if s.best_accuracy is not None
                else f"loss {s.best_loss:.4f}" if s.best_loss is not None else "-")
        state = f"{s.state} ({quiet_words(s.quiet)})" if s.quiet else f"{s.state} {s.gpu}" if s.live and s.gpu else s.state
        started = (age(now - s.started) if narrow else
                   time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started)) + f" ({age(now - s.started)})")
        rows.append([lineage(shown(s.name), shown(s.parent) if s.parent else ""), s.model, s.dataset,
                     f"{s.epochs_done}/{s.epochs}", best, state, started])
    return rows


def runs(args) -> int:
    from trainers.runs import list_runs, runs_home

    from trainers.sweeps import list_sweeps

    home = Path(args.home).expanduser() if args.home else runs_home()
    summaries = list_runs(home)
    sweeps = list_sweeps(home)
    # a sweep's trials are runs in its own folder: said here, listed by `workbench sweeps` and --home SWEEP
    besides = (f"{len(sweeps)} sweep(s) here as well: `workbench sweeps` lists them, `workbench runs --home "
               f"{sweeps[0]}` a sweep's trials." if sweeps else "")
    if not summaries:
        print(f"no runs in {home} yet; `workbench train ...` or the app's s starts one." if not sweeps else
              f"no runs in {home} outside its sweeps; {besides}")
        return 0
    for s in summaries:
        for what in s.damaged:
            print(f"workbench: warning: {s.name}/{what}", file=sys.stderr)
    header = ["name", "model", "dataset", "epochs", "best", "status", "started"]
    rows = runs_table(summaries)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        console = Console(highlight=False)
        if sum(max(len(r[i]) for r in rows + [header]) + 1 for i in range(len(header))) > console.width:
            rows = runs_table(summaries, narrow=True)  # whole names would squeeze the name column out
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in header:
            table.add_column(col, no_wrap=col != "name", overflow="fold", min_width=12 if col == "name" else None)
        for s, row in zip(summaries, rows):
            table.add_row(*row, style="bold" if s.live else ("red" if s.state in ("failed", "interrupted") else None))
        console.print(table)
        print(f"\n{len(rows)} run(s) in {home}")
    else:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if besides:
        print(besides, file=sys.stderr if not sys.stdout.isatty() else sys.stdout)
    return 0


def sweep_named(name: str | None) -> Path | None:
    """The sweep's folder when `name` is one (a folder with sweep.json, or a sweep's name in the runs home)."""
    from trainers.runs import runs_home
    from trainers.sweeps import find_sweep, is_sweep

    if not name:
        return None
    if is_sweep(Path(name).expanduser()) or is_sweep(runs_home() / name):
        return find_sweep(name)
    return None


def attach(args) -> int:
    from trainers.runs import find_run, list_runs

    sweep = sweep_named(args.run)
    if sweep is not None:
        from workbench.app import run_app

        return run_app(sweep=str(sweep)) or 0
    if args.run:
        folder = find_run(args.run)
    else:
        summaries = list_runs()
        if not summaries:
            raise WorkbenchError("there are no runs to attach to yet.")
        folder = Path(next((s for s in summaries if s.live), summaries[0]).folder)
    from workbench.app import run_app

    return run_app(attach=str(folder)) or 0


def compare(args) -> int:
    from trainers.runs import find_run

    folders = [str(find_run(name)) for name in args.runs]
    if len(set(folders)) < 2:
        raise WorkbenchError("compare needs two or more different runs.")
    from workbench.app import run_app

    return run_app(compare=folders) or 0


def stop(args) -> int:
    from trainers.runs import find_run, lock_holder, read_status, send

    sweep = sweep_named(args.run)
    if sweep is not None:
        return stop_sweep(sweep, wait=not args.no_wait)
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


def stop_sweep(folder: Path, wait: bool = True) -> int:
    """SIGTERM to the sweep's process: it asks its running trials to stop after their batch (each saves) and
    ends once they have; `workbench sweep --resume` continues it, no trial run twice."""
    import os
    import signal

    from trainers.sweeps.study import sweeper_pid

    pid = sweeper_pid(folder)
    if pid is None:
        print(f"sweep {folder.name} is not running; nothing to stop. `workbench sweep --resume {folder}` continues it.")
        return 0
    if pid < 0:
        raise WorkbenchError(f"sweep {folder.name} runs, but {folder / 'sweeper.json'} does not say its process id; "
                             f"stop it where it was started (Ctrl-C).")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"sweep {folder.name}'s process {pid} has just ended.")
        return 0
    except PermissionError:
        raise WorkbenchError(f"sweep {folder.name}'s process {pid} is not yours to stop.") from None
    if not wait:
        print(f"asked sweep {folder.name} to stop: its running trials save, then it ends.")
        return 0
    print(f"stopping sweep {folder.name}: its running trials save after their batch...", flush=True)
    deadline = time.monotonic() + 120
    while sweeper_pid(folder) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if sweeper_pid(folder) is not None:
        print(f"sweep {folder.name} has not stopped within 2 minutes (a trial's batch may be slow); it stops once "
              f"its trials have saved.", file=sys.stderr)
        return 1
    print(f"sweep {folder.name} stopped; its trials are saved in {folder}. `workbench sweep --resume {folder}` "
          f"continues it.")
    return 0


WAIT_CODES = {"finished": 0, "failed": 1, "stopped": 3, "interrupted": 3}
"""`workbench wait`'s exit status per way a run (or sweep) ended: the worst of them is the command's."""


def ended_line(folder: Path, state: str, sweep: bool = False) -> str:
    """One line for a run or sweep that has ended: name, state, epochs, best metric (and why, if it failed)."""
    if sweep:
        from trainers.sweeps.view import read_sweep

        try:
            view = read_sweep(folder)
        except WorkbenchError:
            return f"sweep {folder.name} {state}"
        best = view.best
        c = view.counts()
        what = f"best trial {best.number} {view.spec.metric} {best.value:.4f}" if best else "no trial finished"
        return f"sweep {folder.name} {state}, {c['finished']}/{view.spec.trials} trials finished, {what}"
    from trainers.runs import summarize

    s = summarize(folder)
    best = (f"best {100 * s.best_accuracy:.2f}%" if s.best_accuracy is not None
            else f"best loss {s.best_loss:.4f}" if s.best_loss is not None else "no epoch evaluated")
    line = f"{s.name} {state}, epoch {s.epochs_done}/{s.epochs}, {best}"
    return f"{line} ({s.reason})" if s.reason and state != "finished" else line


def wait(args) -> int:
    """Block until every named run or sweep has ended; a line for each as it ends. 0: all finished, 1: one
    failed (diverged too), 3: one was stopped or interrupted (and none failed)."""
    from trainers.runs import find_run, read_status
    from trainers.runs.home import is_run
    from trainers.runs.reader import POLL_SECONDS
    from trainers.sweeps.view import sweep_state

    waiting: dict[Path, bool] = {}  # folder -> it is a sweep
    for name in args.runs:
        sweep = sweep_named(name)
        if sweep is not None:
            waiting[sweep] = True
            continue
        folder = find_run(name)
        if not is_run(folder):
            raise WorkbenchError(f"{folder} is not a run's folder (no config, status or event log in it).")
        waiting[folder] = False
    code = 0
    while waiting:
        for folder, sweep in list(waiting.items()):
            if sweep:
                state = sweep_state(folder)
                ended = state not in ("running", "waiting")
            else:
                status = read_status(folder)
                state = status.state
                ended = not status.live and state != "empty"  # empty: a run folder its trainer has not claimed yet
            if not ended:
                continue
            del waiting[folder]
            print(ended_line(folder, state, sweep), flush=True)
            # failed outranks stopped: `wait A B && ...` is about whether anything went wrong
            step = WAIT_CODES.get(state, 1)
            code = 1 if 1 in (code, step) else max(code, step)
        if waiting:
            time.sleep(POLL_SECONDS)  # as often as a RunReader follows a run, no more
    return code
