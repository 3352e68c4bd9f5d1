"""Steering a trainer through its folder, from any terminal: RUN/control.json.

`send(RUN, "stop" | "pause" | "resume" | "save")` records a request; the trainer's FolderControl looks at
the file between batches (a stat, a few times a second) and takes what is new since it started. Requests
are counted, not just flagged, so a later trainer on the same folder does not obey the one before's, and
two saves asked for before the trainer looks are one save. Senders take turns through RUN/.control.lock (an
flock around the read-modify-write), so two terminals sending at the same instant both count; the trainer
never takes it: control.json is replaced whole (files.write_json), so a plain read is always one request
count or the next.

"watch-layers" is a lease, not a request: it asks for layer statistics (trainers.probes.layers) for the
next WATCH_SECONDS, and a viewer renews it while its Layers tab is shown. Several viewers share one lease;
one that goes away (or crashes) leaves the trainer computing them at most WATCH_SECONDS longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from ..control import RunControl
from .files import CONTROL, disk_error, read_json, write_json

ACTIONS = ("stop", "pause", "resume", "save", "watch-layers")
CHECK_SECONDS = 0.2  # how often a trainer looks at control.json: cheap, and a key press feels immediate
WATCH = "watch.json"  # the viewers' lease on layer statistics, apart from control.json's requests
WATCH_SECONDS = 30.0  # how long one "watch-layers" keeps layer statistics on
WATCH_EVERY = 50  # batches between layer statistics while a viewer's lease runs (and the run did not ask)
SENDERS_LOCK = ".control.lock"  # held by a sender for its read-modify-write of control.json or watch.json
SENDERS_WAIT = 10.0  # seconds a sender waits for its turn before it goes ahead anyway (a loaded machine with
# many senders at once took over 2 s, and lost 10 of 200 requests with 2)


@contextlib.contextmanager
def _senders_turn(folder: Path):
    """One sender at a time: without it, two sends read the same counts and one request is lost."""
    path = folder / SENDERS_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children (PEP 446)
    except OSError as err:
        raise disk_error(path, err) from err
    try:
        # Held for one small write, so a turn comes within milliseconds. A sender that never lets go (stopped
        # with ^Z mid-send, or a signal handler's send interrupting this process's own) is waited for a
        # while, not forever: a request that might be lost beats a terminal that hangs.
        deadline = time.monotonic() + SENDERS_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
        yield
    finally:
        os.close(fd)  # closing lets the flock go


def send(folder: str | os.PathLike, action: str) -> None:
    """Ask the trainer of `folder` to stop (after its batch, saving), pause, resume or save now."""
    if action not in ACTIONS:
        raise ValueError(f"unknown control action {action!r}; one of {', '.join(ACTIONS)}")
    with _senders_turn(Path(folder)):
        if action == "watch-layers":
            # its own file: a viewer renews it every few seconds, and the trainer reads it apart from the
            # requests
            watch = Path(folder) / WATCH
            until = float((read_json(watch) or {}).get("layers_until", 0) or 0)
            write_json(watch, {"layers_until": max(until, time.time() + WATCH_SECONDS), "time": time.time()})
            return
        path = Path(folder) / CONTROL
        state = read_json(path) or {}
        state.setdefault("stop", False)
        state.setdefault("paused", False)
        state.setdefault("save", 0)
        if action == "stop":
            state["stop"] = True
            state["stops"] = int(state.get("stops", 0)) + 1
        elif action in ("pause", "resume"):
            state["paused"] = action == "pause"
            state["pauses"] = int(state.get("pauses", 0)) + 1
        else:
            state["save"] = int(state.get("save", 0)) + 1
        state["time"] = time.time()
        write_json(path, state)


def _counts(state: dict | None) -> tuple[int, int, int]:
    state = state or {}
    return int(state.get("stops", 0)), int(state.get("pauses", 0)), int(state.get("save", 0))


def seen_now(folder: str | os.PathLike) -> tuple[int, int, int]:
    """control.json's request counts now: what a trainer that claims the folder now should not obey."""
    return _counts(read_json(Path(folder) / CONTROL))


class FolderControl(RunControl):
    """A RunControl that also takes requests from RUN/control.json (and signals: install_signals).

    `seen`: the counts when the folder was claimed (a background trainer starts seconds later, and a stop
    sent meanwhile is for it); by default, the counts now."""

    def __init__(self, folder: str | os.PathLike, seen=None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.path = self.folder / CONTROL
        # what was asked of earlier trainers is not for this one
        self._seen = tuple(int(v) for v in seen) if seen is not None and len(seen) == 3 else seen_now(folder)
        self._next_check = time.monotonic() + CHECK_SECONDS
        self._layers_until = 0.0
        self.watch_path = self.folder / WATCH
        self._take_lease(read_json(self.watch_path))  # a lease is timed, so one taken before this trainer counts

    def _take_lease(self, state: dict | None) -> None:
        try:
            self._layers_until = float((state or {}).get("layers_until", 0) or 0)
        except (TypeError, ValueError):
            self._layers_until = 0.0

    def layer_stats_wanted(self) -> bool:
        """A viewer's lease on layer statistics runs now (the loop asks only when the run's config did not)."""
        return time.time() < self._layers_until

    def poll_now(self) -> None:
        self._next_check = 0.0
        self.poll()

    def poll(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_SECONDS
        self._take_lease(read_json(self.watch_path))
        state = read_json(self.path)  # a few small reads a second; a stat could miss a quick rewrite
        if state is None:
            return
        stops, pauses, saves = _counts(state)
        seen_stops, seen_pauses, seen_saves = self._seen
        if stops > seen_stops:
            self.request_stop()
        if pauses > seen_pauses:
            self.pause() if state.get("paused") else self.resume()
        if saves > seen_saves:
            self.request_save()
        self._seen = (stops, pauses, saves)
