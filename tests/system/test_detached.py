"""Runs that outlive the terminal, with real processes: detached trainers, control from another process,
SIGKILL and resume, and an SSH drop (SIGHUP) of the interactive app. Every process a test starts is ended
by the conftest fixture, even when the test fails."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests import python
from trainers import events as ev
from trainers.runs import RunReader, find_run, list_runs, lock_holder, read_events, read_status
from trainers.warm import ENV

pytestmark = pytest.mark.slow  # real trainer processes

LONG = ["--model", "mlp", "--dataset", "synthetic-digits", "--device", "cpu", "--batch-size", "32"]


wb = python.workbench


def wait_for(condition, seconds=90.0, step=0.1):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def batches_logged(folder) -> list:
    return [e for e in read_events(folder) if isinstance(e, ev.BatchEnded)] if (Path(folder) / "events.jsonl").exists() else []


def batch_lines(folder) -> int:
    """How many batch records the log holds now (a cheap look, for waiting on a running trainer)."""
    try:
        return (Path(folder) / "events.jsonl").read_bytes().count(b'"type": "BatchEnded"')
    except OSError:
        return 0


SLOW = """import time, torch
class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        time.sleep(0.003)  # about a second an epoch: slow enough to be killed mid-epoch, on purpose
        return self.fc(x.flatten(1))
