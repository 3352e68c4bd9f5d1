"""A sweep as asked, from `workbench sweep`'s flags or the picker's sweep form: both hand over the options'
texts ("0.1", "sgd,adam", "1e-4..1:log") and the sweep's settings, and get back the same SweepSpec or the
same one sentence for the first thing that cannot work, before anything starts."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from trainers.config import RunConfig
from trainers.errors import ConfigError, SweepError
from trainers.models import MODELS, is_user_model
from trainers.sweeps import space as sp
from trainers.sweeps.study import SweepSpec

from workbench.options import check_names


class SweepOptionError(SweepError):
    """A sweep that cannot start, and the option to blame (a RunConfig field or a SweepSettings one), if one is."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass
class SweepSettings:
    """How a sweep searches, beside what it searches: `workbench sweep`'s own flags."""

    trials: int | None = None  # None: 10, or every point of a grid
    parallel: int | None = 1
    metric: str | None = None  # None: test_accuracy, or test_loss for a model that reconstructs
    prune: str = "median"
    sampler: str = "auto"
    launcher: str = "local"
    partition: str | None = None
    gpus_per_trial: int = 0
    time: int = 60  # a Slurm job's limit, minutes
    slurm_args: list[str] = field(default_factory=list)  # KEY=VALUE
    group: int | None = None  # trials trained together in one process; None: as many as fit (1: --no-group)


