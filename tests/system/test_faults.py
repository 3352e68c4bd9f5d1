"""Faults and bad input: nothing lost, nothing trusted, no traceback. Each case writes its own files."""

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import python
import torch

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.backends import resume_config
from trainers.runs import find_run, lock_holder, read_events, read_status, send

LONG = ["--model", "mlp", "--dataset", "synthetic-digits", "--device", "cpu"]


wb = python.workbench


def wait_for(condition, seconds=90.0, step=0.05):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.slow
def test_a_checkpoint_with_one_byte_flipped_is_refused_naming_the_file(tmp_path):
    folder, _ = recorded(tiny_config(epochs=1, out=str(tmp_path / "run")))
    path = Path(folder) / "checkpoint.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    _, events = recorded(resume_config(folder, epochs=2))
    assert isinstance(events[-1], ev.RunFailed)
    assert str(path) in events[-1].reason and "SHA-256" in events[-1].reason and "not loaded" in events[-1].reason
    out = wb("train", "--resume", folder, "--epochs", "2")  # refused before the folder is touched
    assert out.returncode == 2 and "SHA-256" in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_pickle_checkpoint_is_not_loaded_and_says_why_in_our_words(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "workbench-checkpoint", "thing": Path("/etc/passwd")}, evil)  # a Python object inside
    out = wb("train", *LONG, "--resume", str(evil), "--limit-batches", "1", "--out", str(tmp_path / "r"))
    assert out.returncode == 1
    line = out.stderr.strip().splitlines()[-1]
    assert "not a plain weights checkpoint and was not loaded" in line and "could run code" in line
    assert "weights_only argument" not in out.stderr  # torch's own text, cut mid-word, is not shown