"""


def test_detach_returns_at_once_and_a_reader_follows_the_run_to_its_end(monkeypatch):
    monkeypatch.delenv(ENV)  # a trainer born as a user's is, a fresh interpreter (not from the tests' warm one)
    start = time.monotonic()
    out = wb("train", *LONG, "--epochs", "2", "--limit-batches", "20", "--detach")
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - start < 10  # no waiting for torch or the data: the trainer does that
    name = out.stdout.split(": ", 1)[1].splitlines()[0]
    assert f"workbench attach {name}" in out.stdout
    folder = find_run(name)
    assert folder.parent == Path(os.environ["WORKBENCH_RUNS"])
    followed = list(RunReader(folder).events(follow=True, poll=0.05))
    kinds = [type(e).__name__ for e in followed]
    assert kinds.count("EpochEnded") == 2 and kinds[-1] == "RunFinished"
    wait_for(lambda: lock_holder(folder) is None)
    assert read_status(folder).state == "finished"


def test_stop_from_another_terminal_saves_and_ends_the_trainer():
    out = wb("train", *LONG, "--epochs", "500", "--detach")
    folder = find_run(out.stdout.split(": ", 1)[1].splitlines()[0])
    wait_for(lambda: len(batches_logged(folder)) >= 3)
    pid = lock_holder(folder)
    listing = wb("runs")
    assert folder.name in listing.stdout and "running" in listing.stdout
    stopped = wb("stop", folder.name)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert lock_holder(folder) is None and read_status(folder).state == "stopped"
    wait_for(lambda: not _alive(pid))
    result = json.loads((folder / "result.json").read_text())
    assert result["stopped"] is True
    info = json.loads((folder / "checkpoint.json").read_text())
    assert info["position"] is not None  # saved mid-epoch, where it stopped


def _alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"


def test_sigkill_mid_epoch_then_resume_records_every_epoch_and_batch_once(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW)
    out = wb("train", *LONG, "--model", f"{tmp_path}/slow.py:Slow", "--epochs", "4", "--detach", "--seed", "4")
    folder = find_run(out.stdout.split(": ", 1)[1].splitlines()[0])
    for _ in range(2):  # killed twice, at different places
        wait_for(lambda: lock_holder(folder) is not None and batch_lines(folder) >= 5, step=0.05)
        seen = batch_lines(folder)
        wait_for(lambda seen=seen: batch_lines(folder) > seen + 7, step=0.02)
        os.kill(lock_holder(folder), signal.SIGKILL)
        wait_for(lambda: lock_holder(folder) is None)
        assert read_status(folder).state == "interrupted"
        assert [s.state for s in list_runs() if s.name == folder.name] == ["interrupted"]
        again = wb("train", "--resume", folder.name, "--model", f"{tmp_path}/slow.py:Slow", "--detach")
        assert again.returncode == 0, again.stderr
    done = list(RunReader(folder).events(follow=True, poll=0.05))
    assert isinstance(done[-1], ev.RunFinished) and not done[-1].stopped
    epochs = [e.epoch for e in read_events(folder) if isinstance(e, ev.EpochEnded)]
    assert epochs == [1, 2, 3, 4]
    places = [(e.epoch, e.batch) for e in batches_logged(folder)]
    assert len(places) == len(set(places)) == 4 * 32  # 10,000 samples / 32 = 313 batches, logged every 10
    rows = [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]
    import torch

    assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == 4


def test_resume_of_a_finished_run_asks_for_more_epochs_in_one_sentence():
    out = wb("train", *LONG, "--epochs", "1", "--limit-batches", "2", "--out", os.environ["WORKBENCH_RUNS"] + "/done")
    assert out.returncode == 0, out.stderr
    again = wb("train", "--resume", "done")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "finished all 1 epoch(s)" in again.stderr and "--epochs" in again.stderr
    more = wb("train", "--resume", "done", "--epochs", "2")
    assert more.returncode == 0, more.stderr
    assert "resumed after epoch 1" in more.stdout
    assert [e.epoch for e in read_events(find_run("done")) if isinstance(e, ev.EpochEnded)] == [1, 2]


def test_runs_lists_newest_first_and_plain_when_piped():
    for epochs in ("1", "2"):
        assert wb("train", *LONG, "--epochs", epochs, "--limit-batches", "2").returncode == 0
        time.sleep(1.1)  # folder names carry the second they started
    out = wb("runs")
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "model", "dataset", "epochs", "best", "status", "started"]
    assert "2/2" in lines[1] and "1/1" in lines[2] and "finished" in lines[1]
    assert "\x1b[" not in out.stdout  # no colour codes in a pipe


def test_sighup_to_the_app_leaves_the_trainer_training_and_attach_shows_it():
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the app on a pseudo-terminal, starting a long run
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "workbench.cli", *LONG, "--epochs", "500", "--start"])
    try:
        home = Path(os.environ["WORKBENCH_RUNS"])
        output = bytearray()

        def read_some():
            import select

            while select.select([fd], [], [], 0)[0]:
                try:
                    output.extend(os.read(fd, 65536))
                except OSError:
                    break
            return output

        def training():
            read_some()
            folders = [p for p in home.glob("*") if p.is_dir()] if home.exists() else []
            return any(len(batches_logged(f)) >= 2 for f in folders)

        wait_for(training)
        folder = next(p for p in home.glob("*") if p.is_dir())
        trainer = lock_holder(folder)
        assert trainer and trainer != pid
        os.kill(pid, signal.SIGHUP)  # the SSH connection drops
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            read_some()
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the app did not end on SIGHUP")
        assert b"Traceback" not in output and b"leaked" not in output
        assert output.rstrip().endswith(b"\x1b[?1049l") or b"\x1b[?1049l" in output[-400:]  # screen restored
        seen = len(batches_logged(folder))
        wait_for(lambda: len(batches_logged(folder)) > seen)  # still training, nobody watching
        assert lock_holder(folder) == trainer and read_status(folder).state == "running"
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            pass
        os.close(fd)
    # attach shows it live
    import asyncio

    from workbench.app import WorkbenchApp
    from workbench.screens.run import RunScreen

    async def attach():
        app = WorkbenchApp(attach=str(folder))
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + 30
            while not (isinstance(app.screen, RunScreen) and app.screen.started is not None):
                assert time.monotonic() < deadline
                await pilot.pause()
            assert app.screen.live and app.screen.query_one("#progress").state == "running"
            await pilot.press("x")  # and it can be stopped from here
            while not app.screen.ended:
                assert time.monotonic() < deadline + 60
                await pilot.pause()
            assert app.screen.query_one("#progress").state == "stopped"

    asyncio.run(attach())
    wait_for(lambda: lock_holder(folder) is None)


def test_a_spare_trainer_takes_the_next_run_and_an_unused_one_goes_away():
    from tests.conftest import tiny_config
    from trainers.backends import Spare, start_detached

    spare = Spare()
    folder, process = start_detached(tiny_config(epochs=1), spare=spare)
    assert process is spare.process and not spare.ready
    followed = list(RunReader(folder).events(follow=True, poll=0.05))
    assert isinstance(followed[-1], ev.RunFinished)
    assert process.wait(30) == 0 and read_status(folder).state == "finished"
    assert (folder / "trainer.log").exists()  # its output went to the run's log from then on
    unused = Spare()
    unused.close()  # the app went away before starting another run
    assert unused.process.wait(60) == 0


def test_stopped_by_sigterm_and_by_workbench_stop_the_resumed_run_is_the_run_never_stopped(tmp_path):
    import torch

    from tests.conftest import recorded, tiny_config

    (tmp_path / "slow.py").write_text(SLOW)
    model = f"{tmp_path}/slow.py:Slow"
    common = ["--model", model, "--dataset", "synthetic-digits", "--device", "cpu", "--batch-size", "32",
              "--epochs", "2", "--seed", "9", "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"]
    whole, _ = recorded(tiny_config(model=model, epochs=2, seed=9, optimizer="sgd", lr=0.05, momentum=0.9,
                                    batch_size=32, limit_batches=None, limit_test_batches=None, log_every=10,
                                    extra={}, out=str(tmp_path / "whole")))
    out = wb("train", *common, "--detach")
    folder = find_run(out.stdout.split(": ", 1)[1].splitlines()[0])
    wait_for(lambda: batch_lines(folder) >= 12, step=0.02)
    os.kill(lock_holder(folder), signal.SIGTERM)  # what a scheduler sends before it kills
    wait_for(lambda: lock_holder(folder) is None)
    assert read_status(folder).state == "stopped"
    first_stop = json.loads((folder / "checkpoint.json").read_text())["position"]
    assert first_stop is not None and first_stop[0] == 1
    assert wb("train", "--resume", folder.name, "--model", model, "--detach").returncode == 0
    wait_for(lambda: lock_holder(folder) is not None and batch_lines(folder) >= 40, step=0.02)
    assert wb("stop", folder.name).returncode == 0
    assert wb("train", "--resume", folder.name, "--model", model).returncode == 0
    mine = torch.load(folder / "checkpoint.pt", weights_only=True)["model_state"]
    theirs = torch.load(Path(whole) / "checkpoint.pt", weights_only=True)["model_state"]
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    record = [(e.epoch, e.train_loss, e.test_loss) for e in read_events(folder) if isinstance(e, ev.EpochEnded)]
    expected = [(e.epoch, e.train_loss, e.test_loss) for e in read_events(whole) if isinstance(e, ev.EpochEnded)]
    assert record == expected


def test_a_stop_sent_while_a_background_trainer_is_still_starting_is_obeyed():
    from tests.conftest import tiny_config
    from trainers.backends import start_detached
    from trainers.runs import send

    folder, process = start_detached(tiny_config(epochs=500, limit_batches=None))
    send(folder, "stop")  # before the trainer has even imported torch
    assert process.wait(120) == 0
    assert read_status(folder).state == "stopped"
