"""`workbench wait RUN [RUN ...]`: blocks until each run or sweep has ended; its exit status says how."""

import fcntl
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests import python
from trainers.runs.files import FolderLock, write_json
from trainers.runs.status import write_status
from trainers.sweeps.study import SWEEPER, SWEEPER_LOCK, SweepSpec

from workbench.cli import main


def run_folder(name: str, state: str, reason: str = "") -> Path:
    folder = Path(os.environ["WORKBENCH_RUNS"]) / name
    folder.mkdir(parents=True, exist_ok=True)
    write_status(folder, state, reason)
    return folder


def sweep_folder(name: str, state: str | None) -> Path:
    folder = Path(os.environ["WORKBENCH_RUNS"]) / name
    folder.mkdir(parents=True, exist_ok=True)
    SweepSpec(name=name, base={"model": "mlp", "dataset": "synthetic-digits"}, space={"lr": "1e-3..1e-1:log"},
              trials=2).save(folder)
    if state:
        write_json(folder / SWEEPER, {"state": state, "pid": os.getpid()})
    return folder


@pytest.mark.parametrize("states, code", [
    (["finished"], 0),
    (["finished", "finished"], 0),
    (["failed"], 1),
    (["stopped"], 3),
    (["interrupted"], 3),
    (["stopped", "failed", "finished"], 1),  # something went wrong outranks something was stopped
    (["finished", "stopped"], 3),
])
def test_exit_status_says_how_the_runs_ended(states, code, capsys):
    names = []
    for i, state in enumerate(states):
        # interrupted: a live state whose trainer holds no lock any more
        run_folder(f"run-{i}", "running" if state == "interrupted" else state,
                   "the loss became nan: training diverged" if state == "failed" else "")
        names.append(f"run-{i}")
    assert main(["wait", *names]) == code
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == names
    assert all(f"{name} {state}," in line for name, state, line in zip(names, states, lines))
    if "failed" in states:
        assert "diverged" in next(line for line in lines if " failed," in line)


def test_an_unknown_run_is_one_sentence_and_status_2(capsys):
    run_folder("there", "finished")
    assert main(["wait", "there", "nowhere"]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # nothing waited for: the names are checked first
    assert out.err.count("\n") == 1 and "nowhere" in out.err


def test_it_waits_for_a_live_run_and_prints_its_line_as_it_ends(capsys):
    folder = run_folder("live", "starting")
    lock = FolderLock(folder).acquire()
    write_status(folder, "running")
    run_folder("done", "finished")

    def end() -> None:
        write_status(folder, "finished")
        lock.release()

    timer = threading.Timer(1.2, end)
    timer.start()
    try:
        assert main(["wait", "live", "done"]) == 0
    finally:
        timer.cancel()
        lock.release()
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["done", "live"]


@pytest.mark.slow
def test_a_detached_trainer_waited_for_to_its_end():
    from tests.conftest import tiny_config
    from trainers.backends import start_detached

    folder, process = start_detached(tiny_config(epochs=2))
    out = python.run([python.PYTHON, "-m", "workbench", "wait", folder.name], capture_output=True, text=True,
                     timeout=120)
    process.wait(timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{folder.name} finished, epoch 2/2, best ")


@pytest.mark.parametrize("state, code", [("finished", 0), ("stopped", 3), ("interrupted", 3)])
def test_a_sweep_ended_says_how_its_process_ended(state, code, capsys):
    sweep = sweep_folder("sweep-a", "running" if state == "interrupted" else state)
    assert main(["wait", str(sweep)]) == code
    assert capsys.readouterr().out.startswith(f"sweep sweep-a {state}")


def test_it_waits_for_a_running_sweep_process(capsys):
    sweep = sweep_folder("sweep-b", "running")
    fd = os.open(sweep / SWEEPER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the sweep process at work

    def end() -> None:
        write_json(sweep / SWEEPER, {"state": "finished"})
        os.close(fd)

    timer = threading.Timer(1.2, end)
    timer.start()
    assert main(["wait", "sweep-b"]) == 0
    timer.join()
    assert capsys.readouterr().out.startswith("sweep sweep-b finished")


@pytest.mark.slow
def test_ctrl_c_leaves_quietly_with_130():
    sweep = sweep_folder("sweep-c", "running")
    fd = os.open(sweep / SWEEPER_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        proc = python.popen([python.PYTHON, "-m", "workbench", "wait", "sweep-c"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)  # still waiting: the sweep's process is at work
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        os.close(fd)
    assert proc.returncode == 130
    assert out == "" and err == ""
