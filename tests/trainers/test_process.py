"""Training in a child process: the same run as in-process, steered by the same controls, and a child that
dies is reported instead of hanging the caller."""

import os
import signal

from trainers import run
from trainers.events import BatchEnded, Paused, RunFailed, RunFinished, RunStarted
from trainers.process import process_control, run_in_process
from tests.conftest import tiny_config


def test_a_child_process_run_is_the_same_run(tmp_path):
    config = tiny_config(seed=5, out=str(tmp_path / "p"))
    here = [e.loss for e in run(tiny_config(seed=5)) if isinstance(e, BatchEnded)]
    events = list(run_in_process(config))
    assert [e.loss for e in events if isinstance(e, BatchEnded)] == here
    assert isinstance(events[-1], RunFinished)
    assert (tmp_path / "p" / "trainer.log").exists()  # the child's stray output goes here, not to the screen


def test_pause_and_stop_reach_the_child():
    control = process_control()
    seen = []
    for event in run_in_process(tiny_config(limit_batches=None, epochs=3), control):
        seen.append(event)
        if isinstance(event, BatchEnded) and event.batch == 1:
            control.pause()
        if isinstance(event, Paused) and event.paused:
            control.request_stop()  # also wakes the paused loop
    assert any(isinstance(e, Paused) and e.paused for e in seen)
    assert isinstance(seen[-1], RunFinished) and seen[-1].stopped


def test_a_child_that_dies_is_reported():
    stream = run_in_process(tiny_config(limit_batches=None, epochs=50), poll_seconds=0.2)
    first = next(stream)
    assert isinstance(first, RunStarted)
    import multiprocessing

    child = next(p for p in multiprocessing.active_children() if p.name == "workbench-trainer")
    os.kill(child.pid, signal.SIGKILL)
    rest = list(stream)
    assert isinstance(rest[-1], RunFailed) and "ended unexpectedly" in rest[-1].reason


def test_user_errors_arrive_as_events_from_the_child():
    events = list(run_in_process(tiny_config(model="no-such-model")))
    assert len(events) == 1 and isinstance(events[0], RunFailed) and "unknown model" in events[0].reason


def test_loading_is_reported_and_closing_during_loading_ends_the_child_at_once(tmp_path):
    import time

    from PIL import Image

    from trainers.events import Loading

    for cls in ("cat", "dog"):
        for i in range(4):
            Image.new("L", (28, 28), 40 if cls == "cat" else 220).save(tmp_path / f"{cls}.{i}.png")
    slow = tmp_path / "slow.py"
    slow.write_text("import time, torch\n"
                    "def make():\n    time.sleep(60)\n    return torch.nn.Linear(784, 2)\n")
    stream = run_in_process(tiny_config(model=f"{slow}:make", dataset="image-folder", data_dir=str(tmp_path)))
    first = next(stream)
    assert isinstance(first, Loading) and first.total == 6  # decoding the training images (20 % held out)
    start = time.monotonic()
    stream.close()  # the child is still building the model: nothing to save, so no waiting for it
    assert time.monotonic() - start < 5
