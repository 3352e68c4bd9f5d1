"""The training loop in a child process, for callers that share the interpreter with other busy work (a
terminal UI): the child has its own GIL, so redraws never stall a training step. Same events, same
control calls as `trainers.run`, plus `Loading` events while data downloads or decodes.

    control = process_control()
    for event in run_in_process(config, control):
        ...

The child uses torch's default thread count (one per core). Measured on 2 cores, one thread for the
trainer (leaving a core to the UI) trained slower than two sharing with the mostly idle UI.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import time
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Iterator

from .config import RunConfig
from .control import RunControl
from .events import Loading, RunFailed, RunFinished, RunStarted

_CTX = mp.get_context("spawn")  # never fork a process that has UI threads; the child imports torch itself
_DONE = "done"
LOADING_EVERY = 0.2  # seconds between Loading events: the latest value is all a screen needs


def _ensure_tracker() -> None:
    # multiprocessing starts a resource tracker and hands it sys.stderr's descriptor; a full-screen app
    # has replaced sys.stderr with a capture object (no descriptor), so start it with the real one.
    saved = sys.stderr
    try:
        sys.stderr = sys.__stderr__ or saved
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


def process_control() -> RunControl:
    """A RunControl whose stop/pause/save reach a loop in a child process."""
    _ensure_tracker()
    return RunControl(event_factory=_CTX.Event)


def _quiet(log_path: str | None) -> None:
    """The child shares the parent's terminal: anything it prints (a library's warning) would land on
    top of the parent's screen. Send it to the run's log file instead."""
    target = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _child(config: RunConfig, control: RunControl, out: mp.Queue, log_path: str | None, parent: int) -> None:
    _quiet(log_path)
    last = [0.0]

    def progress(what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= LOADING_EVERY or done >= total > 0:
            last[0] = now
            out.put(Loading(what, done, total))

    try:
        from .loop import run

        for event in run(config, control, progress=progress):
            out.put(event)
            if os.getppid() != parent and not control.stop.is_set():
                control.request_stop()  # orphaned: nobody is watching; stop, and the loop saves the run
    except BaseException as err:  # noqa: BLE001 - the parent must hear about anything, then the child ends
        out.put(RunFailed(f"the training process failed: {type(err).__name__}: {err}"))
    finally:
        out.put(_DONE)


def run_in_process(config: RunConfig, control: RunControl | None = None, poll_seconds: float = 0.5) -> Iterator:
    """Yield the events of `trainers.run(config, control)` computed in a child process.

    A child that dies without a word (killed, out of memory, a crash in native code) ends the stream with
    RunFailed. Closing the generator early stops the child: at once while it is still loading (nothing to
    save yet), else after its current batch, once it has saved the run."""
    control = control or process_control()
    _ensure_tracker()
    events: mp.Queue = _CTX.Queue()
    log_path = None
    if config.out:
        Path(config.out).mkdir(parents=True, exist_ok=True)
        log_path = str(Path(config.out) / "trainer.log")
    child = _CTX.Process(target=_child, args=(config, control, events, log_path, os.getpid()), daemon=True,
                         name="workbench-trainer")
    child.start()
    started = ended = False
    try:
        while True:
            try:
                event = events.get(timeout=poll_seconds)
            except queue.Empty:
                if not child.is_alive():
                    yield RunFailed(f"the training process ended unexpectedly (exit code {child.exitcode}).")
                    return
                continue
            if event == _DONE:
                return
            started = started or isinstance(event, RunStarted)
            ended = ended or isinstance(event, (RunFinished, RunFailed))
            yield event
    finally:
        if not ended:
            control.request_stop()
            if not started:
                child.kill()  # still importing or loading data: nothing to save, no reason to wait
        # Drain while waiting, so a child blocked on a full pipe can flush and exit.
        deadline = time.monotonic() + 30
        while child.is_alive() and time.monotonic() < deadline:
            try:
                events.get(timeout=0.1)
            except queue.Empty:
                pass
        if child.is_alive():
            child.kill()
        child.join()
        events.close()
