"""The run folder's small files: their names, atomic JSON writes, and the lock its one trainer holds.

Every small file (status, result, config, control, the checkpoint's record) is written the way Lightning
writes checkpoints and SQLite promises: a temporary file in the same folder, fsync, rename. A crash, a kill
or a full disk leaves the old file whole or the new one whole, never half of either.

The lock is `RUN/.lock`, taken with flock(2): the kernel drops it when its holder dies however it dies, so
a dead trainer's lock is never stale. The file also names the holder's pid, for messages and for a lock
being handed to a process that is about to take it.

An flock belongs to the open file, not the process, so every copy of its descriptor holds it. Only the
holder has one: a forked child (a DataLoader worker, torch's compile workers) closes its copy at once
(os.register_at_fork), so a killed trainer's lingering workers never keep its folder looking busy; an
exec'd child gets none (close-on-exec) unless it is handed the lock on purpose (subprocess pass_fds, which
runs no fork handlers: trainers.backends.detached, distributed).
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import time
from pathlib import Path

from ..errors import WorkbenchError

EVENTS = "events.jsonl"
ARRAYS = "arrays"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATUS = "status.json"
RESULT = "result.json"
CONTROL = "control.json"
REQUEST = "request.json"
TRAINER_LOG = "trainer.log"
LOCK = ".lock"


class RunFolderError(WorkbenchError):
    """A run folder that cannot be written, or that another trainer is writing."""


def disk_error(path: str | os.PathLike, err: OSError) -> RunFolderError:
    """One sentence for a write that failed: which file, which folder, and why in words."""
    path = Path(path)
    code = getattr(err, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        why = ("the disk is full; free some space, then `workbench train --resume` continues from the last "
               "checkpoint")
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    elif code == errno.EROFS:
        why = "the file system is read-only"
    else:
        why = (getattr(err, "strerror", None) or str(err) or type(err).__name__).rstrip(".")
    return RunFolderError(f"could not write {path.name} in {path.parent}: {why}.")


def _tmp_name(path: Path) -> Path:
    # Unique per writer (two terminals may send control requests at once); `.NAME.*.tmp` is what a claim
    # sweeps away after a kill.
    return path.with_name(f".{path.name}.{os.getpid()}-{time.monotonic_ns() % 1_000_000_007}.tmp")


def write_json(path: str | os.PathLike, value) -> None:
    """Write `value` as JSON atomically; a failure raises RunFolderError and leaves the old file whole."""
    path = Path(path)
    text = json.dumps(value, indent=2, default=json_default) + "\n"
    tmp = _tmp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise disk_error(path, err) from err
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in `path`, or None when it is missing, unreadable or not an object."""
    try:
        return load_json(path)
    except Damaged:
        return None


class Damaged(ValueError):
    """A run file that is there but holds no readable JSON object."""


def load_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in `path`; None when there is no such file; Damaged when there is one that cannot be
    read, or holds something else than a JSON object (a listing says so, where read_json only falls back)."""
    try:
        with open(path, encoding="utf-8") as f:
            value = loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise Damaged(f"{Path(path).name}: {err}") from None
    if not isinstance(value, dict):
        raise Damaged(f"{Path(path).name} holds a JSON {type(value).__name__}, not an object")
    return value


# ------------------------------------------------------------------------------- reading damaged files

MAX_DEPTH = 64  # what the workbench writes nests 6 deep at most
INT_LIMIT = 1 << 63


def loads(text: str | bytes):
    """json.loads for files anyone may have damaged: ValueError for what is not JSON (bytes that are not
    UTF-8 included) and for values nested deeper than MAX_DEPTH. json itself raises RecursionError on
    nesting about 1000 deep, and anything that walks a value nested a little less deep (repr, json.dumps,
    a reader's own recursion) would raise it later, far from the file."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deep") from None
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} deep")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def whole(value, default=None):
    """`value` when it is a JSON integer that fits in 64 bits (not a bool, a float, a string or 10**400),
    else `default`."""
    if isinstance(value, int) and not isinstance(value, bool) and -INT_LIMIT < value < INT_LIMIT:
        return value
    return default


def number(value, default=None):
    """`value` as a float when it is a finite JSON number (not a bool, a string, NaN, 1e400 or 10**400), else
    `default`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        value = float(value)
    except OverflowError:
        return default
    return value if math.isfinite(value) else default


def json_default(value):
    """JSON for numpy scalars and paths, which events and configs may carry."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# ------------------------------------------------------------------------------------------------ lock