def build_sweep(texts: dict[str, str], settings: SweepSettings, fixed: dict | None = None) -> tuple[SweepSpec, list[str]]:
    """(the sweep, notes worth telling) from the searchable options' texts (model and dataset among them) and
    the settings every trial shares (`fixed`: RunConfig fields a sweep does not search)."""
    searched = sp.searchable()
    space = {}
    for name, text in texts.items():
        if text is None:
            continue
        try:
            space[name] = sp.parse(name, text)
        except ConfigError as err:
            raise SweepOptionError(str(err), name) from None
    fixed = {k: v for k, v in (fixed or {}).items() if k not in searched or k not in space}
    model = space.pop("model", None)
    dataset = space.pop("dataset", None)
    for option, search in (("model", model), ("dataset", dataset)):
        if search is not None and not isinstance(search, sp.Fixed):
            raise SweepOptionError(f"--{option} is what a sweep is of: give one {option}, and sweep its settings.",
                                   option)
    for option, search in (("model", model), ("dataset", dataset)):
        if search is not None:
            fixed[option] = search.value
    base = RunConfig(**fixed)
    base.validate()
    check_names(base)
    if is_user_model(base.model):  # recorded, so that a resume runs exactly these bytes or nothing
        from trainers.models.user import file_sha256

        base.model_sha256 = file_sha256(Path(base.model.rsplit(":", 1)[0]).expanduser())
    if settings.parallel is None or settings.parallel < 1:
        raise SweepOptionError(f"--parallel must be at least 1, got {settings.parallel}.", "parallel")
    if settings.trials is not None and settings.trials < 1:
        raise SweepOptionError(f"--trials must be at least 1, got {settings.trials}.", "trials")
    if settings.group is not None and settings.group < 1:
        raise SweepOptionError(f"--group must be at least 1, got {settings.group}.", "group")
    if settings.gpus_per_trial < 0 or settings.time < 1:
        raise SweepOptionError("--gpus-per-trial must be 0 or more and --time at least 1 minute.")
    if not sp.varied(space):
        raise SweepOptionError("nothing to search: give at least one option a list (a,b,c) or a range (LOW..HIGH).")
    notes = []
    sampler = settings.sampler
    grid = sp.grid(space)
    if sampler == "auto":
        sampler = "grid" if grid is not None else "tpe"
    if sampler == "grid" and grid is None:
        raise SweepOptionError("--sampler grid needs every searched option as a list a,b,c, not a range.", "sampler")
    trials = settings.trials
    if sampler == "grid":
        size = sp.grid_size(space)
        if trials is not None and trials > size:
            notes.append(f"the grid has {size} points, so the sweep runs {size} trials, not {trials}.")
        trials = min(trials or size, size)
    trials = trials or 10
    metric = settings.metric
    if metric is None:
        task = MODELS[base.model].task if base.model in MODELS else "classify"
        metric = "test_loss" if task == "reconstruct" else "test_accuracy"
    elif metric == "test_accuracy" and base.model in MODELS and MODELS[base.model].task == "reconstruct":
        raise SweepOptionError(f"{base.model} reconstructs images and has no accuracy; sweep with --metric test_loss.",
                               "metric")
    slurm = {}
    if settings.launcher == "slurm":
        pairs = []
        for item in settings.slurm_args:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise SweepOptionError(f"--slurm-arg {item!r}: write KEY=VALUE, e.g. account=lab.", "slurm_args")
            pairs.append([key.strip(), value.strip()])
        slurm = {"partition": settings.partition, "time": settings.time, "args": pairs}
        from trainers.sweeps.slurm import check_slurm

        check_slurm()
    elif settings.gpus_per_trial:
        from trainers.sweeps.runner import LocalLauncher

        LocalLauncher(settings.parallel, base.device, settings.gpus_per_trial)  # more trials than GPUs: one sentence
    seed = space.get("seed").value if isinstance(space.get("seed"), sp.Fixed) else None
    if "seed" not in space:
        seed = base.seed
    base_values = {k: v for k, v in base.to_dict().items() if v is not None}
    parallel = settings.parallel
    group = 0 if settings.group is None else settings.group  # 0: the sweep finds how many fit
    if settings.launcher != "local" or settings.gpus_per_trial:
        if settings.group not in (None, 1):
            notes.append("--group trains trials together on this machine; with "
                         f"{'--launcher slurm' if settings.launcher != 'local' else '--gpus-per-trial'} each trial "
                         f"trains on its own.")
        group = 1
    elif group > parallel:  # --group 8 alone: 8 trials at once, together
        if settings.parallel != 1:
            notes.append(f"--group {group} with --parallel {parallel}: {group} trials at a time, in one process.")
        parallel = group
    if parallel > trials:  # never more trainers than trials
        notes.append(f"{trials} trial(s) in all, so {trials} at a time, not {parallel}.")
        parallel = trials
    if group != 1 and parallel > 1 and "seed" in sp.varied(space) and base_values.get("data_seed") is None:
        base_values["data_seed"] = base.seed  # trials that differ in their weights' seed share one data order
        notes.append(f"the trials differ in --seed (their initial weights) and share one data order (--data-seed "
                     f"{base.seed}), so that they can train together.")
    grouped = group != 1 and parallel > 1
    if settings.launcher == "local" and not settings.gpus_per_trial and parallel > (os.cpu_count() or 1) \
            and not grouped:
        notes.append(f"{parallel} trials at once on {os.cpu_count()} CPU cores: each gets one thread and they take "
                     f"turns on the cores, so the sweep is no faster than --parallel {os.cpu_count()}.")
    try:
        spec = SweepSpec(name="", base=base_values, space=sp.to_json(space), trials=trials, parallel=parallel,
                         metric=metric, sampler=sampler, prune=settings.prune, launcher=settings.launcher, seed=seed,
                         slurm=slurm, gpus_per_trial=settings.gpus_per_trial, group=group)
    except ConfigError as err:
        raise SweepOptionError(str(err)) from None
    return spec, notes


SAMPLER_WORDS = {"tpe": "TPE", "random": "random", "grid": "grid"}


def summary(spec: SweepSpec) -> str:
    """What will run, in one line: '6 trials, 2 at a time, TPE: lr 0.001..1 (log), optimizer sgd|adam'."""
    space = spec.searched()
    how = SAMPLER_WORDS.get(spec.sampler, spec.sampler)
    if spec.sampler == "grid":
        sizes = [len(s.values) for s in space.values() if isinstance(s, sp.Choice)]
        points = math.prod(sizes)
        how = f"the whole grid of {points}" if spec.trials >= points else f"{spec.trials} of a grid of {points}"
        how += f" ({'×'.join(map(str, sizes))})" if len(sizes) > 1 else ""
    searches = []
    for name, search in space.items():
        label = name.replace("_", "-")
        if isinstance(search, sp.Range):
            searches.append(f"{label} {search.low:g}..{search.high:g}" + (" (log)" if search.log else ""))
        elif isinstance(search, sp.Choice):
            searches.append(f"{label} " + "|".join(f"{v:g}" if isinstance(v, float) else str(v) for v in search.values))
    trials = f"{spec.trials} trial{'s' if spec.trials != 1 else ''}"
    return f"{trials}, {spec.parallel} at a time, {how}: " + ", ".join(searches)
