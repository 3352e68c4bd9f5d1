"""The app leaves when its terminal does: the real app in tmux, then `tmux kill-server` (the pty's master
closes, as on an SSH drop or a closed window). Within 2 s every time, on the picker and on a live run; the
run it started trains on, in its own session.

A hangup brings SIGHUP and SIGCONT, and Textual's SIGCONT handler used to restart application mode on the
dead terminal: a second output thread died on EIO and the shutdown could block on its full queue for ever
(workbench.terminal.TerminalGuard). On the picker that hung about one try in three, and the others
took 1.7 s or more (the exit waited for a thread worker importing torch): twenty tries see both."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import python
from trainers.runs import lock_holder, read_status
from trainers.warm import ENV

pytestmark = [pytest.mark.slow,  # the real app in tmux, twenty-odd times
              pytest.mark.skipif(shutil.which("tmux") is None or not sys.platform.startswith("linux"),
                                 reason="needs tmux, and /proc to follow the processes")]

GONE_WITHIN = 2.0
PICKER_TRIES = 20
RUN_TRIES = 3
ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """A tmux server of this test's own (its own socket, no user configuration)."""

    def __init__(self) -> None:
        self.socket = f"wb-exit-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, timeout=15, check=check)

    def start(self, command: str) -> int:
        """Open a 120x40 session running `command`; the pane's process id."""
        self("new-session", "-d", "-x", "120", "-y", "40", command, check=True)
        return int(self("list-panes", "-F", "#{pane_pid}", check=True).stdout.split()[0])

    def screen(self) -> str:
        return self("capture-pane", "-p").stdout

    def kill_server(self) -> None:
        self("kill-server")


def app_command(*args: str, detach_session: bool = False) -> str:
    env = {"WORKBENCH_RUNS": os.environ["WORKBENCH_RUNS"], "WORKBENCH_DATA": os.environ["WORKBENCH_DATA"],
           "WORKBENCH_PIXELS": "0", "PYTHONPATH": str(ROOT)}
    # a user's app: its trainers start as fresh interpreters (their /proc environ is their own, as ours() reads
    # it), not from the test process's warm one
    words = ["env", "-u", ENV, *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "workbench.cli", *args]
    if detach_session:  # a session of its own: no SIGHUP reaches it, only a terminal that stops answering
        words = ["setsid", "-w", *words]
    return "cd " + shlex.quote(str(ROOT)) + " && exec " + shlex.join(words)


def state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie, ended), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    return state(pid) not in (None, "Z")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ours() -> list[int]:
    """Every process started for this test's runs home: apps, spare trainers, trainers."""
    mark = f"WORKBENCH_RUNS={os.environ['WORKBENCH_RUNS']}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if mark in (proc / "environ").read_bytes().split(b"\0") and int(proc.name) != os.getpid():
                found.append(int(proc.name))
        except (OSError, ValueError):
            pass
    return [p for p in found if alive(p)]


