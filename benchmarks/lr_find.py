"""Seconds of `workbench lr-find --model mlp-deep --dataset fashion-mnist`, start to last line, against the
5 s goal (issue 23); and the same command with torch's compiler imported first, as every optimizer did
before trainers.train.compiler (interleaved rounds, medians). Run it on a quiet machine.

Run:  python benchmarks/lr_find.py [--rounds 5] [--dataset fashion-mnist]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 5.0


def once(dataset: str, load_compiler: bool) -> float:
    first = "import torch._dynamo; " if load_compiler else ""
    code = (f"{first}import sys; from workbench.cli import main; "
            f"sys.exit(main(['lr-find', '--model', 'mlp-deep', '--dataset', {dataset!r}]))")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if out.returncode != 0 or "suggested learning rate" not in out.stdout:
        raise SystemExit(f"lr-find failed: {out.stderr.strip() or out.stdout.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dataset", default="fashion-mnist")
    args = parser.parse_args()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for load_compiler in (False, True):
            times[load_compiler].append(once(args.dataset, load_compiler))
    print(f"workbench lr-find --model mlp-deep --dataset {args.dataset}: seconds, {args.rounds} interleaved rounds")
    for load_compiler, label in ((False, "as shipped             "), (True, "torch._dynamo loaded too")):
        t = times[load_compiler]
        print(f"  {label}  median {statistics.median(t):.2f} s  ({', '.join(f'{x:.2f}' for x in t)})")
    shipped = statistics.median(times[False])
    print(f"goal {GOAL:.0f} s: median / goal = {shipped / GOAL:.2f}  "
          f"(compiler deferred saves {statistics.median(times[True]) - shipped:.2f} s)")


if __name__ == "__main__":
    main()
