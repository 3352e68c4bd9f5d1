"""The run folder as the hub: what a trainer writes, what any reader gets back, control through the folder,
the lock, and the record staying exactly-once across stops and resumes."""

import json
import os
import threading

import numpy as np
import pytest
import torch

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.backends import claim, resume_config
from trainers.errors import WorkbenchError
from trainers.runs import (FolderControl, LogRestarted, RunReader, RunWriter, TrainerGone, find_run, list_runs, lock_holder,
                           read_status, send)
from trainers.runs.files import FolderLock, RunFolderError, write_json
from trainers.runs.log import END, EventLog, LogError, encode, read_events


def kinds(events):
    return [type(e).__name__ for e in events]


def test_a_recorded_run_leaves_a_folder_every_viewer_can_read(tmp_path):
    folder, events = recorded(tiny_config(epochs=2, out=str(tmp_path / "run")))
    names = set(os.listdir(folder))
    assert {"events.jsonl", "config.json", "metrics.jsonl", "status.json", "result.json", "checkpoint.pt",
            "checkpoint.json", "arrays"} <= names
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"] == "mlp" and config["optimizer"] == "adam" and config["run"]["batches_per_epoch"] == 3
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(0 <= r["test_accuracy"] <= 1 for r in rows)
    assert read_status(folder).state == "finished"
    payload = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] == 2 and payload["optimizer_state"]["state"]
    # The log replays what the trainer yielded: same kinds, same numbers, same pictures.
    replay = list(RunReader(folder).events())
    assert kinds(replay) == kinds(events)
    assert [e.loss for e in replay if isinstance(e, ev.BatchEnded)] == [e.loss for e in events
                                                                        if isinstance(e, ev.BatchEnded)]
    shown, kept = (next(e for e in x if isinstance(e, ev.Predictions)) for x in (replay, events))
    assert np.array_equal(shown.images, kept.images) and np.array_equal(shown.probabilities, kept.probabilities)
    snap = next(e for e in replay if isinstance(e, ev.ParametersSnapshot))
    assert isinstance(snap.parameters[0], ev.ParamInfo) and snap.parameters[0].name == "fc1.weight"
    summary = RunReader(folder).summary()
    assert (summary.model, summary.epochs_done, summary.epochs, summary.state) == ("mlp", 2, 2, "finished")


def test_a_torn_last_line_and_a_damaged_line_are_skipped_not_fatal(tmp_path):
    folder, events = recorded(tiny_config(out=str(tmp_path / "run")))
    log = tmp_path / "run" / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines.insert(3, b'{"type": "BatchEnded", "data": {"epo\n')  # garbage in the middle
    log.write_bytes(b"".join(lines) + b'{"type": "BatchEnded", "t": 1, "data": {"epoch": 9')  # torn at the end
    replay = list(read_events(folder))
    assert kinds(replay) == kinds(events)


def test_a_log_from_a_newer_workbench_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"format": "workbench-events", "version": 99}\n')
    with pytest.raises(LogError, match="newer workbench"):
        list(read_events(tmp_path))


def test_events_survive_the_round_trip_with_arrays_at_any_depth(tmp_path):
    log = EventLog(tmp_path)
    rec = ev.Reconstructions(3, np.arange(8, dtype=np.uint8).reshape(2, 1, 2, 2), np.zeros((2, 1, 2, 2), np.uint8))
    log.open(fresh=True)
    log.append(rec)
    log.close()
    data, arrays = encode(rec)
    assert set(arrays) == {"originals", "outputs"} and data["originals"] == {"$array": "originals"}
    back = next(read_events(tmp_path))
    assert back.epoch == 3 and np.array_equal(back.originals, rec.originals)


def test_a_follower_sees_every_event_while_it_is_written_and_stops_at_the_end(tmp_path):
    folder, events = recorded(tiny_config(epochs=2, out=str(tmp_path / "source")))
    live = tmp_path / "live"
    lock = FolderLock(live.parent / "live")
    live.mkdir()
    lock.acquire()
    writer = RunWriter(live)
    writer.starting()
    got = []

    def read():
        got.extend(RunReader(live).events(follow=True, poll=0.02))

    reader = threading.Thread(target=read)
    reader.start()
    for event in events:
        writer.write(event)
    writer.close()
    lock.release()
    reader.join(timeout=20)
    assert not reader.is_alive()
    assert kinds(e for e in got if not type(e).__name__ == "CaughtUp") == kinds(events)