def end(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_until(condition, seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def is_app(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"python" in os.path.basename(argv[0]) and argv[1:3] == [b"-m", b"workbench.cli"]


def app_pid(pane: int) -> int:
    """The app itself: the pane's process once it has become the app (sh, env and python exec in turn), or
    under setsid -w, that one's child."""
    def find() -> int | None:
        return next((p for p in [pane, *children(pane)] if is_app(p)), None)

    assert wait_until(lambda: find() is not None, 30), "the app never started"
    return find()


def lose_terminal(tmux: Tmux, app: int) -> float | None:
    """kill-server, as an SSH drop; how long the app took to end (None: it outlived GONE_WITHIN)."""
    start = time.monotonic()
    tmux.kill_server()
    if wait_until(lambda: not alive(app), GONE_WITHIN, step=0.01):
        return time.monotonic() - start
    return None


def batches(folder: Path) -> int:
    try:
        return (folder / "events.jsonl").read_bytes().count(b'"BatchEnded"')
    except OSError:
        return 0


def new_run(home: Path, known: set) -> Path | None:
    return next(iter(set(home.glob("*")) - known), None) if home.exists() else None


def on_screen(tmux: Tmux, text: str, seconds: float = 60) -> None:
    assert wait_until(lambda: text in tmux.screen(), seconds, step=0.1), f"{text!r} never shown:\n{tmux.screen()}"


def test_the_picker_leaves_within_two_seconds_when_its_terminal_goes_every_time():
    tries = [("kill-server", False)] * PICKER_TRIES
    if shutil.which("setsid"):  # the app in a session of its own: no SIGHUP, only a terminal that is gone
        tries += [("no SIGHUP: its own session", True)] * 2
    survivors, took = [], []
    rng = random.Random(0)
    try:
        for i, (how, own_session) in enumerate(tries):
            tmux = Tmux()
            try:
                pane = tmux.start(app_command(detach_session=own_session))
                app = app_pid(pane)
                on_screen(tmux, "Quit")
                if own_session:  # these leave with a spare trainer started (importing torch, or waiting)
                    assert wait_until(lambda: any(b"--spare" in cmdline(p) for p in ours()), 30), "no spare"
                time.sleep(rng.uniform(0, 0.6))  # the hangup lands at a different moment each time
                seconds = lose_terminal(tmux, app)
                took.append(seconds)
                if seconds is None:
                    survivors.append(f"try {i + 1} ({how}): pid {app} {state(app)}")
                    end([app])
            finally:
                tmux.kill_server()
        print("seconds to leave:", ", ".join("-" if s is None else f"{s:.2f}" for s in took))
        assert not survivors, f"{len(survivors)} of {len(tries)} apps outlived their terminal: {survivors}"
        # their spare trainers (torch imported ahead of a run) read EOF and end too; nothing stays behind
        assert wait_until(lambda: not ours(), 30, step=0.2), f"left behind: {ours()}"
    finally:
        end(ours())


def test_a_run_trains_on_after_its_app_left_with_the_terminal():
    home = Path(os.environ["WORKBENCH_RUNS"])
    survivors, took = [], []
    try:
        for i in range(RUN_TRIES):
            tmux = Tmux()
            known = set(home.glob("*")) if home.exists() else set()
            folder = None
            try:
                app = app_pid(tmux.start(app_command("--model", "mlp", "--dataset", "synthetic-digits", "--start",
                                                     "--epochs", "50", "--device", "cpu")))
                assert wait_until(lambda: new_run(home, known) is not None, 60)  # noqa: B023 - called at once
                folder = new_run(home, known)
                assert wait_until(lambda: batches(folder) >= 2, 90), read_status(folder)  # noqa: B023
                on_screen(tmux, "Pause/resume")  # the run screen, following it live
                time.sleep(0.3 * i)
                trainer = lock_holder(folder)
                seconds = lose_terminal(tmux, app)
                took.append(seconds)
                if seconds is None:
                    survivors.append(f"try {i + 1}: pid {app} {state(app)}")
                    end([app])
                # the trainer is in its own session: it trains on, its folder not marked by the app's exit
                status = read_status(folder)
                assert status.live and status.state == "running", status
                assert trainer and trainer != app and alive(trainer) and lock_holder(folder) == trainer
                steps = batches(folder)
                assert wait_until(lambda: batches(folder) > steps, 30), "the trainer stopped"  # noqa: B023
            finally:
                tmux.kill_server()
                if folder is not None and lock_holder(folder) is not None:
                    python.run([python.PYTHON, "-m", "workbench.cli", "stop", str(folder)], cwd=ROOT,
                               capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
        print("seconds to leave:", ", ".join("-" if s is None else f"{s:.2f}" for s in took))
        assert not survivors, f"{len(survivors)} of {RUN_TRIES} apps outlived their terminal: {survivors}"
        assert all(read_status(f).state == "stopped" for f in home.glob("*") if f.is_dir())
    finally:
        end(ours())
