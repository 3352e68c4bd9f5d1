"""A hung trainer (SIGSTOP here; a stuck network file system acts the same) still holds its run, so it is
not 'interrupted' — but it is not running either. Its status's heartbeat ages, and `workbench runs`, the
Runs screen and the run screen say how long it has said nothing."""

import os
import signal
import time

import pytest

from tests.conftest import tiny_config
from trainers.runs import read_status, status
from workbench.cli import main

pytestmark = pytest.mark.slow  # a detached trainer, stopped until it goes quiet


def wait_for(condition, seconds=90.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def stopped_trainer(monkeypatch):
    """A detached trainer that beats every 0.2 s, then stopped with SIGSTOP; a quiet run after 2 s here."""
    from trainers.backends import start_detached

    monkeypatch.setenv("WORKBENCH_BEAT_SECONDS", "0.2")
    monkeypatch.setattr(status, "QUIET_SECONDS", 2.0)
    folder, process = start_detached(tiny_config(epochs=500, limit_batches=None))
    try:
        wait_for(lambda: read_status(folder).state == "running")
        first = read_status(folder).beat
        wait_for(lambda: read_status(folder).beat > first + 0.3)  # it beats while it trains
        assert read_status(folder).quiet() == 0
        os.kill(process.pid, signal.SIGSTOP)
        wait_for(lambda: read_status(folder).quiet() > 0, seconds=20)
        yield folder, process
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait(30)


def test_a_stopped_trainer_is_quiet_not_interrupted_and_runs_says_so(stopped_trainer, capsys):
    folder, process = stopped_trainer
    state = read_status(folder)
    assert state.state == "running" and state.quiet_words().startswith("no word for")
    assert main(["runs"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if folder.name in line)
    assert "running (no word for" in line
    os.kill(process.pid, signal.SIGCONT)  # back: the next beat ends the quiet
    wait_for(lambda: read_status(folder).quiet() == 0, seconds=20)
    assert main(["runs"]) == 0
    assert "no word" not in capsys.readouterr().out


async def test_the_runs_screen_and_the_run_screen_say_a_trainer_is_quiet(stopped_trainer, monkeypatch):
    from tests.workbench.helpers import shown
    from workbench.app import WorkbenchApp
    from workbench.screens.run import RunScreen
    from workbench.screens.run_list import RunListScreen

    folder, _ = stopped_trainer
    monkeypatch.setattr(RunScreen, "QUIET_CHECK_SECONDS", 0.3)
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(RunListScreen())
        await shown(pilot, app, "no word ")  # the status column
        await shown(pilot, app, f"{folder.name}: no word for")  # the message line says what it may mean
    app = WorkbenchApp(attach=str(folder))
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot, app, "No word for 0 min from process")
