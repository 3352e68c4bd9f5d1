"""Sweeps end to end on this machine: trials as detached trainers on generated digits, the study in Optuna's
journal, a sweep process killed with SIGKILL and resumed, pruning, and every bad input in one sentence."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import python
from tests.conftest import TINY, end_trainers
from trainers.errors import SweepError
from trainers.runs import read_status
from trainers.sweeps import make_sweep
from trainers.sweeps.runner import SweepEnded, Sweeper, TrialEnded, TrialStarted
from trainers.sweeps.study import SweepSpec, load_study
from trainers.warm import ENV

pytestmark = pytest.mark.slow  # each trial is a trainer process of its own

BASE = dict(model="mlp", dataset="synthetic-digits", epochs=2, batch_size=32, limit_batches=4, limit_test_batches=1,
            log_every=2, extra=dict(TINY), device="cpu")
ROOT = Path(__file__).resolve().parents[2]


def sweep(tmp_path, space, trials, **more) -> Path:
    spec = SweepSpec(name="", base={**BASE, **more.pop("base", {})}, space=space, trials=trials, **more)
    return make_sweep(spec, str(tmp_path / "sweep"))


def epochs_recorded(folder: Path) -> list[int]:
    path = folder / "metrics.jsonl"
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines()] if path.exists() else []


def test_six_trials_two_at_a_time_end_in_six_folders_and_six_finished_trials(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV)  # as a user's sweep runs: from a warm interpreter of its own, not the tests' shared one
    folder = sweep(tmp_path, {"lr": "0.01..0.3:log", "optimizer": "sgd,adam"}, 6, parallel=2, prune="none", seed=3)
    events = list(Sweeper(folder, poll=0.1).run())
    started = [e for e in events if isinstance(e, TrialStarted)]
    ended = [e for e in events if isinstance(e, TrialEnded)]
    assert sorted(e.number for e in started) == list(range(6))
    assert [e.state for e in ended] == ["finished"] * 6
    trials = sorted(p.name for p in folder.glob("trial-*"))
    assert trials == [f"trial-{n:03d}" for n in range(6)]
    for name in trials:
        assert read_status(folder / name).state == "finished"
        assert epochs_recorded(folder / name) == [1, 2]
        config = json.loads((folder / name / "config.json").read_text())
        assert config["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # the cores shared, not oversubscribed
    study = load_study(folder)  # Optuna's own view of the journal
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    end = events[-1]
    assert isinstance(end, SweepEnded) and end.finished == 6 and not end.stopped
    assert end.best == study.best_trial.number and end.best_value == pytest.approx(study.best_value)
    assert end.best_folder == str(folder / f"trial-{end.best:03d}")
    # each trial ran the settings Optuna gave it
    for t in study.trials:
        config = json.loads((folder / f"trial-{t.number:03d}" / "config.json").read_text())
        assert config["lr"] == pytest.approx(t.params["lr"]) and config["optimizer"] == t.params["optimizer"]


SLOW = """
import time
import torch
class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        time.sleep(0.05)
        return self.fc(x.flatten(1))
