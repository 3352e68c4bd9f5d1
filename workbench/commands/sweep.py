"""`workbench sweep`: many runs as one search on Optuna; `workbench sweeps`: the sweeps in the runs home."""

from __future__ import annotations

import argparse
import sys

from trainers.errors import ConfigError, SweepError

SWEEP_EPILOG = ("Any option of `workbench train` can be searched: a value fixes it, a,b,c is a choice, LOW..HIGH "
                "a range (LOW..HIGH:log for a log scale; a whole-number option stays whole). Each trial is an "
                "ordinary run in the sweep's folder: attach, compare, stop, resume and export work on it. The "
                "study is Optuna's, in SWEEP/optuna.journal: optuna.load_study opens it.")


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    from trainers.config import RunConfig
    from trainers.sweeps.space import searchable
    from trainers.sweeps.study import LAUNCHERS, METRICS, PRUNERS, SAMPLERS

    from workbench.options import add_run_options

    searched = searchable()
    for name, meta in RunConfig.options():
        if name in searched:
            names = [meta["flag"]] + ([meta["short"]] if meta.get("short") else [])
            parser.add_argument(*names, dest=name, default=None, metavar="V|A,B|LO..HI",
                                help=meta["help"] + (f" ({'|'.join(meta['choices'])})" if meta.get("choices") else ""))
    add_run_options(parser, skip=(*searched, "out", "resume", "nproc_per_node", "nnodes", "node_rank",
                                  "rdzv_endpoint", "dist_backend"))
    parser.add_argument("--trials", type=int, help="runs in all (default 10; a grid: all its points)")
    parser.add_argument("--parallel", type=int, default=1, help="trials at once (default 1)")
    parser.add_argument("--metric", choices=tuple(METRICS),
                        help="what the search goes for (default: test_accuracy, test_loss for an autoencoder)")
    parser.add_argument("--prune", choices=PRUNERS, default="median",
                        help="stop trials early: below the median of the others at the same epoch (default), "
                        "Hyperband, or none")
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto",
                        help="auto (default): a grid when every searched option is a list, else TPE")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="local",
                        help="local: detached trainers on this machine; slurm: one Slurm job per trial (submitit)")
    parser.add_argument("--partition", help="Slurm partition")
    parser.add_argument("--gpus-per-trial", type=int, default=0, help="GPUs each trial takes (Slurm, or local)")
    parser.add_argument("--time", type=int, default=60, help="a Slurm job's time limit in minutes (default 60)")
    parser.add_argument("--slurm-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="another sbatch option for each trial's job, e.g. account=lab (repeatable)")
    parser.add_argument("--out", metavar="DIR", help="the sweep's folder (default: a new one in the runs home)")
    parser.add_argument("--resume", metavar="SWEEP", help="continue a sweep (a name from `workbench sweeps` or a folder)")
    parser.add_argument("--detach", action="store_true", help="run the sweep in the background: print its folder, return")


def sweep(args: argparse.Namespace) -> int:
    from trainers.sweeps import find_sweep, make_sweep, start_detached_sweep

    if args.resume:
        folder = find_sweep(args.resume)
        check_resume(folder, args)
    else:
        folder = make_sweep(spec_from_args(args), args.out)
    if args.detach:
        process = start_detached_sweep(folder)
        print(f"sweep {folder.name} runs in the background (pid {process.pid})")
        print(f"  watch it: workbench attach {folder}    its lines: {folder / 'sweep.log'}")
        print(f"  stop it: workbench stop {folder}    continue it: workbench sweep --resume {folder}")
        print(f"sweep folder {folder}")
        return 0
    return follow_here(folder)


def check_resume(folder, args: argparse.Namespace) -> None:
    """A sweep's folder is data: a sweep of a user's model file continues only when this user names the file
    again (--model) and its bytes still have the SHA-256 recorded when the sweep was made."""
    from trainers.models import is_user_model, trusted_model
    from trainers.sweeps.study import SweepSpec

    spec = SweepSpec.load(folder)
    model = spec.base.get("model")
    if isinstance(model, str) and is_user_model(model):
        trusted_model(model, spec.base.get("model_sha256"), args.model, f"sweep {folder.name}")
    elif args.model and args.model != model:
        raise SweepError(f"sweep {folder.name} is of {model}, not {args.model}.")


def follow_here(folder) -> int:
    from trainers.sweeps.runner import SweepEnded, Sweeper
    from trainers.sweeps.words import say

    import signal

    sweeper = Sweeper(folder)
    # SIGTERM (a scheduler, `workbench stop SWEEP`) stops it as Ctrl-C does: the running trials save
    signal.signal(signal.SIGTERM, lambda *_: sweeper.stopping.set())
    ended = None
    for event in sweeper.run():
        line = say(event, sweeper.spec)
        if line:
            print(line, flush=True)
        if isinstance(event, SweepEnded):
            ended = event
    if ended is not None and ended.stopped:
        print(f"continue it: workbench sweep --resume {folder}", file=sys.stderr)
        return 130
    return 0


def spec_from_args(args: argparse.Namespace):
    """The sweep as asked, checked before anything starts: one sentence for the first thing that cannot work."""
    from trainers.config import RunConfig
    from trainers.models import MODELS, is_user_model
    from trainers.sweeps import space as sp
    from trainers.sweeps.study import SweepSpec

    from workbench.commands.train import check_names
    from workbench.options import given

    searched = sp.searchable()
    space = {}
    for name in searched:
        text = getattr(args, name, None)
        if text is not None:
            space[name] = sp.parse(name, text)
    fixed = {k: v for k, v in given(args).items() if k not in searched}
    model = space.pop("model", None)
    dataset = space.pop("dataset", None)
    for option, search in (("model", model), ("dataset", dataset)):
        if search is not None and not isinstance(search, sp.Fixed):
            raise SweepError(f"--{option} is what a sweep is of: give one {option}, and sweep its settings.")
    base = RunConfig(**fixed, **({"model": model.value} if model else {}), **({"dataset": dataset.value} if dataset else {}))
    base.validate()
    check_names(base)
    if is_user_model(base.model):  # recorded, so that a resume runs exactly these bytes or nothing
        from pathlib import Path

        from trainers.models.user import file_sha256

        base.model_sha256 = file_sha256(Path(base.model.rsplit(":", 1)[0]).expanduser())
    if args.parallel is None or args.parallel < 1:
        raise SweepError(f"--parallel must be at least 1, got {args.parallel}.")
    if args.trials is not None and args.trials < 1:
        raise SweepError(f"--trials must be at least 1, got {args.trials}.")
    if args.gpus_per_trial < 0 or args.time < 1:
        raise SweepError("--gpus-per-trial must be 0 or more and --time at least 1 minute.")
    if not sp.varied(space):
        raise SweepError("nothing to search: give at least one option a list (a,b,c) or a range (LOW..HIGH).")
    sampler = args.sampler
    grid = sp.grid(space)
    if sampler == "auto":
        sampler = "grid" if grid is not None else "tpe"
    if sampler == "grid" and grid is None:
        raise SweepError("--sampler grid needs every searched option as a list a,b,c, not a range.")
    trials = args.trials
    if sampler == "grid":
        size = sp.grid_size(space)
        if trials is not None and trials > size:
            print(f"the grid has {size} points, so the sweep runs {size} trials, not {trials}.", file=sys.stderr)
        trials = min(trials or size, size)
    trials = trials or 10
    metric = args.metric
    if metric is None:
        task = MODELS[base.model].task if base.model in MODELS else "classify"
        metric = "test_loss" if task == "reconstruct" else "test_accuracy"
    elif metric == "test_accuracy" and base.model in MODELS and MODELS[base.model].task == "reconstruct":
        raise SweepError(f"{base.model} reconstructs images and has no accuracy; sweep with --metric test_loss.")
    slurm = {}
    if args.launcher == "slurm":
        pairs = []
        for item in args.slurm_arg:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise SweepError(f"--slurm-arg {item!r}: write KEY=VALUE, e.g. account=lab.")
            pairs.append([key.strip(), value.strip()])
        slurm = {"partition": args.partition, "time": args.time, "args": pairs}
        from trainers.sweeps.slurm import check_slurm

        check_slurm()
    elif args.gpus_per_trial:
        from trainers.sweeps.runner import LocalLauncher

        LocalLauncher(args.parallel, base.device, args.gpus_per_trial)  # more trials than GPUs: one sentence
    seed = space.get("seed").value if isinstance(space.get("seed"), sp.Fixed) else None
    if "seed" not in space:
        seed = base.seed
    base_values = {k: v for k, v in base.to_dict().items() if v is not None}
    try:
        return SweepSpec(name="", base=base_values, space=sp.to_json(space), trials=trials, parallel=args.parallel,
                         metric=metric, sampler=sampler, prune=args.prune, launcher=args.launcher, seed=seed,
                         slurm=slurm, gpus_per_trial=args.gpus_per_trial)
    except ConfigError as err:
        raise SweepError(str(err)) from None


def sweeps(args: argparse.Namespace) -> int:
    from trainers.sweeps import list_sweeps
    from trainers.sweeps.view import read_sweep

    found = list_sweeps(args.home)
    if not found:
        print("no sweeps yet: workbench sweep --model M --dataset D --lr 1e-4..1:log ...")
        return 0
    for folder in found:
        view = read_sweep(folder)
        print(view.line())
    return 0
