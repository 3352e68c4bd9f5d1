"""A word when a run ends: the bell and the terminal's desktop notification (OSC 777, OSC 9), once per run
that ends while the app is open, and never for one that had ended before."""

import os
from pathlib import Path

import pytest

from trainers.runs.files import FolderLock
from trainers.runs.status import write_status

from tests.workbench.helpers import until
from workbench import notify
from workbench.app import WorkbenchApp
from workbench.screens.pick import PickScreen


def test_the_bytes_plain_in_tmux_and_without_the_bell():
    assert notify.notification("workbench", "run-1 finished: epoch 2/2, best 91.50%") == (
        "\x07\x1b]777;notify;workbench;run-1 finished: epoch 2/2, best 91.50%\x1b\\"
        "\x1b]9;run-1 finished: epoch 2/2, best 91.50%\x1b\\")
    assert notify.notification("wb", "a", tmux=True) == (
        "\x07\x1bPtmux;\x1b\x1b]777;notify;wb;a\x1b\x1b\\\x1b\\\x1bPtmux;\x1b\x1b]9;a\x1b\x1b\\\x1b\\")
    assert notify.notification("wb", "a", bell=False) == "\x1b]777;notify;wb;a\x1b\\\x1b]9;a\x1b\\"
    # an ESC, a BEL or a ';' in a run's name or reason cannot end the sequence or shift its fields
    assert notify.notification("w;b", "x\x1b]0;y\x07z", bell=False) == (
        "\x1b]777;notify;w,b;x ]0,y z\x1b\\\x1b]9;x ]0,y z\x1b\\")


def test_the_environment_conventions():
    assert notify.quiet_by_environment({"WORKBENCH_QUIET": "1"})
    assert not notify.quiet_by_environment({"WORKBENCH_QUIET": "0"}) and not notify.quiet_by_environment({})
    assert not notify.bell_wanted({"WORKBENCH_BELL": "0"}) and not notify.bell_wanted({"NO_BELL": "1"})
    assert notify.bell_wanted({}) and notify.bell_wanted({"WORKBENCH_BELL": "1"})


@pytest.fixture
def written(monkeypatch):
    monkeypatch.delenv("WORKBENCH_QUIET", raising=False)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("WORKBENCH_BELL", raising=False)
    monkeypatch.delenv("NO_BELL", raising=False)
    monkeypatch.setattr(notify, "WATCH_SECONDS", 0.1)
    monkeypatch.setattr(notify, "LIST_SECONDS", 0.2)
    out: list[str] = []
    monkeypatch.setattr(notify, "write", lambda app, data: out.append(data))
    return out


def folder(name: str) -> Path:
    path = Path(os.environ["WORKBENCH_RUNS"]) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


async def test_a_run_ending_while_the_picker_is_shown_rings_once_and_an_old_one_never(written):
    write_status(folder("old"), "finished")  # ended before the app opened
    write_status(folder("old-failed"), "failed", "diverged")
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, PickScreen)
        live = folder("live")  # started by another process once the app is open
        lock = FolderLock(live).acquire()
        write_status(live, "running")
        await until(pilot, lambda: live in app.end_watcher.live, 10)
        write_status(live, "finished")
        lock.release()
        await until(pilot, lambda: written, 10)
        for _ in range(3):  # more listings and checks say nothing more
            app.end_watcher.list()
            app.end_watcher.check()
        await pilot.pause()
        assert written == [notify.notification("workbench", "live finished: epoch 0/0")]
        assert app.end_watcher.said == ["live finished: epoch 0/0"]
        assert any("live finished" in str(n.message) for n in app._notifications)  # the toast


async def test_a_failed_run_and_one_that_began_and_ended_between_listings_ring(written, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BELL", "0")
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        write_status(folder("quick"), "failed", "the loss became nan: training diverged")
        write_status(folder("asked"), "stopped")  # a stop was asked for: no word
        await until(pilot, lambda: written, 10)
        app.end_watcher.list()
        assert written == [notify.notification(
            "workbench", "quick failed: epoch 0/0 (the loss became nan: training diverged)", bell=False)]


@pytest.mark.parametrize("how", ["flag", "environment"])
async def test_quiet_writes_nothing(written, monkeypatch, how):
    if how == "environment":
        monkeypatch.setenv("WORKBENCH_QUIET", "1")
    app = WorkbenchApp(quiet=how == "flag")
    async with app.run_test(size=(80, 24)) as pilot:
        write_status(folder("done"), "finished")
        await pilot.pause(0.5)
        assert app.end_watcher is None and written == []


def test_the_app_command_line_takes_quiet(monkeypatch):
    from workbench import cli

    seen = {}
    monkeypatch.setattr("workbench.app.run_app", lambda config, start, quiet: seen.setdefault("quiet", quiet))
    cli.main(["--quiet"])
    assert seen == {"quiet": True}


@pytest.mark.slow
async def test_a_detached_trainer_that_finishes_rings_once(written):
    from tests.conftest import tiny_config
    from trainers.backends import start_detached

    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        run, process = start_detached(tiny_config(epochs=2))
        await until(pilot, lambda: written, 120)
        process.wait(timeout=30)
        app.end_watcher.list()
        app.end_watcher.check()
        assert len(written) == 1 and written[0].startswith(f"\x07\x1b]777;notify;workbench;{run.name} finished: epoch 2/2")
