"""Data-parallel training through torchrun on the CPU (gloo): what only a correct implementation gives."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests import python
import torch

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.backends import resume_config
from trainers.backends.distributed import check_setup, start_distributed
from trainers.errors import ConfigError
from trainers.runs import RunReader, lock_holder, read_events, read_status

DDP = dict(epochs=1, limit_batches=None, batch_size=64, log_every=5, extra={"train_size": 640, "test_size": 128},
           optimizer="sgd", lr=0.1, momentum=0.9, seed=7, limit_test_batches=None, test_batch_size=64)


def follow_to_end(folder):
    return list(RunReader(folder).events(follow=True, poll=0.05))


def weights(folder):
    return torch.load(Path(folder) / "checkpoint.pt", weights_only=True)["model_state"]


@pytest.mark.slow
def test_two_processes_train_the_same_weights_as_one_and_rank_0_alone_writes(tmp_path):
    single, _ = recorded(tiny_config(**DDP, out=str(tmp_path / "single")))
    folder, launcher = start_distributed(tiny_config(**DDP, nproc_per_node=2, out=str(tmp_path / "ddp")))
    events = follow_to_end(folder)
    assert launcher.wait(120) == 0
    assert isinstance(events[-1], ev.RunFinished) and not events[-1].stopped, events[-1]
    kinds = [type(e).__name__ for e in read_events(folder)]
    assert kinds.count("RunStarted") == 1 and kinds.count("EpochEnded") == 1  # one writer
    confusion = next(e for e in read_events(folder) if isinstance(e, ev.Confusion))
    assert confusion.matrix.sum() == 128  # summed over both processes' halves of the test set
    batches = [(e.epoch, e.batch) for e in read_events(folder) if isinstance(e, ev.BatchEnded)]
    assert batches == [(1, b) for b in (5, 10)]  # 640 samples, global batch 64: 10 batches
    mine, theirs = weights(folder), weights(single)
    assert set(mine) == set(theirs)  # plain names: no DDP "module." prefix
    for name in theirs:
        assert torch.allclose(mine[name], theirs[name], atol=1e-6, rtol=1e-5), name
    ddp_epoch = next(e for e in read_events(folder) if isinstance(e, ev.EpochEnded))
    one_epoch = next(e for e in read_events(single) if isinstance(e, ev.EpochEnded))
    assert ddp_epoch.test_accuracy == one_epoch.test_accuracy  # metrics summed over both ranks' halves
    assert abs(ddp_epoch.train_loss - one_epoch.train_loss) < 1e-5
    # the checkpoint resumes in a single process, with the record continuing in the same folder
    again, events = recorded(resume_config(str(folder), epochs=2, nproc_per_node=1))
    assert isinstance(events[-1], ev.RunFinished) and events[0].start_epoch == 1
    assert [e.epoch for e in read_events(folder) if isinstance(e, ev.EpochEnded)] == [1, 2]


def _rank_pid(folder: Path, rank: int) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--rank-worker" in cmdline and str(folder).encode() in cmdline and f"RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


SLOW = """import time, torch
class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        time.sleep(0.01)
        return self.fc(x.flatten(1))
"""


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_others_and_the_folder_says_which(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW)
    config = tiny_config(**{**DDP, "epochs": 50}, model=f"{tmp_path}/slow.py:Slow", nproc_per_node=2,
                         out=str(tmp_path / "ddp"))
    folder, launcher = start_distributed(config)
    deadline = time.monotonic() + 120
    while not any(isinstance(e, ev.CheckpointSaved) for e in read_events(folder)) if (folder / "events.jsonl").exists() \
            else True:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    victim = _rank_pid(folder, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    assert launcher.wait(120) == 1
    assert lock_holder(folder) is None
    status = read_status(folder)
    assert status.state == "failed" and "rank 1 of 2 was killed by SIGKILL" in status.reason
    assert f"--resume ddp --model {tmp_path}/slow.py:Slow" in status.reason  # a resume names the model's file
    assert _rank_pid(folder, 0) is None  # the other rank did not hang on
    payload = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] >= 1


def test_bad_setups_are_one_sentence(monkeypatch):
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="nccl backend needs CUDA"):
            check_setup(tiny_config(nproc_per_node=2, dist_backend="nccl"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match="more processes than this machine's 2 GPU"):
        check_setup(tiny_config(nproc_per_node=4, device="auto"))
    with pytest.raises(ConfigError, match="global batch"):
        check_setup(tiny_config(nproc_per_node=2, batch_size=1, device="cpu"))
    with pytest.raises(ConfigError, match="--rdzv-endpoint"):
        tiny_config(nnodes=2).validate()


@pytest.mark.slow
def test_the_cli_trains_on_two_processes_in_the_foreground(tmp_path):
    out = python.run([python.PYTHON, "-m", "workbench.cli", "train", "--model", "mlp", "--dataset",
                      "synthetic-digits", "--device", "cpu", "--epochs", "1", "--limit-batches", "4",
                      "--nproc-per-node", "2", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                     timeout=300)
    assert out.returncode == 0, out.stderr
    assert "x 2 processes" in out.stdout and "finished 1 epoch(s)" in out.stdout
    assert "Traceback" not in out.stderr and "OMP_NUM_THREADS" not in out.stderr  # torchrun's chatter stays in the log