def test_a_trainer_that_dies_without_a_word_reads_as_interrupted(tmp_path):
    write_json(tmp_path / "status.json", {"state": "running", "pid": 999999, "host": ""})
    (tmp_path / "events.jsonl").write_text('{"format": "workbench-events", "version": 1}\n')
    (tmp_path / "trainer.log").write_text("Traceback...\nMemoryError: out of memory\n")
    status = read_status(tmp_path)
    assert status.state == "interrupted" and "ended without saying how" in status.reason
    got = list(RunReader(tmp_path).events(follow=True, poll=0.01))
    assert isinstance(got[-1], TrainerGone)


def test_control_through_the_folder_stops_pauses_and_saves(tmp_path):
    control = FolderControl(tmp_path)
    send(tmp_path, "save")
    send(tmp_path, "save")
    control._next_check = 0
    control.poll()
    assert control.take_save_request() and not control.take_save_request()  # two asks, one pending request
    send(tmp_path, "pause")
    control._next_check = 0
    control.poll()
    assert control.paused
    send(tmp_path, "resume")
    control._next_check = 0
    control.poll()
    assert not control.paused
    send(tmp_path, "stop")
    control._next_check = 0
    control.poll()
    assert control.stop.is_set()
    # a later trainer on the same folder does not obey requests made to the one before
    assert not FolderControl(tmp_path).stop.is_set()


def test_a_second_trainer_on_a_busy_folder_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    config, lock = claim(tiny_config(out=str(tmp_path / "run")))
    with pytest.raises(RunFolderError, match=f"being written by process {os.getpid()}"):
        claim(tiny_config(out=str(tmp_path / "run")))
    lock.release()  # as the OS does when a trainer is killed
    again, lock2 = claim(tiny_config(out=str(tmp_path / "run")))
    assert again.out == str(tmp_path / "run")
    lock2.release()


def test_runs_never_overwrite_runs_and_a_resume_continues_the_record_in_place(tmp_path):
    out = tmp_path / "run"
    recorded(tiny_config(epochs=2, out=str(out)))
    second, _ = recorded(tiny_config(epochs=1, out=str(out)))
    assert second == str(out) + "-2"
    folder, events = recorded(resume_config(str(out), epochs=4))
    assert folder == str(out) and events[0].start_epoch == 2 and events[0].epochs == 4
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [e.epoch for e in read_events(out) if isinstance(e, ev.EpochEnded)] == [1, 2, 3, 4]


def test_an_existing_file_as_out_is_one_sentence(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkbenchError, match="is a file"):
        claim(tiny_config(out=str(tmp_path / "f")))


