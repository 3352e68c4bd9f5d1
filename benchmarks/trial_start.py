"""Seconds from starting a detached trainer to its first logged batch, as a sweep starts each trial: a fresh
`python -m trainers.backends.worker` against one forked from a warm interpreter (trainers.warm, which
a sweep keeps from its first trial on). Interleaved rounds, medians; run it on a quiet machine.

Run:  python benchmarks/trial_start.py [--rounds 5] [--model mlp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainers import RunConfig  # noqa: E402
from trainers.backends.detached import start_detached  # noqa: E402
from trainers.warm import Warm  # noqa: E402


def once(home: Path, name: str, model: str, warm: Warm | None) -> float:
    config = RunConfig(model=model, dataset="synthetic-digits", epochs=1, batch_size=32, limit_batches=2,
                       limit_test_batches=1, log_every=1, device="cpu", out=str(home / name),
                       extra={"train_size": 256, "test_size": 64})
    start = time.monotonic()
    folder, process = start_detached(config, warm=warm)
    events = folder / "events.jsonl"
    while not (events.exists() and '"BatchEnded"' in events.read_text()):
        if process.poll() not in (None, 0):
            raise SystemExit(f"the trainer failed: {(folder / 'trainer.log').read_text()[-500:]}")
        time.sleep(0.01)
    seconds = time.monotonic() - start
    process.wait(timeout=120)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="mlp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["WORKBENCH_RUNS"] = str(home / "runs")
        warm = Warm()
        once(home, "warm-up", args.model, warm)  # the sweep's first trial: the warm interpreter imports torch
        times: dict[str, list[float]] = {"fresh": [], "warm": []}
        for i in range(args.rounds):
            times["fresh"].append(once(home, f"fresh-{i}", args.model, None))
            times["warm"].append(once(home, f"warm-{i}", args.model, warm))
        warm.close()
    print(f"{args.model} on synthetic-digits: seconds from start to the first logged batch, {args.rounds} "
          f"interleaved rounds")
    for label, t in times.items():
        print(f"  {label:5}  median {statistics.median(t):.2f} s  ({', '.join(f'{x:.2f}' for x in t)})")
    ratio = statistics.median(times["warm"]) / statistics.median(times["fresh"])
    print(f"warm / fresh = {ratio:.2f}")


if __name__ == "__main__":
    main()
