"""A sweep's folder and its Optuna study.

    SWEEP/sweep.json       what was asked: the fixed settings, the search space, trials, metric, sampler...
    SWEEP/optuna.journal   Optuna's own record of the study (JournalStorage on a file): open it with
                           optuna.load_study(study_name=NAME, storage=JournalStorage(JournalFileBackend(PATH)))
    SWEEP/sweeper.json     the sweep process now at work (pid, host, state, beat)
    SWEEP/hold.json        {"hold": true}: start no new trial for now (running ones go on)
    SWEEP/trial-007/       trial 7: an ordinary run folder

Optuna is imported inside functions: listing sweeps and checking a search space never pay for it."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SweepError
from ..runs.files import read_json, write_json
from . import space as sp

SPEC = "sweep.json"
JOURNAL = "optuna.journal"
SWEEPER = "sweeper.json"
SWEEPER_LOCK = ".sweeper.lock"
SWEEP_LOG = "sweep.log"
HOLD = "hold.json"  # {"hold": true}: the sweep starts no new trial until it is false again
METRICS = {"test_accuracy": "maximize", "test_loss": "minimize"}
SAMPLERS = ("auto", "tpe", "grid", "random")
PRUNERS = ("median", "hyperband", "none")
LAUNCHERS = ("local", "slurm")


@dataclass
class SweepSpec:
    name: str
    base: dict  # the settings every trial shares, as RunConfig fields
    space: dict  # option -> its search as written ("1e-4..1:log", "32,64", "0.9")
    trials: int
    parallel: int = 1
    metric: str = "test_accuracy"
    sampler: str = "tpe"
    prune: str = "median"
    launcher: str = "local"
    seed: int | None = None
    slurm: dict = field(default_factory=dict)  # partition, gpus_per_trial, time, args
    gpus_per_trial: int = 0
    group: int = 1  # trials trained together in one process: 0 finds how many (trainers.sweeps.runner); a sweep
    # made before groups existed trains one process per trial
    created: float = 0.0

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    def searched(self) -> dict:
        return sp.from_json(self.space)

    def save(self, folder: Path) -> None:
        write_json(folder / SPEC, dataclasses.asdict(self))

    @classmethod
    def load(cls, folder: Path) -> "SweepSpec":
        data = read_json(folder / SPEC)
        if not isinstance(data, dict):
            what = "is damaged" if (folder / SPEC).exists() else "is missing"
            raise SweepError(f"{folder / SPEC} {what}, so {folder} cannot be read as a sweep.")
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as err:
            raise SweepError(f"{folder / SPEC} is damaged ({err}).") from None


def is_sweep(path: Path) -> bool:
    return path.is_dir() and (path / SPEC).exists()


def trial_folder(sweep: Path, number: int) -> Path:
    return sweep / f"trial-{number:03d}"


def storage(folder: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))


def _sampler(spec: SweepSpec):
    import optuna

    searched = spec.searched()
    if spec.sampler == "grid":
        grid = sp.grid(searched)
        if grid is None:
            raise SweepError("--sampler grid needs every searched option as a list a,b,c; give lists, or another sampler.")
        return optuna.samplers.GridSampler(grid, seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    # TPE: its first trials are random; with trials side by side, a running trial's settings count as taken
    return optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=max(1, min(10, spec.trials // 2)),
                                      constant_liar=spec.parallel > 1)


def _pruner(spec: SweepSpec):
    import optuna

    if spec.prune == "hyperband":
        epochs = int(spec.base.get("epochs") or 5)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, epochs), reduction_factor=3)
    if spec.prune == "median":
        # a trial below the median of the others at the same epoch stops, once a few have finished
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, spec.trials // 4)), n_warmup_steps=0)
    return optuna.pruners.NopPruner()


def open_study(folder: Path, spec: SweepSpec):
    """The sweep's study, made on first use; any process on any machine sharing the folder gets the same."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(study_name=spec.name, storage=storage(folder), sampler=_sampler(spec),
                                   pruner=_pruner(spec), direction=spec.direction, load_if_exists=True)
    except SweepError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged journal raises whatever its parser meets
        raise SweepError(f"{folder / JOURNAL} is not a readable Optuna journal ({type(err).__name__}: "
                         f"{str(err)[:120]}); the trials' folders are still there: `workbench runs --home {folder}`.") \
            from None


def load_study(folder: Path):
    """The study for reading (viewers); SweepError when the journal is missing or damaged."""
    import optuna

    spec = SweepSpec.load(folder)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (folder / JOURNAL).exists():
        raise SweepError(f"{folder} has no {JOURNAL}: the sweep never asked Optuna for a trial.")
    try:
        return optuna.load_study(study_name=spec.name, storage=storage(folder))
    except Exception as err:  # noqa: BLE001
        raise SweepError(f"{folder / JOURNAL} is not a readable Optuna journal ({type(err).__name__}: "
                         f"{str(err)[:120]}); the trials' folders are still there.") from None


# --- the sweep process's own record ---------------------------------------------------------------------

def write_sweeper(folder: Path, state: str, **more) -> None:
    now = time.time()
    write_json(folder / SWEEPER, {"state": state, "pid": os.getpid(), "host": socket.gethostname(), "time": now,
                                  "beat": now, **more})


def sweeper_pid(folder: Path) -> int | None:
    """The pid of the sweep process at work on `folder` on this machine, or None (its lock is free)."""
    import fcntl

    try:
        fd = os.open(folder / SWEEPER_LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        data = read_json(folder / SWEEPER) or {}
        pid = data.get("pid")
        return int(pid) if isinstance(pid, int) else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class SweeperLock:
    """flock on SWEEP/.sweeper.lock while a sweep process works on the folder: others on the same machine
    see it at work; a dead one's lock goes with it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / SWEEPER_LOCK
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
