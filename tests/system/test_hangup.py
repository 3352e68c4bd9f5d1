"""A foreground `workbench train` whose terminal goes away (an SSH drop without tmux: the kernel hangs up
the terminal's session) stops after its batch and saves, every time, as Ctrl-C and SIGTERM do."""

import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests import python
from trainers.runs import read_status

pytestmark = pytest.mark.slow  # twenty trainers in terminals of their own

TRIES = 20
AT_ONCE = 4


def _read_all(fd: int) -> None:
    """Drain what the child wrote to its terminal, so it never blocks on a full pty buffer."""
    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _train_in_a_terminal(folder: Path) -> tuple[subprocess.Popen, int]:
    master, slave = os.openpty()
    # terminal=True: the child leads a session whose controlling terminal is the pty, as a login shell's job
    child = python.popen(
        [python.PYTHON, "-m", "workbench.cli", "train", "--model", "mlp", "--dataset", "synthetic-digits",
         "--device", "cpu", "--epochs", "50", "--out", str(folder)],
        stdin=slave, stdout=slave, stderr=slave, start_new_session=True, terminal=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"})
    os.close(slave)
    return child, master


def _batches(folder: Path) -> int:
    try:
        return (folder / "events.jsonl").read_text().count('"BatchEnded"')
    except OSError:
        return 0


def test_a_hangup_saves_the_run_mid_epoch_every_time(tmp_path):
    """TRIES terminals, a few at a time (their trainers mostly wait on torch's import), each hung up at a
    different batch."""
    waiting = list(range(TRIES))
    live: dict[int, tuple] = {}
    outcomes = {}
    deadline = time.monotonic() + 600
    try:
        _run(tmp_path, waiting, live, outcomes, deadline)
    finally:
        for _folder, child, master in live.values():  # a failed try leaves no trainer behind
            child.kill()
            child.wait()
            if master is not None:
                os.close(master)
    assert len(outcomes) == TRIES


def _run(tmp_path, waiting, live, outcomes, deadline) -> None:
    while waiting or live:
        assert time.monotonic() < deadline, f"still waiting on tries {sorted(live)}"
        while waiting and len(live) < AT_ONCE:
            i = waiting.pop(0)
            live[i] = (tmp_path / f"run-{i}", *_train_in_a_terminal(tmp_path / f"run-{i}"))
        for i, (folder, child, master) in list(live.items()):
            if master is not None:
                _read_all(master)
                assert child.poll() is None, f"try {i}: the trainer ended before the hangup"
                if _batches(folder) >= 2 + i % 3:  # hang up at a few different batches
                    os.close(master)  # the terminal goes away: SIGHUP to its session's foreground processes
                    live[i] = (folder, child, None)
            elif child.poll() is not None:
                info = folder / "checkpoint.json"
                saved_mid_epoch = info.exists() and json.loads(info.read_text())["position"] is not None
                said = (folder / "trainer.log").exists() and "hung up" in (folder / "trainer.log").read_text()
                outcomes[i] = (child.returncode, read_status(folder).state, saved_mid_epoch, said)
                assert outcomes[i] == (130, "stopped", True, True), f"try {i}: {outcomes[i]}"
                del live[i]
        time.sleep(0.02)
