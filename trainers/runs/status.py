"""RUN/status.json: what the run is doing now, who is doing it, and why it ended.

States: starting, loading, running, paused (a trainer is at work), finished, stopped, failed. A live state
whose trainer no longer holds the folder's lock (killed, out of memory, the machine rebooted) reads as
`interrupted`, with the last line the trainer printed, when it printed one.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .files import STATUS, TRAINER_LOG, lock_holder, number, read_json, whole, write_json

LIVE = ("starting", "loading", "running", "paused")


@dataclass(frozen=True)
class Status:
    state: str  # starting, loading, running, paused, finished, stopped, failed, interrupted, or empty
    reason: str = ""  # why it failed or was interrupted, in words
    pid: int | None = None
    host: str = ""
    time: float = 0.0  # when the state was written

    @property
    def live(self) -> bool:
        """A trainer is at work on the run."""
        return self.state in LIVE


def write_status(folder: str | os.PathLike, state: str, reason: str = "") -> None:
    write_json(Path(folder) / STATUS, {"state": state, "reason": reason, "pid": os.getpid(),
                                       "host": socket.gethostname(), "time": time.time()})


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
                  time=number(data.get("time"), 0.0))
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
