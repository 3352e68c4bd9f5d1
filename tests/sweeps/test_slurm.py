"""Trials as Slurm jobs (trainers.sweeps.slurm), against a real one-node Slurm on localhost
(tools/slurm-localhost, the `slurm_cluster` fixture); skipped with the reason where there is none."""

import shutil
import time
from pathlib import Path

import pytest

from trainers import RunConfig
from trainers.backends.detached import request
from trainers.errors import SweepError
from trainers.runs import read_status, write_json
from trainers.runs.files import REQUEST
from trainers.sweeps.slurm import SlurmLauncher, SlurmOptions, check_slurm

from .conftest import slurm_localhost

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "UNKNOWN")


def wait_for(condition, seconds: float, step: float = 0.5):
    """Poll `condition` until it is truthy; a Slurm job is another process tree with no event to wait on."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def trial(sweep: Path, name: str, epochs: int) -> Path:
    """A trial folder as the sweep writes it before launching: request.json and nothing else."""
    folder = sweep / name
    folder.mkdir(parents=True)
    config = RunConfig(model="mlp", dataset="synthetic-digits", epochs=epochs, limit_batches=5, device="cpu",
                       out=str(folder))
    write_json(folder / REQUEST, request(config, folder))
    return folder


def job_log(sweep: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text(errors='replace')[-1500:]}" for p in sorted((sweep / "slurm").glob("*_log.*")))


@pytest.mark.slow
def test_two_trials_run_as_slurm_jobs_and_finish(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    launcher = SlurmLauncher(sweep, SlurmOptions(time=5))
    folders = [trial(sweep, f"trial-{i}", epochs=1) for i in range(2)]
    jobs = [launcher.start(folder) for folder in folders]
    assert len(set(jobs)) == 2 and all(job.isdigit() for job in jobs)

    ended = wait_for(lambda: all(launcher.state(job) not in ACTIVE for job in jobs), seconds=120, step=1)
    states = [launcher.state(job) for job in jobs]
    assert ended, f"jobs still {states} after 2 minutes\n{job_log(sweep)}"
    assert states == ["COMPLETED", "COMPLETED"], job_log(sweep)
    for folder in folders:
        assert read_status(folder).state == "finished", job_log(sweep)
        assert (folder / "checkpoint.pt").exists()
    assert {p.name for p in (sweep / "slurm").glob("*_log.out")} == {f"{job}_0_log.out" for job in jobs}


@pytest.mark.slow
def test_scancel_stops_the_trial_which_saves_first(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    launcher = SlurmLauncher(sweep, SlurmOptions(time=5))
    folder = trial(sweep, "trial-0", epochs=100_000)
    job = launcher.start(folder)
    assert wait_for(lambda: read_status(folder).state == "running", seconds=120), job_log(sweep)
    assert launcher.state(job) == "RUNNING"

    launcher.cancel(job)
    assert wait_for(lambda: launcher.state(job) not in ACTIVE, seconds=60), job_log(sweep)
    assert launcher.state(job) == "CANCELLED"
    status = read_status(folder)
    assert status.state == "stopped", f"{status}\n{job_log(sweep)}"
    assert (folder / "checkpoint.pt").exists()


def test_check_slurm_without_sbatch_says_so_in_one_line(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SweepError) as caught:
        check_slurm()
    message = str(caught.value)
    assert "sbatch is not on this machine's PATH" in message and "\n" not in message


def test_check_slurm_names_the_controller_that_does_not_answer(tmp_path, monkeypatch):
    if shutil.which("scontrol") is None:
        pytest.skip("no Slurm here: scontrol not on PATH (apt-get install slurm-wlm)")
    written = slurm_localhost("config", tmp_path / "cluster", timeout=30)  # a slurm.conf whose daemons never start
    assert written.returncode == 0, written.stderr
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "cluster" / "slurm.conf"))
    started = time.monotonic()
    with pytest.raises(SweepError) as caught:
        check_slurm()
    message = str(caught.value)
    assert time.monotonic() - started < 15
    assert "scontrol ping" in message and "DOWN" in message and "\n" not in message, message


@pytest.mark.slow
def test_a_sweep_runs_its_trials_as_slurm_jobs(slurm_cluster, tmp_path):
    from tests.conftest import TINY
    from trainers.sweeps import make_sweep
    from trainers.sweeps.runner import Sweeper, TrialEnded
    from trainers.sweeps.study import SweepSpec, load_study

    base = dict(model="mlp", dataset="synthetic-digits", epochs=2, batch_size=32, limit_batches=4,
                limit_test_batches=1, extra=dict(TINY), device="cpu")
    folder = make_sweep(SweepSpec(name="", base=base, space={"lr": "0.01,0.1"}, trials=2, parallel=2,
                                  sampler="grid", prune="none", launcher="slurm", slurm={"time": 5}, seed=0),
                        str(tmp_path / "sweep"))
    events = list(Sweeper(folder, poll=0.2).run())
    assert [e.state for e in events if isinstance(e, TrialEnded)] == ["finished", "finished"], job_log(folder)
    study = load_study(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    jobs = [t.user_attrs["job"] for t in study.trials]
    assert len(set(jobs)) == 2  # one Slurm job per trial, its id in the journal
    assert {p.name for p in (folder / "slurm").glob("*_log.out")} == {f"{job}_0_log.out" for job in jobs}
    for t in study.trials:
        assert read_status(folder / t.user_attrs["folder"]).state == "finished"
