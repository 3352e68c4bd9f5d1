"""`workbench sweep`: many runs as one search on Optuna; `workbench sweeps`: the sweeps in the runs home."""

from __future__ import annotations

import argparse
import sys

from trainers.errors import SweepError

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
    add_run_options(parser, skip=(*searched, "out", "resume", "from_run", "weights_from", "nproc_per_node", "nnodes", "node_rank",
                                  "rdzv_endpoint", "dist_backend"))
    parser.add_argument("--trials", type=int, help="runs in all (default 10; a grid: all its points)")
    parser.add_argument("--parallel", type=int, default=1, help="trials at once (default 1)")
    together = parser.add_mutually_exclusive_group()
    together.add_argument("--group", type=int, metavar="N",
                          help="train up to N trials of the model together in one process, as one stacked model "
                          "(default: as many of those running at once as the device's memory holds; on a CPU, all "
                          "of them); --group N alone runs N at once")
    together.add_argument("--no-group", dest="group", action="store_const", const=1,
                          help="one process per trial")
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
    """The sweep as asked, checked before anything starts: one sentence for the first thing that cannot work
    (the same checks as the picker's sweep form, in workbench.sweep_options)."""
    from trainers.sweeps.space import searchable

    from workbench.options import given
    from workbench.sweep_options import SweepSettings, build_sweep

    searched = searchable()
    texts = {name: getattr(args, name) for name in searched if getattr(args, name, None) is not None}
    fixed = {k: v for k, v in given(args).items() if k not in searched}
    settings = SweepSettings(trials=args.trials, parallel=args.parallel, metric=args.metric, prune=args.prune,
                             sampler=args.sampler, launcher=args.launcher, partition=args.partition,
                             gpus_per_trial=args.gpus_per_trial, time=args.time, slurm_args=list(args.slurm_arg),
                             group=args.group)
    spec, notes = build_sweep(texts, settings, fixed)
    for note in notes:
        print(note, file=sys.stderr)
    return spec


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