"""


def test_a_trial_below_the_median_is_pruned_before_its_last_epoch(tmp_path):
    from trainers.models.user import file_sha256

    # seed 1 makes Optuna's grid take lr 0.05 first, then 1e-7, which learns nothing. A batch takes 50 ms, so the
    # pruner's stop after epoch 1 reaches the second trial seconds before its last epoch, even on a loaded machine
    (tmp_path / "slow.py").write_text(SLOW)
    folder = sweep(tmp_path, {"lr": "0.05,1e-7"}, 2, sampler="grid", prune="median", seed=1,
                   base={"epochs": 4, "optimizer": "sgd", "momentum": 0.9, "limit_batches": 8,
                         "model": f"{tmp_path}/slow.py:Slow", "model_sha256": file_sha256(tmp_path / "slow.py")})
    events = list(Sweeper(folder, poll=0.1).run())
    study = load_study(folder)
    assert [t.params["lr"] for t in study.trials] == [0.05, 1e-7], "Optuna's grid order changed; pick another seed"
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED"]
    slow = folder / "trial-001"
    assert read_status(slow).state == "stopped"  # stopped through its folder's control, saved
    assert (slow / "checkpoint.pt").exists()
    assert len(epochs_recorded(slow)) < 4
    assert any(isinstance(e, TrialEnded) and e.number == 1 and e.state == "pruned" for e in events)


def test_a_learning_rate_of_1e3_ends_its_trial_at_once_and_the_sweep_goes_on(tmp_path):
    folder = sweep(tmp_path, {"lr": "1000,0.05"}, 2, sampler="grid", prune="median", seed=1,
                   base={"epochs": 3, "optimizer": "sgd", "momentum": 0.9, "limit_batches": 8})
    events = list(Sweeper(folder, poll=0.1).run())
    study = load_study(folder)
    absurd = next(t for t in study.trials if t.params["lr"] == 1000)
    assert absurd.state.name in ("FAIL", "PRUNED")
    run = folder / f"trial-{absurd.number:03d}"
    assert len(epochs_recorded(run)) < 3  # before its last epoch
    ended = next(e for e in events if isinstance(e, TrialEnded) and e.number == absurd.number)
    assert "diverged" in ended.reason
    other = next(t for t in study.trials if t.params["lr"] == 0.05)
    assert other.state.name == "COMPLETE"


def _sweep_process(folder: Path, model: str) -> subprocess.Popen:
    return python.popen([python.PYTHON, "-m", "workbench.cli", "sweep", "--resume", str(folder), "--model", model],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                        start_new_session=True)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)




def test_a_sweep_killed_mid_way_resumes_with_exactly_the_trials_asked_for(tmp_path):
    from trainers.models.user import file_sha256
    from trainers.runs.requests import send

    (tmp_path / "slow.py").write_text(SLOW)  # a model slow enough to be caught mid-epoch
    model = f"{tmp_path}/slow.py:Slow"
    # 32 batches an epoch, 50 ms each: seconds a trial, so a loaded machine still catches both mid-epoch
    folder = sweep(tmp_path, {"lr": "0.01..0.2:log"}, 4, parallel=2, prune="none", seed=5,
                   base={"epochs": 3, "log_every": 1, "model": model, "limit_batches": None,
                         "extra": {"train_size": 1024, "test_size": 64},
                         "model_sha256": file_sha256(tmp_path / "slow.py")})
    first = _sweep_process(folder, model)
    trial0, trial1 = folder / "trial-000", folder / "trial-001"
    try:
        # both first trials mid-epoch, held there (paused), trial 0 saved mid-epoch: then SIGKILL the sweep
        # process, and trial 0's trainer with it; trial 1's trainer lives on
        _wait(lambda: all((t / "events.jsonl").exists() and (t / "events.jsonl").read_text().count('"BatchEnded"')
                          >= 2 for t in (trial0, trial1)), 120, "the first trials never got going")
        for t in (trial0, trial1):
            send(t, "pause")
        _wait(lambda: all(read_status(t).state == "paused" for t in (trial0, trial1)), 60, "never paused")
        send(trial0, "save")
        _wait(lambda: (trial0 / "checkpoint.json").exists() and
              json.loads((trial0 / "checkpoint.json").read_text())["position"] is not None, 60, "never saved")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        os.kill(read_status(trial0).pid, signal.SIGKILL)
        _wait(lambda: read_status(trial0).state == "interrupted", 30, "trial 0 never read as interrupted")
        again = _sweep_process(folder, model)
        send(trial1, "resume")
        out, _ = again.communicate(timeout=300)
    finally:
        end_trainers(tmp_path)
    assert again.returncode == 0, out
    study = load_study(folder)
    assert len(study.trials) == 4 and [t.state.name for t in study.trials] == ["COMPLETE"] * 4, out
    assert sorted(p.name for p in folder.glob("trial-*")) == [f"trial-{n:03d}" for n in range(4)]
    for n in range(4):
        assert epochs_recorded(folder / f"trial-{n:03d}") == [1, 2, 3]  # exact resume: no epoch twice
    assert "trial 0 continued" in out  # from its checkpoint (its trainer was killed)
    assert "trial 1 continued" in out  # followed again: its trainer lived on
    assert "trial 2 started" in out and "trial 3 started" in out
    assert "resumed" in (trial0 / "trainer.log").read_text() or (trial0 / "events.jsonl").read_text().count(
        '"RunStarted"') == 2
    assert out.strip().splitlines()[-1].startswith("best trial ")


def test_the_command_prints_the_folder_at_once_and_the_best_trial_last(tmp_path):
    out = tmp_path / "cli-sweep"
    proc = python.run(
        [python.PYTHON, "-m", "workbench.cli", "sweep", "--model", "mlp", "--dataset", "synthetic-digits",
         "--epochs", "1", "--limit-batches", "3", "--batch-size", "32", "--device", "cpu", "--lr", "0.01,0.1",
         "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("sweep cli-sweep: 2 trials") and "grid" in lines[0].lower()
    assert lines[1].strip() == f"folder {out}"
    last = lines[-1].split()
    assert last[:2] == ["best", "trial"] and Path(last[2]).parent == out and last[3] == "test_accuracy"
    float(last[4])
    listed = python.run([python.PYTHON, "-m", "workbench.cli", "sweeps", "--home", str(tmp_path)],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "cli-sweep" in listed.stdout and "2/2 done" in listed.stdout and "finished" in listed.stdout


@pytest.mark.parametrize("args, says", [
    (["--lr", "1..0.1"], "low end must be below its high end"),
    (["--lr", "0..1:log"], "log range must stay above 0"),
    (["--lr", "0.1"], "nothing to search"),
    (["--lr", "a,b"], "--lr 'a': a number"),
    (["--batch-size", "1.5,2"], "--batch-size '1.5': a whole number"),
    (["--lr", "0.1,1", "--trials", "0"], "--trials must be at least 1"),
    (["--lr", "0.1,1", "--parallel", "0"], "--parallel must be at least 1"),
    (["--lr", "0.1,1", "--optimizer", "sgd,rmsprop"], "one of sgd, adam"),
    (["--lr", "0.1,1", "--bogus", "1"], "unrecognized arguments: --bogus"),
    (["--lr", "0.1,1", "--launcher", "slurm"], "sbatch"),
])
def test_bad_input_is_one_sentence_and_nothing_starts(tmp_path, args, says):
    env = {**os.environ, "PATH": "/nonexistent"} if "slurm" in args else None
    proc = python.run([python.PYTHON, "-m", "workbench.cli", "sweep", "--model", "mlp", "--dataset",
                       "synthetic-digits", "--out", str(tmp_path / "s"), *args],
                      capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert proc.returncode != 0
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "s").exists()


def test_a_damaged_journal_is_one_sentence_and_the_trials_are_still_listed(tmp_path):
    from trainers.sweeps.view import read_sweep

    folder = sweep(tmp_path, {"lr": "0.01,0.1"}, 2, sampler="grid", prune="none", seed=0)
    list(Sweeper(folder, poll=0.1).run())
    (folder / "optuna.journal").write_bytes(b"\x00garbage{{{\n")
    with pytest.raises(SweepError, match="not a readable Optuna journal"):
        list(Sweeper(folder).run())
    view = read_sweep(folder)
    assert "not a readable Optuna journal" in view.problem
    assert [t.number for t in view.trials] == [0, 1] and {t.state for t in view.trials} == {"finished"}


def test_two_sweep_processes_on_one_folder_share_the_study_and_run_each_trial_once(tmp_path):
    """As two machines sharing the folder would: both `--resume` the same sweep at once."""
    folder = sweep(tmp_path, {"lr": "0.01..0.2:log"}, 5, parallel=1, prune="none", seed=2)
    procs = [python.popen([python.PYTHON, "-m", "workbench.cli", "sweep", "--resume", str(folder)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
             for _ in range(2)]
    try:
        outs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
        end_trainers(tmp_path)
    assert [p.returncode for p in procs] == [0, 0], outs
    study = load_study(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5, outs
    started = [line.split()[1] for out in outs for line in out.splitlines() if " started: " in line]
    assert sorted(started, key=int) == [str(n) for n in range(5)]  # each trial started once, by one of them
    assert all(" started: " in out for out in outs), outs  # both did some of the work
    assert sorted(p.name for p in folder.glob("trial-*")) == [f"trial-{n:03d}" for n in range(5)]


def test_more_gpus_per_trial_than_this_machine_has_is_one_sentence(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = python.run([python.PYTHON, "-m", "workbench.cli", "sweep", "--model", "mlp", "--dataset",
                       "synthetic-digits", "--lr", "0.1,1", "--parallel", "2", "--gpus-per-trial", "1",
                       "--out", str(tmp_path / "s")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "needs 2 GPUs; this machine has none that torch can use" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_runs_says_where_the_sweeps_trials_are(tmp_path):
    folder = sweep(tmp_path, {"lr": "0.01,0.1"}, 2, sampler="grid", prune="none", seed=0)
    home = folder.parent
    out = python.run([python.PYTHON, "-m", "workbench.cli", "runs", "--home", str(home)], capture_output=True,
                     text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and "outside its sweeps" in out.stdout and "workbench sweeps" in out.stdout
    assert f"--home {folder}" in out.stdout