def test_runs_are_listed_newest_first_and_found_by_name_prefix_or_path(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    a, _ = recorded(tiny_config(out=str(tmp_path / "alpha-1")))
    b, _ = recorded(tiny_config(model="mlp-wide", out=str(tmp_path / "beta-1")))
    names = [s.name for s in list_runs()]
    assert names == ["beta-1", "alpha-1"]
    assert find_run("alpha") == tmp_path / "alpha-1" and find_run(b) == tmp_path / "beta-1"
    with pytest.raises(WorkbenchError, match="no run named"):
        find_run("gamma")


# ----------------------------------------------------------------------------------- exact resume


def _weights(folder):
    return torch.load(os.path.join(folder, "checkpoint.pt"), weights_only=True)["model_state"]


def _record(folder):
    """What a person reads of a run: every epoch's numbers and every logged batch, in order."""
    events = list(read_events(folder))
    epochs = [(e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy) for e in events
              if isinstance(e, ev.EpochEnded)]
    batches = [(e.epoch, e.batch, e.step, e.loss, e.accuracy) for e in events if isinstance(e, ev.BatchEnded)]
    return epochs, batches


EXACT = dict(epochs=3, limit_batches=None, log_every=3, extra={"train_size": 320, "test_size": 64},
             optimizer="sgd", momentum=0.9, lr=0.05, seed=3)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder, _ = recorded(tiny_config(**EXACT, out=str(tmp_path_factory.mktemp("whole") / "run")))
    return _weights(folder), _record(folder)


@pytest.mark.parametrize("stops", [[(1, 3)], [(2, 9)], [(2, 3), (2, 6)], [(1, 10), (3, 3)]])
def test_a_run_stopped_anywhere_and_resumed_is_the_run_never_stopped(tmp_path, uninterrupted, stops):
    folder, events = recorded(tiny_config(**EXACT, out=str(tmp_path / "run")), stop_at=stops[0])
    assert events[-1].stopped
    for stop in stops[1:] + [None]:
        folder, events = recorded(resume_config(folder), stop_at=stop)
    assert not events[-1].stopped and events[-1].epochs_completed == 3
    weights, record = uninterrupted
    mine = _weights(folder)
    assert all(torch.equal(mine[k], weights[k]) for k in weights)  # bit for bit
    assert _record(folder) == record  # every epoch and batch once, with the same numbers
    resumed = [e for e in read_events(folder) if isinstance(e, ev.EpochEnded) and e.resumed]
    assert [e.epoch for e in resumed] == sorted({e for e, _ in stops})


class _OnPoll(FolderControl):
    """Asks for something (stop, save) at the trainer's `at`-th look between batches."""

    def __init__(self, folder, at, ask="request_stop"):
        super().__init__(folder)
        self.polls, self.at, self.ask = 0, at, ask

    def poll(self):
        self.polls += 1
        if self.polls == self.at:
            getattr(self, self.ask)()


def test_a_stop_during_evaluation_keeps_the_epochs_training(tmp_path, uninterrupted):
    config = tiny_config(**EXACT, test_batch_size=16, limit_test_batches=None,
                         out=str(tmp_path / "run"))
    config, lock = claim(config)
    from trainers.backends import train_here

    control = _OnPoll(config.out, at=10 + 2)  # 10 training batches, then the second test batch
    events = list(train_here(config, control=control, lock=lock))
    saved = [e for e in events if isinstance(e, ev.CheckpointSaved)]
    assert saved[-1].label == "epoch 1, batch 10/10" and not any(isinstance(e, ev.EpochEnded) for e in events)
    folder, events = recorded(resume_config(config.out, test_batch_size=1000))
    weights, record = uninterrupted
    assert all(torch.equal(_weights(folder)[k], weights[k]) for k in weights)
    assert _record(folder) == record


def test_the_dataloader_path_resumes_exactly_too(tmp_path, monkeypatch):
    import functools

    from PIL import Image

    import trainers.train.prepare
    from trainers.data.registry import load

    monkeypatch.setattr(trainers.train.prepare, "load", functools.partial(load, memory_budget=0))  # decode lazily
    images = tmp_path / "images"
    images.mkdir()
    for cls in ("cat", "dog"):
        for i in range(10):
            Image.new("L", (28, 28), 30 + 9 * i if cls == "cat" else 250 - 9 * i).save(images / f"{cls}.{i}.png")
    common = dict(dataset="image-folder", data_dir=str(images), batch_size=4, epochs=2, limit_batches=None,
                  log_every=1, optimizer="sgd", lr=0.1)
    whole, _ = recorded(tiny_config(**common, out=str(tmp_path / "whole")))
    cut, events = recorded(tiny_config(**common, out=str(tmp_path / "cut")), stop_at=(1, 2))
    assert "decoded on the fly" in events[0].data_source
    cut, _ = recorded(resume_config(cut))
    assert all(torch.equal(_weights(cut)[k], _weights(whole)[k]) for k in _weights(whole))
    assert _record(cut) == _record(whole)


def test_resume_truncates_what_an_interrupted_pass_logged(tmp_path):
    """A log holding batches past the checkpoint (a kill after them) keeps them only once."""
    folder, _ = recorded(tiny_config(**EXACT, out=str(tmp_path / "run")), stop_at=(2, 3))
    log = tmp_path / "run" / "events.jsonl"
    extra = json.dumps({"type": "BatchEnded", "t": 0, "data": {**ev_batch(2, 6)}})
    with open(log, "a") as f:
        f.write(extra + "\n")  # as if the trainer had logged batch 6 and been killed before saving
    folder, _ = recorded(resume_config(folder))
    batches = [(e.epoch, e.batch) for e in read_events(folder) if isinstance(e, ev.BatchEnded)]
    assert len(batches) == len(set(batches)) == 12


def ev_batch(epoch, batch):
    return dict(epoch=epoch, batch=batch, batches=10, seen=batch * 32, total=320, loss=9.0, accuracy=0.0,
                samples_per_sec=1.0, elapsed=1.0, step=10 + batch)


def test_truncation_keeps_what_came_before_the_checkpoint_and_cuts_the_rest(tmp_path):
    log = EventLog(tmp_path)
    log.open(fresh=True)
    for b in (3, 6, 9, 10):
        log.append(ev.BatchEnded(**ev_batch(1, b)))
    log.append(ev.EpochEnded(1, 3, 1.0, 0.5, 1.0, 0.5, 1.0))
    log.append(ev.CheckpointSaved("x", 1))
    log.append(ev.BatchEnded(**ev_batch(2, 3)))
    log.append(ev.Paused(True))
    log.close()
    log.truncate_to((2, 3))
    assert kinds(read_events(tmp_path))[-1] == "BatchEnded"  # the pause after the last kept batch is gone
    log.truncate_to((1, END))
    assert kinds(read_events(tmp_path))[-1] == "EpochEnded"  # the save after it is unplaced: it goes too
    log.close()


def test_a_follower_starts_over_when_a_resume_rewrites_the_log(tmp_path):
    folder, _ = recorded(tiny_config(**EXACT, out=str(tmp_path / "run")), stop_at=(2, 3))
    lock = FolderLock(folder).acquire()  # a trainer "at work", so the follower keeps following
    write_json(os.path.join(folder, "status.json"), {"state": "running", "pid": os.getpid(), "host": ""})
    stop = threading.Event()
    got = []
    reader = threading.Thread(target=lambda: got.extend(RunReader(folder).events(follow=True, stop=stop, poll=0.02)))
    reader.start()
    log = EventLog(folder)
    log.truncate_to((1, END))
    log.close()
    import time

    deadline = time.monotonic() + 10
    while not any(isinstance(e, LogRestarted) for e in got) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(timeout=10)
    lock.release()
    assert any(isinstance(e, LogRestarted) for e in got)


def test_a_save_asked_for_mid_epoch_is_saved_there(tmp_path):
    config, lock = claim(tiny_config(**EXACT, out=str(tmp_path / "run")))
    from trainers.backends import train_here

    events = list(train_here(config, control=_OnPoll(config.out, at=4, ask="request_save"), lock=lock))
    saves = [e for e in events if isinstance(e, ev.CheckpointSaved)]
    assert saves[0].label == "epoch 1, batch 4/10" and not saves[0].complete  # then every epoch's own save


def test_a_killed_holders_pid_in_a_free_lock_is_not_taken_for_a_live_trainer(tmp_path):
    # SIGKILL leaves the lock file naming the dead trainer; after a reboot that pid may be anyone's.
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a live stranger
    try:
        (tmp_path / ".lock").write_text(f"{other.pid}\n")  # alive, but it holds no lock here
        assert lock_holder(tmp_path) is None
        write_json(tmp_path / "status.json", {"state": "running", "pid": other.pid, "host": ""})
        assert read_status(tmp_path).state == "interrupted"
        (tmp_path / ".lock").write_text(f"{other.pid} handed\n")  # passed to a spare about to take it
        assert lock_holder(tmp_path) == other.pid
        with pytest.raises(RunFolderError, match="a trainer is starting there"):
            FolderLock(tmp_path).acquire()
    finally:
        (tmp_path / ".lock").unlink()
        other.kill()
        other.wait()


def test_a_torn_array_file_costs_its_pictures_not_the_run(tmp_path):
    folder, events = recorded(tiny_config(out=str(tmp_path / "run")))
    for npz in (tmp_path / "run" / "arrays").iterdir():
        npz.write_bytes(npz.read_bytes()[:100])
    replay = list(read_events(folder))
    assert kinds(replay) == kinds(events)
    assert next(e for e in replay if isinstance(e, ev.Predictions)).images is None
