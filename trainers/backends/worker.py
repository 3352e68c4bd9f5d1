"""The detached trainer's entry point: `python -m trainers.backends.worker RUN`, `--spare`, or `--group RUN RUN ...`.

It reads RUN/request.json, holds the folder's lock it was handed, listens to RUN/control.json and to
signals (SIGTERM stops after the batch and saves, as schedulers expect; SIGHUP is ignored), and records
every event in the folder. Anything unexpected still ends as a RunFailed in the folder, never silence.

`--spare`: start now, import torch and the loop, then wait for a run folder's path on stdin — the app
keeps one ready while the user is still choosing, so pressing start skips the two seconds torch takes to
import. Stdin closing without a path (the app went away) ends it.

`--group RUN RUN ...`: a sweep's trials trained together as one stacked model (trainers.backends.group), each
folder's lock handed over, each trial's control its own; SIGTERM stops them all after the batch.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _warm_up() -> None:
    import torch  # the point: pay for the imports before anyone waits for them

    from ..train import loop, prepare  # noqa: F401

    # An optimizer's first construction imports torch._dynamo (about 2 s on two cores): pay that now too,
    # with a step, so the first batches of the real run find everything loaded.
    weight = torch.zeros(2, 2, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1)
    (weight.sum() * 2).backward()
    optimizer.step()


def _adopt_output(folder: Path) -> None:
    """A spare started with nowhere to write: from now on its output goes to the run's trainer.log."""
    from ..runs.files import TRAINER_LOG

    fd = os.open(folder / TRAINER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--spare"]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _warm_up()
        line = sys.stdin.readline().strip()
        if not line:
            return 0
        argv = [line]
        _adopt_output(Path(line))
    if argv[:1] == ["--group"]:
        return group_main([Path(a) for a in argv[1:]])
    from ..config import RunConfig
    from ..events import RunFailed
    from ..runs.files import REQUEST, FolderLock, read_json
    from ..runs.requests import FolderControl
    from .detached import CONTROL_SEEN, LOCK_FD
    from .local import train_here

    folder = Path(argv[0])
    lock = FolderLock(folder)
    if os.environ.get(LOCK_FD):
        lock.adopt(int(os.environ.pop(LOCK_FD)))  # already ours: inherited from the process that claimed it
    else:
        lock.acquire()
    request = read_json(folder / REQUEST) or {}
    # Requests sent after the folder was claimed (a quick `workbench stop`) are for this trainer.
    control = FolderControl(folder, seen=request.get(CONTROL_SEEN))
    control.install_signals()
    code = 0
    try:
        config = RunConfig.from_dict(request)
        # The lock is this process's until its last word is in the folder, so no viewer reads the gap.
        for event in train_here(config, control=control):
            if isinstance(event, RunFailed):
                code = 1
    except KeyboardInterrupt:  # a second stop signal: end now, the last checkpoint stays
        record_failure(folder, "stopped at once by a second stop signal; the last checkpoint is kept")
        return 130
    except BaseException as err:  # noqa: BLE001 - whatever it is, the folder says so
        record_failure(folder, f"the trainer failed: {type(err).__name__}: {err}")
        raise
    finally:
        lock.release()
    return code


def group_main(folders: list[Path]) -> int:
    """A group of trials in this process, each folder's lock handed over by the process that claimed them."""
    from ..config import RunConfig
    from ..events import RunFailed
    from ..runs.files import REQUEST, FolderLock, read_json
    from ..runs.requests import FolderControl
    from .detached import CONTROL_SEEN, LOCK_FDS
    from .group import train_group_here

    fds = [int(fd) for fd in os.environ.pop(LOCK_FDS, "").split(",") if fd]
    locks = []
    for i, folder in enumerate(folders):
        lock = FolderLock(folder)
        lock.adopt(fds[i]) if i < len(fds) else lock.acquire()
        locks.append(lock)
    requests = [read_json(folder / REQUEST) or {} for folder in folders]
    controls = [FolderControl(folder, seen=r.get(CONTROL_SEEN)) for folder, r in zip(folders, requests)]
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def stop_all(signum, _frame):  # SIGTERM/SIGINT: every trial stops after the batch and saves; twice: at once
        if all(c.stop.is_set() for c in controls):
            raise KeyboardInterrupt
        for c in controls:
            c.request_stop()

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGUSR1, lambda *_: [c.request_save() for c in controls])
    code, ended = 0, set()
    try:
        configs = [RunConfig.from_dict(r) for r in requests]
        for i, event in train_group_here(configs, controls, locks):
            if isinstance(event, RunFailed):
                code = 1
            ended.add(i)
    except KeyboardInterrupt:
        for folder, lock in zip(folders, locks):
            if lock.held:
                record_failure(folder, "stopped at once by a second stop signal; the last checkpoint is kept")
        return 130
    except BaseException as err:  # noqa: BLE001 - whatever it is, each trial's folder says so
        for folder, lock in zip(folders, locks):
            if lock.held:
                record_failure(folder, f"the trainer failed: {type(err).__name__}: {err}")
        raise
    finally:
        for lock in locks:
            lock.release()
    return code


def record_failure(folder: Path, reason: str) -> None:
    from ..events import RunFailed
    from ..runs.writer import RunWriter

    writer = RunWriter(folder)
    try:
        writer.write(RunFailed(reason))
    except Exception:  # noqa: BLE001 - the folder itself cannot be written; trainer.log has the traceback
        pass
    writer.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