def alive(pid: int) -> bool:
    """A process with this pid exists and is not a zombie (a killed child nobody has reaped yet)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


HANDED = "handed"  # the lock file's mark for a lock passed to a process that has not taken it yet


def _named(fd: int) -> tuple[int | None, bool]:
    """(pid, handed over) as the lock file names them."""
    try:
        words = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        return (int(words[0]) if words else None), HANDED in words[1:]
    except (OSError, ValueError):
        return None, False


def _named_pid(fd: int) -> int | None:
    return _named(fd)[0]


_HELD: dict[int, "FolderLock"] = {}  # this process's held locks, by descriptor


def _drop_inherited_locks() -> None:
    """In a forked child: close the descriptors of the parent's held locks. Closing a copy leaves the parent's
    flock alone (flock(LOCK_UN) would release it for the parent too)."""
    for fd, lock in list(_HELD.items()):
        lock.fd = None  # so nothing in the child releases, names or closes a descriptor number reused later
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


class FolderLock:
    """The one-writer lock of a run folder. `acquire()` refuses, in one sentence, a folder whose lock a
    live process holds; `hand_over(pid)` passes it to a child that holds the same open descriptor (a
    detached trainer) or that will take it itself (a spare); `release()` lets it go."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        if self.fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise disk_error(self.path, err) from err
        for attempt in range(25):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # lock_holder() probes by taking the lock for a moment: wait that moment out
                if attempt == 24:
                    pid = _named_pid(fd)
                    os.close(fd)
                    who = f"process {pid}" if pid else "another process"
                    raise RunFolderError(f"{self.folder} is being written by {who} (a trainer is at work there); "
                                         f"choose another --out, or stop that run first (workbench stop "
                                         f"{self.folder.name}).") from None
                time.sleep(0.02)
        pid, handed = _named(fd)
        if handed and pid and pid != os.getpid() and alive(pid):  # passed to a trainer about to take it
            os.close(fd)
            raise RunFolderError(f"{self.folder} is being written by process {pid} (a trainer is starting there); "
                                 f"choose another --out, or stop that run first (workbench stop "
                                 f"{self.folder.name}).")
        self._name(fd, os.getpid())
        self._hold(fd)
        return self

    def _hold(self, fd: int) -> None:
        self.fd = fd
        _HELD[fd] = self

    def _let_go(self) -> int | None:
        fd, self.fd = self.fd, None
        _HELD.pop(fd, None)
        return fd

    @staticmethod
    def _name(fd: int, pid: int | None, handed: bool = False) -> None:
        try:
            os.ftruncate(fd, 0)
            if pid:
                os.pwrite(fd, f"{pid}{' ' + HANDED if handed else ''}\n".encode(), 0)
        except OSError:
            pass  # the name is for messages; the flock is what counts

    def adopt(self, fd: int) -> "FolderLock":
        """Take over a locked descriptor inherited from the process that claimed the folder."""
        try:
            os.set_inheritable(fd, False)  # handed to this process alone: its exec'd children get no copy
        except OSError:
            pass
        self._hold(fd)
        self._name(fd, os.getpid())  # held by this process now, not handed over any more
        return self

    def hand_over(self, pid: int) -> None:
        """Name `pid` as the holder and close this process's descriptor: a child that inherited it keeps the
        flock; a process that was told to take it finds it free and named for it."""
        if self.fd is None:
            return
        self._name(self.fd, pid, handed=True)
        os.close(self._let_go())

    def release(self) -> None:
        if self.fd is None:
            return
        self._name(self.fd, None)
        try:
            os.close(self._let_go())
        except OSError:
            pass

    @property
    def held(self) -> bool:
        return self.fd is not None


def lock_holder(folder: str | os.PathLike) -> int | None:
    """The pid of the process writing this run folder, or None when none is. 0 means a holder whose pid
    the lock file does not name (yet)."""
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _named_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        # Free, but handed to a process that has not taken it yet (a spare): it counts while that one lives.
        # A plain name in a free lock is a killed holder's, and its pid may belong to another process by now.
        pid, handed = _named(fd)
        return pid if pid and handed and alive(pid) else None
    finally:
        os.close(fd)
