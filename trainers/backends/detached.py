"""A run that outlives the terminal: the trainer runs in its own session (setsid), with no terminal, its
output going to RUN/trainer.log. An SSH drop, a closed tmux pane or a crashed app leave it training;
`workbench attach` follows it again, `workbench stop` stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..config import RunConfig
from ..runs.files import TRAINER_LOG, write_json
from ..runs.status import write_status
from .local import claim

REQUEST = "request.json"
LOCK_FD = "WORKBENCH_LOCK_FD"


def start_detached(config: RunConfig) -> tuple[Path, subprocess.Popen]:
    """Claim the folder, start the trainer in its own session, and return at once with the folder (and the
    process, for a caller that wants to reap it). The folder's lock passes to the trainer."""
    config, lock = claim(config)
    folder = Path(config.out)
    try:
        write_json(folder / REQUEST, config.to_dict())
        write_status(folder, "starting")
        log = open(folder / TRAINER_LOG, "ab")
        env = {**os.environ, LOCK_FD: str(lock.fd)}
        # The app's own modules must be importable in the child however the app was started.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
        try:
            child = subprocess.Popen([sys.executable, "-m", "trainers.backends.worker", str(folder)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                     pass_fds=(lock.fd,), env=env, cwd=os.getcwd())
        finally:
            log.close()
    except BaseException:
        lock.release()
        raise
    lock.hand_over(child.pid)  # the child holds its own copy of the locked descriptor from here on
    return folder, child
