"""Trials as Slurm jobs, through submitit: one job per trial, running the same detached worker as a local
trial (`python -m trainers.backends.worker TRIAL`), which takes the trial folder's lock itself and writes the
folder as any run does. Nothing here reads a job's result: the trial's folder is the answer.

The job's stdout/stderr go to submitit's folder, SWEEP/slurm/. Slurm ends a job with SIGTERM (scancel, or
the time limit: we ask for it `_SAVE_S` before the end), and the worker stops after its batch and saves.

submitit is imported only inside functions: `import trainers.sweeps.slurm` costs nothing on a laptop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import SweepError

_ANSWER_S = 10  # how long `scontrol ping` / `sinfo` may take before the controller counts as silent
_SAVE_S = 90  # SIGTERM this long before the time limit (submitit's default sends USR2, which would kill the worker)


@dataclass(frozen=True)
class SlurmOptions:
    """How each trial's job is asked for."""

    partition: str | None = None
    """The partition (sbatch --partition); None: the cluster's default."""
    gpus_per_trial: int = 0
    """GPUs each trial's job asks for (--gpus-per-node)."""
    time: int = 60
    """The job's time limit in minutes; the trial gets SIGTERM (stop and save) shortly before it."""
    cpus_per_trial: int | None = None
    """CPUs each trial's job asks for (--cpus-per-task); None: Slurm's default."""
    args: tuple[tuple[str, str], ...] = ()
    """Further sbatch options from --slurm-arg KEY=VALUE (e.g. ("account", "ml"), ("qos", "short"))."""


def check_slurm() -> None:
    """Raise SweepError, in one sentence, when there is no Slurm to submit to: no sbatch on PATH, or a
    controller that does not answer."""
    if shutil.which("sbatch") is None:
        raise SweepError("Slurm was asked for, but sbatch is not on this machine's PATH; run the sweep on a login "
                         "node of the cluster, or leave out --slurm to train the trials here.")
    command = ["scontrol", "ping"] if shutil.which("scontrol") else ["sinfo", "--noheader", "--summarize"]
    shown = " ".join(command)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_ANSWER_S)
    except subprocess.TimeoutExpired:
        raise SweepError(f"Slurm's controller does not answer: `{shown}` said nothing within {_ANSWER_S} s.") from None
    except OSError as err:
        raise SweepError(f"Slurm's controller cannot be asked: `{shown}` did not run ({err.strerror or err}).") from None
    said = " ".join((done.stdout + " " + done.stderr).split())
    if done.returncode != 0 or " DOWN" in said:
        lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip("* \t")]
        raise SweepError(f"Slurm's controller does not answer: `{shown}` said {(lines[0] if lines else 'nothing')!r} "
                         f"(exit {done.returncode}).")


class SlurmLauncher:
    """Submits trials as jobs and answers for them by job id (which the sweep keeps in its journal)."""

    def __init__(self, sweep_folder: Path, options: SlurmOptions) -> None:
        import submitit

        self.folder = Path(sweep_folder) / "slurm"
        self.options = options
        self.executor = submitit.AutoExecutor(folder=self.folder, cluster="slurm")
        extra = dict(options.args)
        # Before the time limit, SIGTERM to the job's processes: the worker saves. A --slurm-arg signal=... wins.
        extra.setdefault("signal", f"TERM@{min(_SAVE_S, options.time * 30)}")
        self.executor.update_parameters(timeout_min=options.time, slurm_partition=options.partition,
                                        gpus_per_node=options.gpus_per_trial or None,
                                        cpus_per_task=options.cpus_per_trial, slurm_additional_parameters=extra)

    def start(self, trial_folder: Path) -> str:
        """Submit one job training the run folder `trial_folder` (its request.json already written); the job id."""
        from submitit.helpers import CommandFunction

        from ..backends.detached import child_env

        folder = Path(trial_folder).resolve()
        # `env` adds this checkout to the job's PYTHONPATH and keeps the rest of the job's environment (SLURM_*).
        env = child_env()
        command = ["env", f"PYTHONPATH={env['PYTHONPATH']}", f"CUDA_DEVICE_ORDER={env['CUDA_DEVICE_ORDER']}",
                   sys.executable, "-m", "trainers.backends.worker", str(folder)]
        self.executor.update_parameters(name=f"workbench-{folder.name}")
        try:
            job = self.executor.submit(CommandFunction(command, cwd=os.getcwd()))
        except Exception as err:  # noqa: BLE001 - submitit raises sbatch's failure in many shapes
            said = " ".join(str(err).split())[:300]
            raise SweepError(f"Slurm refused the job for {folder.name}: {said}") from None
        return str(job.job_id)

    def state(self, job_id: str) -> str:
        """The job's state as Slurm says it ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", ...);
        "UNKNOWN" when it cannot tell. squeue knows a job until MinJobAge (5 min) after its end, and needs no
        accounting database; sacct (what submitit's watcher asks, and which warns on every call where there is
        no database) answers for older jobs."""
        for command in (["squeue", "--noheader", "--states=all", "--jobs", str(job_id), "--format=%T"],
                        ["sacct", "--noheader", "--parsable2", "--format=State", "--jobs", str(job_id)]):
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=_ANSWER_S)
            except (OSError, subprocess.TimeoutExpired):
                continue
            words = done.stdout.split()
            if done.returncode == 0 and words:
                return words[0].upper()  # sacct's first line is the job itself ("CANCELLED by 0" -> CANCELLED)
        return "UNKNOWN"

    def cancel(self, job_id: str) -> None:
        """scancel: Slurm sends the job SIGTERM (the worker stops after its batch and saves), SIGKILL after KillWait."""
        try:
            done = subprocess.run(["scancel", str(job_id)], capture_output=True, text=True, timeout=_ANSWER_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SweepError(f"could not cancel Slurm job {job_id}: scancel did not run ({err}).") from None
        if done.returncode != 0:
            said = " ".join(done.stderr.split()) or f"exit {done.returncode}"
            raise SweepError(f"could not cancel Slurm job {job_id}: scancel said {said!r}.")
