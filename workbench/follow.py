"""Following a run folder from a thread worker: the reader's events go to a widget in RunEvents messages,
bundled (a few messages a second at most, every event kept), sent when the reader has caught up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual.widget import Widget

from trainers.events import RunFailed, RunFinished
from trainers.runs import CaughtUp, RunReader
from trainers.runs.files import EVENTS

from workbench.messages import RunEvents

BUNDLE_SECONDS = 0.25
FINAL = (RunFinished, RunFailed)
BUNDLE_MOST = 2000  # a long run's replay goes in slices, so the screen can draw between them


def follow(target: Widget, folder: str, stop: threading.Event, live: bool = True) -> None:
    """Post every event of `folder` to `target` (live: then each new one until the run ends or `stop`)."""
    pending: list = []
    last = time.monotonic()
    for event in RunReader(folder).events(follow=live, stop=stop):
        if stop.is_set():
            return
        if not isinstance(event, CaughtUp):
            pending.append(event)
            if (len(pending) < BUNDLE_MOST and time.monotonic() - last < BUNDLE_SECONDS
                    and not isinstance(event, FINAL)):
                continue  # the run's last word goes out at once: the trainer may linger before it exits
        if pending:
            target.post_message(RunEvents(folder, tuple(pending)))
            pending = []
            last = time.monotonic()
    if pending and not stop.is_set():
        target.post_message(RunEvents(folder, tuple(pending)))


def log_stamp(folder: str) -> tuple | None:
    """What changes when a trainer takes the folder again (`train --resume` from another terminal): the
    event log's inode, size and modification time; None when there is no log."""
    try:
        st = (Path(folder) / EVENTS).stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
