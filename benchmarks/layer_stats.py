"""What layer statistics cost: the time of one recorded step against a plain training step, measured step by
step in the same process and interleaved, so a machine loaded by others slows both alike; the overhead of
--layer-stats N is then (extra time of a record) / (N plain steps).

Run:  python benchmarks/layer_stats.py [--models mlp-deep lenet5 cnn-strided] [--rounds 30] [--device cpu]
                                       [--threads 1]

On a CPU shared with other work, --threads 1 gives steadier figures: two OpenMP threads on two busy cores
wait on each other, and the wait lands on whichever op came next (it made a record look 5x a step here).

A plain step is what Trainer.train_epoch does per batch (forward, loss, zero_grad, backward, optimizer step)
on batches of 64. A recorded step adds what the trainer adds when stats are due: the weights copied before
the step, then norms, histograms, and the fixed batch of test images walked with hooks (LayerProbe). The
goal is under 5 % at N = 50; --layer-stats 0 (each epoch's last batch) costs one record per epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from trainers import RunConfig  # noqa: E402
from trainers.train.loop import loss_fn, prepare  # noqa: E402
from trainers.probes.layers import probe_for  # noqa: E402

EPOCH_BATCHES = 938  # MNIST's 60,000 images in batches of 64


def measure(model: str, rounds: int, plain_per_round: int, device: str) -> tuple[float, float, int]:
    """(median plain step, median extra of a recorded step, layers in a record), in seconds."""
    cfg = RunConfig(model=model, dataset="synthetic-digits", epochs=1, batch_size=64, device=device,
                    layer_stats=50, extra={"train_size": 64 * 64, "test_size": 256})
    s = prepare(cfg)
    model_, opt, criterion = s.model, s.optimizer, loss_fn(s.loss)
    batches = [(x, y) for x, y, _ in s.batches(True, torch.Generator().manual_seed(0)).epoch(0)]
    sample_x, _ = s.sample_images()
    probe = probe_for(s, sample_x)
    sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        out = model_(x)
        loss = criterion(out.float(), y if s.classify else x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(10):  # warm-up
        step(i)
    plain, extra, layers = [], [], 0
    for r in range(rounds):
        for i in range(plain_per_round):
            sync()
            t = time.perf_counter()
            step(i)
            sync()
            plain.append(time.perf_counter() - t)
        sync()
        t = time.perf_counter()
        probe.before_step()
        step(r)
        record = probe.after_step(1, r + 1, EPOCH_BATCHES, r + 1)
        sync()
        extra.append(time.perf_counter() - t)
        layers = len(record.layers)
    base = statistics.median(plain)
    return base, statistics.median(extra) - base, layers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mlp-deep", "lenet5", "cnn-strided"])
    ap.add_argument("--rounds", type=int, default=30, help="recorded steps measured, each after --plain plain ones")
    ap.add_argument("--plain", type=int, default=10, help="plain steps per round")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, batch 64, medians of "
          f"{args.rounds * args.plain} plain and {args.rounds} recorded steps")
    for model in args.models:
        step, extra, layers = measure(model, args.rounds, args.plain, args.device)
        every50 = extra / (50 * step)
        epoch = extra / (EPOCH_BATCHES * step)
        print(f"  {model:12} step {1e3 * step:7.2f} ms · a record +{1e3 * extra:6.2f} ms ({layers} rows) · "
              f"--layer-stats 50: {100 * every50:+.2f} % · 0 (epoch end, {EPOCH_BATCHES} batches): "
              f"{100 * epoch:+.3f} %")


if __name__ == "__main__":
    main()
