"""What do 8 trials trained together cost, against one trial alone? (issue 25)

For mlp (8 Adam learning rates) and cnn-pool (8 SGD learning rates) on Fashion-MNIST, one epoch each: a sweep of
one trial, and a sweep of 8 trials with --parallel 8 (trained as one group process), in interleaved rounds. Both
go through the sweep process (trainers.sweeps.runner.Sweeper) as `workbench sweep` runs them, each timed from
the sweep's start to its last trial's end: process start, imports, data, training, evaluation, writing. The goal
(a quiet machine, medians): 8 mlp trials in at most 3x one trial's wall time, 8 cnn-pool in at most 4x.

Then, for the one trial's learning rate (one of the 8): how far the grouped trial ends from the trial alone
(test accuracy, the loss curve batch by batch), and where each millisecond of the grouped step goes (the
profiler's kernels by kind, against one trial's step), in this process with the trials' thread count.

    .venv/bin/python benchmarks/sweep_grouped.py [--rounds 3] [--models mlp,cnn-pool] [--separate] [--threads 1]
                                                 [--fused-adam]

`--separate` also times the 8 trials as sweeps ran them before: one process each, 2 at a time (--no-group).
About 4 minutes for 3 rounds on 2 cores (8 cnn-pool trials take most of it); Fashion-MNIST's IDX files must be
where trainers.data finds them (/usr/share/datasets/fashion-mnist, or $WORKBENCH_DATA)."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.sweeps import make_sweep  # noqa: E402
from trainers.sweeps.runner import Sweeper, TrialEnded  # noqa: E402
from trainers.sweeps.study import SweepSpec  # noqa: E402

TRIALS = 8
# 8 learning rates around each model's own (mlp: Adam 1e-3, cnn-pool: SGD 0.01), which the one trial takes
LRS = {"mlp": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2], "cnn-pool": [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 3e-2, 5e-2, 0.1]}
ALONE = {"mlp": 3, "cnn-pool": 3}  # the index of the one trial's lr in LRS


def lr_text(lr: float) -> str:
    return f"{lr:g}"


def cpu() -> float:
    """CPU seconds of this process (the sweep process) and of its children once reaped (the trainers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def sweep(root: Path, model: str, lrs: list[float], parallel: int, group: int, threads: int | None,
          fused_adam: bool = False) -> tuple[float, float, Path]:
    base = dict(model=model, dataset="fashion-mnist", epochs=1, device="cpu", download=False, fused_adam=fused_adam)
    if threads:
        base["threads"] = threads
    space = {"lr": ",".join(lr_text(v) for v in lrs)} if len(lrs) > 1 else {"lr": lr_text(lrs[0])}
    folder = make_sweep(SweepSpec(name="", base=base, space=space, trials=len(lrs), parallel=parallel,
                                  sampler="grid" if len(lrs) > 1 else "random", prune="none", seed=0, group=group),
                        str(root / f"{model}-{len(lrs)}-{parallel}-{time.time_ns()}"))
    start, used = time.monotonic(), cpu()
    ended = [e for e in Sweeper(folder, poll=0.2).run() if isinstance(e, TrialEnded)]
    wall = time.monotonic() - start
    for trial in folder.glob("trial-*"):  # reap the trainers here, so that their CPU time counts for this sweep
        pid = json.loads((trial / "status.json").read_text()).get("pid")
        try:
            os.waitpid(int(pid), 0)
        except (ChildProcessError, TypeError, ValueError):
            pass
    assert [e.state for e in ended] == ["finished"] * len(lrs), ended
    return wall, cpu() - used, folder


def trial_of(folder: Path, lr: float) -> Path:
    for trial in sorted(folder.glob("trial-*")):
        if math.isclose(json.loads((trial / "config.json").read_text())["lr"], lr, rel_tol=1e-6):
            return trial
    raise LookupError(lr)


def record(trial: Path) -> tuple[list[float], dict]:
    losses = []
    for line in (trial / "events.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("type") == "BatchEnded":
            losses.append(row["data"]["loss"] if "data" in row else row["loss"])
    return losses, json.loads((trial / "metrics.jsonl").read_text().splitlines()[-1])


def agreement(model: str, one: Path, group: Path) -> str:
    lr = LRS[model][ALONE[model]]
    a_losses, a = record(trial_of(one, lr))
    g_losses, g = record(trial_of(group, lr))
    assert len(a_losses) == len(g_losses)
    worst = max(abs(x - y) / abs(y) for x, y in zip(g_losses, a_losses))
    return (f"  {model:9s} lr {lr:.3g}: test accuracy {100 * g['test_accuracy']:.2f} % grouped, "
            f"{100 * a['test_accuracy']:.2f} % alone ({100 * (g['test_accuracy'] - a['test_accuracy']):+.2f} points); "
            f"loss curve: worst batch {100 * worst:.4f} % apart over {len(a_losses)} reports; train seconds "
            f"{g['train_seconds']:.1f} grouped (all {TRIALS}), {a['train_seconds']:.1f} alone")


KINDS = [  # (kind, ATen ops whose self time counts there)
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul")),
    ("convolutions", ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::_convolution",
                      "aten::convolution", "aten::conv2d")),
    ("pooling", ("aten::max_pool2d_with_indices", "aten::max_pool2d_with_indices_backward")),
    ("optimizer kernels", ("aten::_fused_adam_", "aten::_fused_sgd_", "aten::_foreach_add_")),
    ("copies and layout", ("aten::copy_", "aten::clone", "aten::contiguous", "aten::index_select", "aten::repeat",
                           "aten::cat", "aten::stack")),
    ("elementwise (Adam's loop)", ("aten::lerp_", "aten::addcmul_", "aten::addcdiv_", "aten::sqrt", "aten::div",
                                   "aten::mul_", "aten::add_", "aten::add", "aten::div_")),
    ("fills and allocation", ("aten::fill_", "aten::zero_", "aten::empty", "aten::empty_like", "aten::zeros_like",
                              "aten::empty_strided", "aten::zeros")),
]


def breakdown(model: str, k: int, steps: int = 40, fused_adam: bool = False) -> str:
    """Per step: wall ms of one trial's step and of the grouped step (K trials), and the grouped step's kernel
    time by kind (torch.profiler, self CPU time), the rest being Python, autograd and dispatch."""
    import dataclasses

    import torch
    from torch.profiler import profile

    from trainers import RunConfig
    from trainers.train.group import StackedOptimizer
    from trainers.train.prepare import prepare
    from trainers.train.stacked import StackedNet
    from trainers.train.step import TrainStep

    base = RunConfig(model=model, dataset="fashion-mnist", epochs=1, device="cpu", download=False,
                     fused_adam=fused_adam)
    sessions = [prepare(dataclasses.replace(base, lr=LRS[model][0]))]
    for lr in LRS[model][1:k]:
        sessions.append(prepare(dataclasses.replace(base, lr=lr), data=sessions[0].data))
    s0 = sessions[0]
    batches = s0.batches(True, torch.Generator().manual_seed(0))
    data = [(x, y) for (x, y, _), _ in zip(batches.epoch(0), range(steps + 10))]
    one = prepare(dataclasses.replace(base, lr=LRS[model][0]), data=s0.data)
    single = TrainStep(one.model, one.optimizer, loss=one.loss, amp="off", device=one.device,
                       input_shape=one.input_shape)
    net = StackedNet([s.model for s in sessions], s0.input_shape, loss=s0.loss, device=s0.device)
    opt = StackedOptimizer(net, sessions)

    def grouped(x, y):
        losses, out = net.step(x, y)
        opt.step()
        return losses, out

    def wall(fn) -> float:
        for x, y in data[:10]:
            fn(x, y)
        start = time.perf_counter()
        for x, y in data[10:]:
            fn(x, y)
        return (time.perf_counter() - start) / steps * 1000

    one_ms, group_ms = wall(single), wall(grouped)
    with profile() as prof:
        for x, y in data[10:]:
            grouped(x, y)
    times: dict[str, float] = {}
    total = 0.0
    for event in prof.key_averages():
        total += event.self_cpu_time_total
        kind = next((name for name, ops in KINDS if event.key in ops), "other kernels")
        times[kind] = times.get(kind, 0.0) + event.self_cpu_time_total
    scale = 1 / 1000 / steps  # profiler microseconds over all steps -> ms a step
    profiled = total * scale
    parts = ", ".join(f"{name} {times.get(name, 0.0) * scale:.2f}" for name, _ in [*KINDS, ("other kernels", ())]
                      if times.get(name))
    path = "hand MLP step" if net.chain is not None else "stacked graph + autograd"
    return (f"  {model:9s} ({path}, batch {s0.cfg.batch_size}, {torch.get_num_threads()} threads): one trial's step "
            f"{one_ms:.2f} ms; the grouped step of {k} {group_ms:.2f} ms = {group_ms / k:.2f} ms a trial "
            f"({group_ms / one_ms:.2f}x one step)\n"
            f"            under the profiler {profiled:.2f} ms a step: {parts}; "
            f"Python, autograd and dispatch the rest of the wall time")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn-pool")
    parser.add_argument("--separate", action="store_true", help="also 8 trials one process each, 2 at a time")
    parser.add_argument("--fused-adam", action="store_true", help="mlp's Adam trials (alone and grouped) with "
                        "--fused-adam")
    parser.add_argument("--threads", type=int, help="torch threads of every trainer (default: the sweep's share of "
                        "the cores); 1 on a busy machine: OpenMP's barriers wait on preempted threads")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    kept: dict[tuple[str, str], Path] = {}
    goals = {"mlp": 3.0, "cnn-pool": 4.0}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("WORKBENCH_RUNS", str(root / "runs"))
        kinds = ["one", "group"] + (["separate"] if args.separate else [])
        for r in range(args.rounds):
            for model in models:
                order = kinds if r % 2 == 0 else kinds[::-1]
                line = []
                for kind in order:
                    if kind == "one":
                        wall, used, folder = sweep(root, model, [LRS[model][ALONE[model]]], 1, 1, args.threads, args.fused_adam)
                    elif kind == "group":
                        wall, used, folder = sweep(root, model, LRS[model], TRIALS, 0, args.threads, args.fused_adam)
                    else:
                        wall, used, folder = sweep(root, model, LRS[model], 2, 1, args.threads, args.fused_adam)
                    walls.setdefault((model, kind), []).append(wall)
                    cpus.setdefault((model, kind), []).append(used)
                    kept[(model, kind)] = folder
                    line.append(f"{kind} {wall:.1f} s ({used:.1f} CPU s)")
                print(f"round {r + 1}: {model}: " + ", ".join(line), flush=True)
        print(f"\nmedians of {args.rounds} rounds (wall time of the sweep, start to last trial's end):")
        for model in models:
            one = statistics.median(walls[(model, "one")])
            group = statistics.median(walls[(model, "group")])
            one_cpu, group_cpu = statistics.median(cpus[(model, "one")]), statistics.median(cpus[(model, "group")])
            extra = ""
            if args.separate:
                extra = f", one process each 2 at a time {statistics.median(walls[(model, 'separate')]):.1f} s"
            print(f"  {model:9s} one trial {one:.1f} s, {TRIALS} grouped {group:.1f} s: {group / one:.2f}x one trial "
                  f"(goal: at most {goals.get(model, 0):.0f}x; {TRIALS} one after another: {TRIALS}x){extra}; CPU "
                  f"seconds {one_cpu:.1f} and {group_cpu:.1f}: {group_cpu / one_cpu:.2f}x")
        print("\nthe grouped trial against the same trial alone (Fashion-MNIST, one epoch):")
        for model in models:
            print(agreement(model, kept[(model, "one")], kept[(model, "group")]))
    print("\nwhere the grouped step's milliseconds go (this process, real batches):")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for model in models:
        print(breakdown(model, TRIALS, fused_adam=args.fused_adam), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
