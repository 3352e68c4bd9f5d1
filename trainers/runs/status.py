"""RUN/status.json: what the run is doing now, who is doing it, and why it ended.

States: starting, loading, running, paused (a trainer is at work), finished, stopped, failed. A live state
whose trainer no longer holds the folder's lock (killed, out of memory, the machine rebooted) reads as
`interrupted`, with the last line the trainer printed, when it printed one.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .files import STATUS, TRAINER_LOG, RunFolderError, lock_holder, number, read_json, whole, write_json

LIVE = ("starting", "loading", "running", "paused")
BEAT_SECONDS = 10.0  # a live trainer renews status.json's "beat" this often, whatever its batches take
QUIET_SECONDS = 120.0  # a live run whose trainer has said nothing for this long is called quiet: stopped
# (SIGSTOP, ^Z), stuck on a network file system, or hung; its lock is still held, so it is not interrupted

_LOCK = threading.Lock()  # this process's status writes and heartbeats, one at a time
_LAST: dict[Path, dict] = {}  # the live status this process last wrote per folder: what a beat renews


@dataclass(frozen=True)
class Status:
    state: str  # starting, loading, running, paused, finished, stopped, failed, interrupted, or empty
    reason: str = ""  # why it failed or was interrupted, in words
    pid: int | None = None
    host: str = ""
    time: float = 0.0  # when the state was written
    beat: float = 0.0  # the trainer's last sign of life (0: a status from before heartbeats)

    @property
    def live(self) -> bool:
        """A trainer is at work on the run."""
        return self.state in LIVE

    def quiet(self, now: float | None = None) -> float:
        """Seconds a live run's trainer has said nothing, once that is QUIET_SECONDS or more; else 0."""
        if not self.live or not self.beat:
            return 0.0
        silent = (time.time() if now is None else now) - self.beat
        return silent if silent >= QUIET_SECONDS else 0.0

    def quiet_words(self) -> str:
        return quiet_words(self.quiet())


def quiet_words(silent: float) -> str:
    """"no word for 3 min" for a run whose trainer has been quiet that long (Status.quiet), else ""."""
    if not silent:
        return ""
    return f"no word for {silent / 60:.0f} min" if silent < 5400 else f"no word for {silent / 3600:.0f} h"


def write_status(folder: str | os.PathLike, state: str, reason: str = "") -> None:
    now = time.time()
    write_record(folder, {"state": state, "reason": reason, "pid": os.getpid(), "host": socket.gethostname(),
                          "time": now, "beat": now})


def write_record(folder: str | os.PathLike, data: dict) -> None:
    """status.json as `data`; a live one is what this process's heartbeat renews from now on."""
    key = Path(folder).resolve()
    with _LOCK:
        write_json(Path(folder) / STATUS, data)
        if data.get("state") in LIVE:
            _LAST[key] = data
        else:
            _LAST.pop(key, None)


def beat(folder: str | os.PathLike) -> None:
    """Renew the beat of the live status this process last wrote to `folder` (nothing once it ended)."""
    key = Path(folder).resolve()
    with _LOCK:
        data = _LAST.get(key)
        if data is None:
            return
        data = {**data, "beat": time.time()}
        write_json(Path(folder) / STATUS, data)
        _LAST[key] = data


class Heartbeat:
    """A daemon thread that beats for `folder` every BEAT_SECONDS until stopped. It stops with the process
    too, so a stopped (SIGSTOP) or vanished trainer's beat ages, and a viewer says so."""

    def __init__(self, folder: str | os.PathLike, every: float | None = None) -> None:
        self.folder = Path(folder)
        # WORKBENCH_BEAT_SECONDS: a shorter beat, for tests that stop a trainer and wait for a viewer to notice
        self.every = every or float(os.environ.get("WORKBENCH_BEAT_SECONDS") or BEAT_SECONDS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workbench-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                beat(self.folder)
            except (OSError, RunFolderError):  # a full disk, a gone folder: the run says so; the beat tries again
                pass

    def stop(self) -> None:
        self._stop.set()
        with _LOCK:
            _LAST.pop(self.folder.resolve(), None)


def last_words(folder: str | os.PathLike, limit: int = 200) -> str:
    """The last non-empty line of RUN/trainer.log (often the error that ended a trainer)."""
    try:
        with open(Path(folder) / TRAINER_LOG, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def read_status(folder: str | os.PathLike) -> Status:
    folder = Path(folder)
    data = read_json(folder / STATUS) or {}
    holder = lock_holder(folder)
    state = str(data.get("state") or "")
    # a damaged file may hold "x", 1e400 or 10**400 in any of these
    common = dict(pid=whole(data.get("pid")), host=str(data.get("host") or ""),
                  time=number(data.get("time"), 0.0), beat=number(data.get("beat"), 0.0))
    if not state:
        return Status("starting" if holder is not None else "empty", pid=holder or None)
    if state in LIVE and holder is None:
        if common["host"] and common["host"] != socket.gethostname():
            return Status(state, str(data.get("reason") or ""), **common)  # another machine's: cannot tell
        who = f"the trainer (process {common['pid']})" if common["pid"] else "the trainer"
        reason = f"{who} ended without saying how"
        words = last_words(folder)
        if words:
            reason += f"; the last line of {TRAINER_LOG}: {words}"
        return Status("interrupted", reason, **common)
    return Status(state, str(data.get("reason") or ""), **common)
