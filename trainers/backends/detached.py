"""A run that outlives the terminal: the trainer runs in its own session (setsid), with no terminal, its
output going to RUN/trainer.log. An SSH drop, a closed tmux pane or a crashed app leave it training;
`workbench attach` follows it again, `workbench stop` stops it."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import RunConfig
from ..runs.files import REQUEST, TRAINER_LOG, write_json
from ..runs.status import write_status
from .local import claim

if TYPE_CHECKING:
    from ..warm import Warm

LOCK_FD = "WORKBENCH_LOCK_FD"
CONTROL_SEEN = "_control_seen"  # in request.json: control.json's counts when the folder was claimed


def request(config: RunConfig, folder: Path) -> dict:
    """What a background trainer is asked to do: the config, and which control requests came before it."""
    from ..runs.requests import seen_now

    return {**config.to_dict(), CONTROL_SEEN: list(seen_now(folder))}


def child_env(extra: dict | None = None) -> dict:
    from ..devices import pci_order

    env = pci_order({**os.environ, **(extra or {})})  # cuda:N counts as the GPU view and auto count
    # The workbench's own modules must be importable in the child however the caller was started.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _popen(warm: "Warm | None"):
    from .. import warm as warm_

    return functools.partial(warm_.popen, warm=warm)


def start_detached(config: RunConfig, spare: "Spare | None" = None,
                   warm: "Warm | None" = None) -> tuple[Path, subprocess.Popen]:
    """Claim the folder, start the trainer in its own session, and return at once with the folder (and the
    process, for a caller that wants to reap it). The folder's lock passes to the trainer. A `spare` that
    is still waiting takes the run (no torch import to wait for); otherwise a new process starts, forked
    from `warm` where one is given (trainers.warm: a sweep's trials) or from a shared one
    (`$WORKBENCH_WARM`)."""
    config, lock = claim(config)
    folder = Path(config.out)
    try:
        write_json(folder / REQUEST, request(config, folder))
        write_status(folder, "starting")
        if spare is not None and spare.take(folder, lock):
            return folder, spare.process
        log = open(folder / TRAINER_LOG, "ab")
        try:
            child = _popen(warm)([sys.executable, "-m", "trainers.backends.worker", str(folder)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                 pass_fds=(lock.fd,), env=child_env({LOCK_FD: str(lock.fd)}), cwd=os.getcwd())
        finally:
            log.close()
    except BaseException:
        lock.release()
        raise
    lock.hand_over(child.pid)  # the child holds its own copy of the locked descriptor from here on
    return folder, child


LOCK_FDS = "WORKBENCH_LOCK_FDS"  # a group's worker: the locked descriptors of its folders, in order
GROUP_NOTE = "trained in a group: its trainer's output is in {first}/trainer.log (process {pid})\n"


def start_group_detached(configs: list[RunConfig], warm: "Warm | None" = None) -> tuple[list[Path], subprocess.Popen]:
    """Claim every trial's folder and start one trainer for the group (trainers.backends.group), in its own
    session; its output goes to the first trial's trainer.log, and the others' say where it is."""
    claimed = []
    try:
        for config in configs:
            claimed.append(claim(config))
        folders = [Path(c.out) for c, _ in claimed]
        for (config, _), folder in zip(claimed, folders):
            write_json(folder / REQUEST, request(config, folder))
            write_status(folder, "starting")
        log = open(folders[0] / TRAINER_LOG, "ab")
        fds = [lock.fd for _, lock in claimed]
        try:
            child = _popen(warm)([sys.executable, "-m", "trainers.backends.worker", "--group", *map(str, folders)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                 pass_fds=tuple(fds), env=child_env({LOCK_FDS: ",".join(map(str, fds))}),
                                 cwd=os.getcwd())
        finally:
            log.close()
    except BaseException:
        for _, lock in claimed:
            lock.release()
        raise
    for _, lock in claimed:
        lock.hand_over(child.pid)
    for folder in folders[1:]:
        with open(folder / TRAINER_LOG, "a", encoding="utf-8") as note:
            note.write(GROUP_NOTE.format(first=folders[0], pid=child.pid))
    return folders, child


class Spare:
    """A trainer process started ahead of time, torch already imported, waiting for a run folder. It runs in
    its own session like any detached trainer; if its starter goes away first, it reads EOF and ends."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "trainers.backends.worker", "--spare"],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, env=child_env(), cwd=os.getcwd())
        self.used = False

    @property
    def ready(self) -> bool:
        return not self.used and self.process.poll() is None

    def take(self, folder: Path, lock) -> bool:
        """Give the spare this claimed folder: the lock file names the spare, which takes the flock itself."""
        if not self.ready:
            return False
        lock.hand_over(self.process.pid)
        self.used = True
        try:
            self.process.stdin.write(f"{folder}\n".encode())
            self.process.stdin.close()
        except OSError:  # it died meanwhile: take the folder back for a fresh trainer
            lock.acquire()
            return False
        return True

    def close(self) -> None:
        """Not needed after all: closing its stdin ends it."""
        if not self.used and self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
