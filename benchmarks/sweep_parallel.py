"""Does `--parallel 2` pay on this machine, and what does the sweep process itself cost?

The same sweep (a grid of learning rates, so every round runs the same trials) runs with --parallel 1 and
--parallel 2, in interleaved rounds; each is timed from the first trial's start to the last trial's end.
The sweep runs in this process (as `workbench sweep` does), so this process's own CPU time is the sweep
process's: reading the trials' logs, Optuna, starting trainers. Run it on a quiet machine.

    .venv/bin/python benchmarks/sweep_parallel.py [--rounds 3] [--trials 6] [--model mlp-deep] [--epochs 1]

It prints each round, the medians, the throughput ratio (sequential time / parallel time: 1.0 means
--parallel 2 gains nothing, 2.0 is perfect) and the sweep process's CPU share of the wall time."""

from __future__ import annotations

import argparse
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


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one(root: Path, parallel: int, args) -> tuple[float, float]:
    lrs = ",".join(f"{0.01 * (k + 1):g}" for k in range(args.trials))
    base = dict(model=args.model, dataset="synthetic-digits", epochs=args.epochs, device="cpu")
    folder = make_sweep(SweepSpec(name="", base=base, space={"lr": lrs, "optimizer": "sgd"}, trials=args.trials,
                                  parallel=parallel, sampler="grid", prune="none", seed=0),
                        str(root / f"p{parallel}-{time.time_ns()}"))
    start, used = time.monotonic(), cpu()
    ended = [e for e in Sweeper(folder, poll=0.5).run() if isinstance(e, TrialEnded)]
    wall, own = time.monotonic() - start, cpu() - used
    assert [e.state for e in ended] == ["finished"] * args.trials, ended
    return wall, own


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--model", default="mlp-deep")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    shares: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("WORKBENCH_DATA", str(Path(tmp) / "data"))
        one(Path(tmp), 1, argparse.Namespace(**{**vars(args), "trials": 1}))  # draw the data once, outside the timing
        for r in range(args.rounds):
            for parallel in ((1, 2) if r % 2 == 0 else (2, 1)):
                wall, own = one(Path(tmp), parallel, args)
                walls[parallel].append(wall)
                shares.append(own / wall)
                print(f"round {r + 1}: --parallel {parallel}: {args.trials} trials in {wall:6.1f} s; the sweep "
                      f"process used {own:.2f} s of CPU ({100 * own / wall:.1f} % of one core)", flush=True)
    seq, par = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"median: --parallel 1 {seq:.1f} s, --parallel 2 {par:.1f} s")
    print(f"throughput of --parallel 2 / sequential: {seq / par:.2f}x (goal: at least 0.90)")
    print(f"sweep process CPU, median share of one core: {100 * statistics.median(shares):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
