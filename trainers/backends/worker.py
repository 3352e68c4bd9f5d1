"""The detached trainer's entry point: `python -m trainers.backends.worker RUN`.

It reads RUN/request.json, holds the folder's lock it was handed, listens to RUN/control.json and to
signals (SIGTERM stops after the batch and saves, as schedulers expect; SIGHUP is ignored), and records
every event in the folder. Anything unexpected still ends as a RunFailed in the folder, never silence."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from ..config import RunConfig
    from ..events import RunFailed
    from ..runs.control import FolderControl
    from ..runs.files import FolderLock, read_json
    from ..runs.writer import RunWriter
    from .detached import LOCK_FD, REQUEST
    from .local import train_here

    folder = Path(argv[0])
    lock = FolderLock(folder)
    if os.environ.get(LOCK_FD):
        lock.fd = int(os.environ.pop(LOCK_FD))  # already ours: the launcher named this process as its owner
    else:
        lock.acquire()
    control = FolderControl(folder)
    control.install_signals()
    request = read_json(folder / REQUEST) or {}
    names = set(RunConfig.__dataclass_fields__)
    code = 0
    try:
        config = RunConfig(**{k: v for k, v in request.items() if k in names})
        for event in train_here(config, control=control, lock=lock):
            if isinstance(event, RunFailed):
                code = 1
    except BaseException as err:  # noqa: BLE001 - whatever it is, the folder says so
        writer = RunWriter(folder)
        try:
            if not writer.ended:
                writer.write(RunFailed(f"the trainer failed: {type(err).__name__}: {err}"))
        except Exception:  # noqa: BLE001 - the folder itself cannot be written; trainer.log has the traceback
            pass
        writer.close()
        raise
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