@pytest.mark.slow
def test_two_trainers_on_one_out_the_second_is_refused(tmp_path):
    out = tmp_path / "same"
    first = python.popen([python.PYTHON, "-m", "workbench.cli", "train", *LONG, "--epochs", "500", "--out",
                          str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lock_holder(out) is not None and read_status(out).state == "running")
        second = wb("train", *LONG, "--epochs", "3", "--out", str(out))
        assert second.returncode == 2
        assert f"being written by process {first.pid}" in one_line(second.stderr)
    finally:
        send(out, "stop")
        first.wait(60)
    epochs = [e.epoch for e in read_events(out) if isinstance(e, ev.EpochEnded)]
    assert epochs == sorted(set(epochs))  # one writer, one record


def test_a_full_disk_at_a_save_is_one_sentence_and_the_last_good_checkpoint_stays(tmp_path, monkeypatch):
    import trainers.checkpoint as ckpt

    real_save = torch.save
    calls = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second epoch's save: half the bytes, then the disk is full
            f.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", save)
    folder, events = recorded(tiny_config(epochs=3, out=str(tmp_path / "run")))
    failed = events[-1]
    assert isinstance(failed, ev.RunFailed) and failed.epochs_completed == 2  # trained, recorded, not saved
    assert "could not write checkpoint.pt in" in failed.reason and "the disk is full" in failed.reason
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert torch.load(Path(folder) / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert ckpt.load(folder)["epoch"] == 1  # and its SHA-256 still matches
    result = json.loads((Path(folder) / "result.json").read_text())
    assert result["status"] == "RunFailed" and read_status(folder).state == "failed"


def test_a_small_file_that_cannot_be_written_is_never_left_empty(tmp_path, monkeypatch):
    from trainers.runs import files

    folder, _ = recorded(tiny_config(epochs=1, out=str(tmp_path / "run")))
    before = (Path(folder) / "result.json").read_text()
    real_fdopen = os.fdopen

    def full(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)

        class Full:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

        return Full()

    monkeypatch.setattr(files.os, "fdopen", full)
    with pytest.raises(files.RunFolderError, match="the disk is full"):
        files.write_json(Path(folder) / "result.json", {"status": "x"})
    monkeypatch.undo()
    assert (Path(folder) / "result.json").read_text() == before  # the old one, whole
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]


@pytest.mark.slow
def test_a_really_full_disk_ends_the_run_in_one_sentence(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = wb("train", *LONG, "--epochs", "3", "--limit-batches", "5", "--out", str(mount / "run"))
        assert out.returncode != 0
        line = one_line(out.stderr)
        assert "the disk is full" in line and str(mount / "run") in line
        left = os.listdir(mount / "run")
        assert not [p for p in left if p.endswith(".tmp")]
        for name in ("result.json", "status.json", "config.json", "checkpoint.json"):
            if name in left:
                json.loads((mount / "run" / name).read_text())  # whole, or not there at all
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_huge_learning_rate_is_divergence_with_advice_and_the_last_good_checkpoint(tmp_path):
    _, events = recorded(tiny_config(epochs=2, lr=1e9, optimizer="sgd", limit_batches=None, log_every=1,
                                     out=str(tmp_path / "run")))
    failed = events[-1]
    assert isinstance(failed, ev.RunFailed)
    assert "diverged" in failed.reason and "lower learning rate than 1e+09" in failed.reason
    out = wb("train", *LONG, "--lr", "1e9", "--optimizer", "sgd", "--epochs", "1", "--out", str(tmp_path / "cli"))
    assert out.returncode == 1 and "diverged" in out.stderr and "Traceback" not in out.stderr


SLOW_SAVE = """
import os, sys, time, pathlib
import trainers.checkpoint as ckpt
marker = pathlib.Path(sys.argv[1])
real, saves = os.replace, []
def replace(src, dst, *a, **k):
    if str(dst).endswith("checkpoint.pt"):
        saves.append(1)
        if len(saves) == 2:  # the second epoch's checkpoint: written, recorded, not yet in place
            marker.write_text("saving")
            time.sleep(120)
    return real(src, dst, *a, **k)
ckpt.os.replace = replace
from workbench.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_save_then_resume_loses_nothing(tmp_path):
    script = tmp_path / "slow_save.py"
    script.write_text(SLOW_SAVE)
    marker = tmp_path / "saving"
    run = tmp_path / "run"
    proc = python.popen([python.PYTHON, str(script), str(marker), "train", *LONG, "--epochs", "4", "--out",
                         str(run), "--limit-batches", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(marker.exists)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert read_status(run).state == "interrupted"
    assert [p for p in os.listdir(run) if p.endswith(".tmp")]  # the half-done save is there...
    out = wb("train", "--resume", str(run))
    assert out.returncode == 0, out.stderr
    assert "resumed after epoch 1" in out.stdout  # ...and was not taken for a checkpoint
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]
    assert [e.epoch for e in read_events(run) if isinstance(e, ev.EpochEnded)] == [1, 2, 3, 4]
    places = [(e.epoch, e.batch) for e in read_events(run) if isinstance(e, ev.BatchEnded)]
    assert len(places) == len(set(places)) == 4 * 3  # 30 batches a epoch, logged at 10, 20 and 30
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 4
    rows = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]
    assert find_run(str(run)) == run


@pytest.mark.slow
def test_a_runs_home_that_cannot_be_made_is_one_sentence(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    env = dict(os.environ, WORKBENCH_RUNS=str(tmp_path / "file" / "runs"))
    out = python.run([python.PYTHON, "-m", "workbench.cli", "train", *LONG, "--epochs", "1", "--limit-batches", "1"],
                     capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2 and "cannot make the run folder" in one_line(out.stderr)


def test_a_damaged_config_json_is_resumed_from_the_checkpoints_settings(tmp_path):
    folder, _ = recorded(tiny_config(epochs=1, out=str(tmp_path / "run")))
    (Path(folder) / "config.json").write_text('{"mod')  # torn by a crash, or edited by hand
    _, events = recorded(resume_config(folder, epochs=2))
    assert isinstance(events[-1], ev.RunFinished) and events[-1].epochs_completed == 2
    assert json.loads((Path(folder) / "config.json").read_text())["model"] == "mlp"  # written whole again


def test_resuming_a_run_that_is_training_names_its_trainer(tmp_path):
    from trainers.runs.files import FolderLock

    folder, _ = recorded(tiny_config(epochs=1, out=str(tmp_path / "run")))
    lock = FolderLock(folder).acquire()  # a trainer at work on it
    try:
        with pytest.raises(Exception, match=f"being written by process {os.getpid()}"):
            resume_config(folder, epochs=2)
    finally:
        lock.release()


def test_a_seed_out_of_range_is_one_sentence_before_anything_starts(capsys):
    from workbench.cli import main

    for seed in ("100000000000000000000000", "-1"):
        assert main(["train", *LONG, "--seed", seed]) == 2
        line = one_line(capsys.readouterr().err)
        assert "seed must be a whole number from 0 to 4294967295" in line, line
    runs = Path(os.environ["WORKBENCH_RUNS"])
    assert not runs.exists() or not any(runs.iterdir())  # refused before a run folder was made


EXITS = """
import sys
from torch import nn

class Quits(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        if self.training:
            sys.exit(4)
        return self.fc(x.flatten(1))
"""


def test_sys_exit_in_a_models_forward_fails_the_run_in_words(tmp_path, capsys):
    from workbench.cli import main

    (tmp_path / "quits.py").write_text(EXITS)
    folder = tmp_path / "quits"
    assert main(["train", *LONG, "--model", f"{tmp_path}/quits.py:Quits", "--out", str(folder), "--epochs", "1"]) == 1
    status = read_status(folder)
    assert status.state == "failed"
    assert "the model's forward called sys.exit(4) (at quits.py:12)" in status.reason
    assert "the model's forward called sys.exit(4)" in capsys.readouterr().err


def test_resuming_an_adam_run_as_sgd_is_refused_before_anything_changes_and_the_way_it_names_works(tmp_path, capsys):
    from workbench.cli import main

    folder, _ = recorded(tiny_config(optimizer="adam", out=str(tmp_path / "adam")))
    before = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
    assert main(["train", "--resume", folder, "--optimizer", "sgd", "--epochs", "2"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "trained with adam, whose state cannot go on as sgd; a new run from its weights can" in line
    assert {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()} == before
    way = line.split("can: ", 1)[1].split()
    assert way[:2] == ["workbench", "train"]
    extra = ["--device", "cpu", "--limit-batches", "2", "--out", str(tmp_path / "sgd")]
    assert main(way[1:] + ["--epochs", "2"] + extra) == 0  # the command it names trains
    assert json.loads((tmp_path / "sgd" / "config.json").read_text())["optimizer"] == "sgd"
