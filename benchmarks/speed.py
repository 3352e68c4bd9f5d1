"""How fast the workbench trains, against the tutorial loop it replaces, the bare compute floor and the
machine's own limit.

Run:  python benchmarks/speed.py [--models mlp-deep cnn-pool] [--repeat 5] [--options] [--epoch-check]

For each model, in this one process, on the same data, model, batch size (64) and optimizer:
  (a) tutorial: torchvision dataset + ToTensor/Normalize + DataLoader(batch 64, shuffle) + loss.item() per batch
  (b) workbench: `workbench train`'s path headless (trainers.backends.train_here: loop + run folder)
  (c) app:       the same run started from the Textual app, charts on screen (Textual run_test)
  (d) floor:     the workbench's step (by hand for a plain MLP: trainers.train.mlpstep) over pre-made normalised
                 tensors, no reporting
(b), (c) and (d) run --repeat rounds, interleaved, and medians are compared. For (a), (b) and (d) it states
the model FLOPs utilisation: the training step's FLOPs per sample (counted by torch's FlopCounterMode)
times samples/s, over the peak of a large float32 matmul measured in the same run.
--options measures what might go past the eager floor, each against eager in interleaved rounds.
--epoch-check trains every 1x28x28 seed model for 3 epochs and reports each epoch's time against the first.
With a CUDA GPU present, the GPU figures follow (tutorial, workbench, floor; a cnn-pool epoch's seconds);
--gpu-only runs only those (benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainers import RunConfig  # noqa: E402
from trainers.data.registry import availability, load  # noqa: E402
from trainers.events import EpochEnded, RunFailed  # noqa: E402
from trainers.train.mlpstep import hand_step, linear_chain  # noqa: E402
from trainers.models import MODELS  # noqa: E402
from trainers.train.prepare import make_optimizer, resolve_config  # noqa: E402

BATCH = 64


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def torchvision_root(data, tmp: Path) -> Path:
    """The same images laid out as torchvision.datasets.FashionMNIST expects (un-gzipped raw IDX files)."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    _write_idx(raw / "train-images-idx3-ubyte", data.train_x[:, 0].numpy())
    _write_idx(raw / "train-labels-idx1-ubyte", data.train_y.numpy())
    _write_idx(raw / "t10k-images-idx3-ubyte", data.test_x[:, 0].numpy())
    _write_idx(raw / "t10k-labels-idx1-ubyte", data.test_y.numpy())
    return tmp


def spec_setup(model_name: str, seed: int, device="cpu", plain: bool = False, **optimizer_options):
    """The model and optimizer exactly as the workbench builds them for this model's seed defaults;
    `plain`: the optimizer as the seeds write it, `torch.optim.SGD(model.parameters(), lr, momentum)`."""
    torch.manual_seed(seed)
    model = MODELS[model_name].build().to(device)
    cfg = resolve_config(RunConfig(model=model_name))
    if plain:
        optimizer_options.setdefault("foreach", None)
    if optimizer_options:
        kind = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.Adam
        extra = {"momentum": cfg.momentum} if cfg.optimizer == "sgd" else {}
        return model, kind(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **extra,
                           **optimizer_options)
    return model, make_optimizer(cfg, model.parameters())


def flops_per_sample(model_name: str) -> float:
    """Forward and backward FLOPs of one training batch of 64, per sample (FlopCounterMode counts matmuls
    and convolutions, 2 per multiply-add; the optimizer's elementwise work is left out)."""
    from torch.utils.flop_counter import FlopCounterMode

    model, _ = spec_setup(model_name, 0)
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / BATCH


def matmul_peak(device="cpu", n: int = 2048, rounds: int = 5) -> float:
    """GFLOP/s of a large float32 matmul on this device now: the best of a few timed rounds."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    best = 0.0
    for _ in range(rounds):
        sync(device)
        start, k = time.perf_counter(), 10
        for _ in range(k):
            a @ b
        sync(device)
        best = max(best, 2 * n ** 3 * k / (time.perf_counter() - start) / 1e9)
    return best


def cpu_times() -> tuple[int, int]:
    """(all, steal) jiffies of this machine so far: steal is time the hypervisor gave our virtual CPUs'
    turns to someone else, the noise a shared virtual machine adds to every figure here."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_since(start: tuple[int, int]) -> float | None:
    total, steal = cpu_times()
    return (steal - start[1]) / (total - start[0]) if total > start[0] else None


def sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def tutorial(model_name: str, root: Path, mean, std, epochs: int, seed: int, device="cpu") -> tuple[float, float]:
    """(a) The seeds' loop, line for line in spirit."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    train = datasets.FashionMNIST(str(root), train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(str(root), train=False, download=False, transform=tf)
    loader = DataLoader(train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model, opt = spec_setup(model_name, seed, device, plain=True)
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        running = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            n += len(y)
    rate = n / (time.perf_counter() - start)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=1000):
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
    return rate, correct / len(test)


def floor(model_name: str, data, mean, std, epochs: int, seed: int, device="cpu", step_options=None) -> float:
    """(d) Compute only: pre-made normalised tensors on the device, fixed order, no reporting."""
    step, _ = make_step(model_name, seed, device, **(step_options or {}))
    x = ((data.train_x.float().div(255) - mean[0]) / std[0]).to(device)
    y = data.train_y.to(device)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(device)
    x, y = x[perm], y[perm]
    for i in range(0, 5 * BATCH, BATCH):  # a compiled step compiles here, outside the timing
        step(x[i:i + BATCH], y[i:i + BATCH])
    sync(device)
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(y), BATCH):
            step(x[i:i + BATCH], y[i:i + BATCH])
            n += len(y[i:i + BATCH])
    sync(device)
    return n / (time.perf_counter() - start)


def make_step(model_name: str, seed: int, device="cpu", compile: bool = False, amp: str = "off",
              threads: int | None = None, precision: str | None = None, channels_last: bool = False,
              hand: bool = True, **optimizer_options):
    """One training step as the workbench's loop takes it, with the option asked for: by hand for a
    plain MLP (trainers.train.mlpstep) unless `hand` is False or an option rules it out, else through autograd.
    torch.compile compiles the model, as `--compile` does (the loss and the optimizer step stay eager)."""
    model, opt = spec_setup(model_name, seed, device, **optimizer_options)
    by_hand = hand_step(model, opt, input_shape=tuple(MODELS[model_name].input_shape), loss=MODELS[model_name].loss,
                        device=torch.device(device), fast=hand and not channels_last, amp=amp, compiled=compile)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    net = model
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        torch._dynamo.reset()  # each candidate compiles its own model, not a cached graph of another's
        net = torch.compile(model)

    def step(xb, yb):
        if threads:
            torch.set_num_threads(threads)
        set_precision(precision)
        if by_hand is not None:
            by_hand(xb, yb)
            return
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(str(device).split(":")[0], dtype=dtype) if dtype else contextlib.nullcontext():
            loss = F.cross_entropy(net(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, 0.0


def set_precision(precision: str | None) -> None:
    """oneDNN's float32 precision for matmuls and convolutions: "bf16" lets them round their inputs to
    bfloat16 inside the kernel (AMX on this CPU), as TF32 does on a GPU; None is full float32."""
    for kind in (torch.backends.mkldnn.matmul, torch.backends.mkldnn.conv):
        kind.fp32_precision = precision or "ieee"


def config(model_name: str, dataset: str, epochs: int, seed: int, device="cpu") -> RunConfig:
    return RunConfig(model=model_name, dataset=dataset, epochs=epochs, batch_size=BATCH, seed=seed,
                     device=device, normalize=True)


def workbench_headless(model_name: str, dataset: str, epochs: int, seed: int, device="cpu") -> tuple[float, float]:
    """(b) What `workbench train` runs: the loop with the run folder written as it goes."""
    from trainers.backends import claim, train_here

    with tempfile.TemporaryDirectory() as out:
        cfg, lock = claim(dataclasses.replace(config(model_name, dataset, epochs, seed, device), out=out))
        ends = []
        for event in train_here(cfg, lock=lock):
            if isinstance(event, RunFailed):
                raise SystemExit(f"the run failed: {event.reason}")
            if isinstance(event, EpochEnded):
                ends.append(event)
    seen = sum(e.samples_per_sec * e.seconds for e in ends)
    return seen / sum(e.seconds for e in ends), ends[-1].test_accuracy


def in_app(model_name: str, dataset: str, epochs: int, seed: int) -> tuple[float, float, float]:
    """(c) The same run started from the Textual app, charts on screen, at 100x30."""
    from workbench.bench import run_in_app

    rows, ui_cpu = run_in_app(config(model_name, dataset, epochs, seed), size=(100, 30))
    seen = sum(r["samples_per_sec"] * r["train_seconds"] for r in rows)
    return seen / sum(r["train_seconds"] for r in rows), rows[-1]["test_accuracy"], ui_cpu


def first_frame(marker: str = "mlp-deep", timeout: float = 20.0) -> float | None:
    """Seconds from starting `workbench` in a pseudo-terminal to the picker's text on screen."""
    import pty
    import select

    exe = shutil.which("workbench")
    cmd = [exe] if exe else [sys.executable, "-m", "workbench.cli"]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        os.execvp(cmd[0], cmd)
    start = time.perf_counter()
    buf = b""
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    buf += os.read(fd, 65536)
                except OSError:
                    break
                if marker.encode() in buf:
                    return time.perf_counter() - start
        return None
    finally:
        os.write(fd, b"q")
        time.sleep(0.3)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)


def options_report(name: str, data, mean, std, seed: int, rounds: int, device="cpu") -> None:
    """What each candidate gives against the eager floor, interleaved so that drift hits all alike."""
    candidates = {
        "eager, loop optimizer": {"foreach": False, "hand": False},
        "foreach optimizer": {"foreach": True, "hand": False},
        "fused optimizer (autograd's default)": {"fused": True, "hand": False},
        "fused, 1 intra-op thread": {"threads": 1, "fused": True, "hand": False},
        "fused, bf16 autocast (--amp bf16)": {"amp": "bf16", "fused": True, "hand": False},
        "fused, torch.compile (--compile)": {"compile": True, "fused": True, "hand": False},
        "fused, float32 matmuls in bf16": {"precision": "bf16", "fused": True, "hand": False},
        "fused, channels-last (--channels-last)": {"channels_last": True, "fused": True},
    }
    spec = MODELS[name]
    if linear_chain(spec.build(), tuple(spec.input_shape)) is not None:  # a plain MLP: its step by hand
        candidates["hand step, fused SGD (default here)"] = {"fused": True}
    results: dict[str, list[float]] = {k: [] for k in candidates}
    compile_seconds = time.perf_counter()
    # pays the compile (cached afterwards)
    floor(name, data, mean, std, 1, seed, device, {"compile": True, "fused": True, "hand": False})
    compile_seconds = time.perf_counter() - compile_seconds
    for _ in range(rounds):
        for label, opts in candidates.items():
            results[label].append(floor(name, data, mean, std, 1, seed, device, opts))
            torch.set_num_threads(os.cpu_count() or 1)
            set_precision(None)
    base = statistics.median(results["eager, loop optimizer"])
    print(f"  options, {rounds} interleaved rounds each (one epoch of (d)); first compile with its warm-up took "
          f"{compile_seconds:.0f} s, later runs read inductor's cache")
    for label, rates in results.items():
        print(f"    {label:<36} {statistics.median(rates):10,.0f} samples/s   x{statistics.median(rates) / base:5.2f}")


def adam_report(data, mean, std, seed: int, rounds: int, steps: int = 300) -> None:
    """Adam's three implementations on mlp-wide (its seed optimizer), interleaved: the loop (torch's
    default on a CPU, and the workbench's), foreach (the same numbers) and fused (--fused-adam)."""
    x = ((data.train_x[:steps * BATCH].float().div(255) - mean[0]) / std[0])
    y = data.train_y[:steps * BATCH]

    def make(**kind):
        torch.manual_seed(seed)
        model = MODELS["mlp-wide"].build()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, **kind)

        def epoch() -> float:
            start = time.perf_counter()
            for i in range(0, len(y), BATCH):
                loss = F.cross_entropy(model(x[i:i + BATCH]), y[i:i + BATCH])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return len(y) / (time.perf_counter() - start)
        return epoch

    kinds = {"loop (torch's default on a CPU)": make(foreach=False), "foreach": make(foreach=True),
             "fused (--fused-adam)": make(fused=True)}
    rates = {k: [] for k in kinds}
    for _ in range(rounds):
        for label, epoch in kinds.items():
            rates[label].append(epoch())
    base = statistics.median(rates["loop (torch's default on a CPU)"])
    print(f"\n  Adam on mlp-wide, {rounds} interleaved rounds of {steps} batches")
    for label, r in rates.items():
        print(f"    {label:<36} {statistics.median(r):10,.0f} samples/s   x{statistics.median(r) / base:5.2f}")


def epoch_check(dataset: str, epochs: int = 3) -> None:
    """Every 1x28x28 seed model: each epoch's training seconds against the first."""
    import json
    import subprocess

    print(f"\nepoch check: every seed model on {dataset}, {epochs} epochs, training seconds per epoch "
          f"(each a `workbench train` process of its own, as a user runs it)")
    for name, spec in MODELS.items():
        if spec.input_shape != (1, 28, 28):
            continue
        with tempfile.TemporaryDirectory() as out:
            # A process of its own: the per-thread float settings a trainer makes at its start (flushing
            # denormals) do not reach an intra-op pool that this benchmark's earlier runs created.
            subprocess.run([sys.executable, "-m", "workbench.cli", "train", "--model", name, "--dataset", dataset,
                            "--epochs", str(epochs), "--device", "cpu", "--out", f"{out}/run"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rows = [json.loads(line) for line in Path(f"{out}/run/metrics.jsonl").read_text().splitlines()]
            times = [r["train_seconds"] for r in rows]
        worst = max(t / times[0] for t in times[1:]) if len(times) > 1 else 1.0
        flag = "" if worst <= 1.10 else "   <- slower than the first by more than 10 %"
        print(f"  {name:<14} {'  '.join(f'{t:6.1f}s' for t in times)}   worst/first {worst:4.2f}{flag}")


def gpu_report(data, mean, std, seed: int, rounds: int, models=("mlp-deep", "cnn-pool"),
               dataset: str = "fashion-mnist") -> None:
    """(a) the tutorial loop, (b) the workbench (median of `rounds`) and (d) the floor on cuda, one epoch each,
    batch 64; and one epoch's training seconds of (b)."""
    device = "cuda"
    print(f"\nGPU: {torch.cuda.get_device_name(0)}; matmul peak {matmul_peak(device, 8192):,.0f} GFLOP/s (fp32); "
          f"torch {torch.__version__} (CUDA {torch.version.cuda}); batch {BATCH}, one epoch, {rounds} rounds of (b) "
          f"and (d)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(data, Path(tmp))
        for name in models:
            a, _ = tutorial(name, root, mean, std, 1, seed, device)
            bs = [workbench_headless(name, dataset, 1, seed, device)[0] for _ in range(rounds)]
            ds = [floor(name, data, mean, std, 1, seed, device) for _ in range(rounds)]
            b, d = statistics.median(bs), statistics.median(ds)
            print(f"  {name:<10} (a) {a:10,.0f}  (b) {b:10,.0f}  (d) {d:10,.0f} samples/s   b/a {b / a:5.1f}  "
                  f"b/d {b / d:4.2f}   one epoch (b): {data.train_size / b:.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=None, help="default: mlp-deep cnn-pool (--gpu-only: cnn-pool)")
    ap.add_argument("--dataset", default="auto", help="fashion-mnist when installed, else synthetic-digits")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="rounds of (b), (c), (d), interleaved; medians reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-app", action="store_true")
    ap.add_argument("--options", action="store_true", help="measure the candidates past the eager floor")
    ap.add_argument("--epoch-check", action="store_true", help="each epoch's time against the first, every model")
    ap.add_argument("--gpu-only", action="store_true", help="only the GPU section, on Fashion-MNIST (synthetic-digits "
                    "where it is not here): (a), (b) and (d) on cuda and one epoch's seconds (benchmarks/gpu_check.sh "
                    "runs it)")
    args = ap.parse_args()
    os.environ.setdefault("WORKBENCH_RUNS", tempfile.mkdtemp(prefix="speed-runs-"))
    if args.gpu_only:
        if not torch.cuda.is_available():
            print("no CUDA GPU here: the GPU figures are not measured")
            return 0
        dataset = "fashion-mnist" if availability("fashion-mnist").state == "ready" else "synthetic-digits"
        if dataset != "fashion-mnist":  # a GPU machine without the files (and without a network to fetch them)
            print("Fashion-MNIST is not here (WORKBENCH_DATA/fashion-mnist/*.gz): synthetic-digits instead, "
                  "10,000 images of the same shape")
        data = load(dataset, input_shape=(1, 28, 28))
        gpu_report(data, data.mean, data.std, args.seed, args.repeat, args.models or ["cnn-pool"], dataset)
        return 0
    args.models = args.models or ["mlp-deep", "cnn-pool"]
    dataset = args.dataset
    if dataset == "auto":
        dataset = "fashion-mnist" if availability("fashion-mnist").state == "ready" else "synthetic-digits"
    extra = {"train_size": 60000, "test_size": 10000} if dataset == "synthetic-digits" else {}
    data = load(dataset, input_shape=(1, 28, 28), extra=extra)
    mean, std = data.mean, data.std
    peak = matmul_peak()
    print(f"dataset {dataset}: {data.train_size} train / {data.test_size} test; batch {BATCH}; "
          f"{args.epochs} epoch(s); (b) (c) (d) {args.repeat} rounds each, interleaved, median shown; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; float32 matmul peak "
          f"{peak:,.0f} GFLOP/s (2048x2048, best of 5)", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(data, Path(tmp))
        for name in args.models:
            spec = MODELS[name]
            flops = flops_per_sample(name)
            print(f"\n{name} ({spec.defaults.get('optimizer')} lr {spec.defaults.get('lr')}; "
                  f"{flops / 1e6:.2f} MFLOP per training sample)", flush=True)
            a, acc_a = tutorial(name, root, mean, std, args.epochs, args.seed)
            print(f"  (a) tutorial loop   {a:10,.0f} samples/s   test acc {acc_a:.4f}   "
                  f"utilisation {a * flops / 1e9 / peak:5.1%}", flush=True)
            bs, cs, ds, uis = [], [], [], []
            acc_b = acc_c = None
            for r in range(args.repeat):
                round_start = cpu_times()
                b, acc_b = workbench_headless(name, dataset, args.epochs, args.seed)
                bs.append(b)
                c = None if args.skip_app else in_app(name, dataset, args.epochs, args.seed)
                if c:
                    cs.append(c[0])
                    acc_c = c[1]
                    uis.append(c[2])
                ds.append(floor(name, data, mean, std, args.epochs, args.seed))
                stolen = steal_since(round_start)
                print(f"      round {r + 1}: (b) {b:,.0f}  (c) {c[0] if c else float('nan'):,.0f}  "
                      f"(d) {ds[-1]:,.0f} samples/s" + (f"  app process {c[2]:.1%} of a core" if c else "")
                      + (f"  steal {stolen:.1%}" if stolen is not None else ""), flush=True)
            b, d = statistics.median(bs), statistics.median(ds)
            c = statistics.median(cs) if cs else None
            paired = [f"b/d {statistics.median(x / y for x, y in zip(bs, ds)):.2f}"]
            if cs:
                paired.append(f"c/b {statistics.median(x / y for x, y in zip(cs, bs)):.2f}")
            print(f"  round by round, medians of the ratios: {', '.join(paired)} (drift between rounds cancels)")
            print(f"  (b) workbench       {b:10,.0f} samples/s   test acc {acc_b:.4f}   "
                  f"utilisation {b * flops / 1e9 / peak:5.1%}", flush=True)
            if c:
                print(f"  (c) from the app    {c:10,.0f} samples/s   test acc {acc_c:.4f}   app process "
                      f"{statistics.median(uis):.1%} of one core while training", flush=True)
            print(f"  (d) compute floor   {d:10,.0f} samples/s                      "
                  f"utilisation {d * flops / 1e9 / peak:5.1%}", flush=True)
            if args.options:
                options_report(name, data, mean, std, args.seed, max(3, args.repeat))
            rows.append((name, a, b, c, d, acc_a, acc_b, flops))
        if args.options:
            adam_report(data, mean, std, args.seed, max(3, args.repeat))
    print("\nsummary (ratios of samples/s; goals: b/a >= 3.5 for mlp-deep, >= 2.5 for cnn-pool; b/d >= 0.90; "
          "c/b >= 0.95)")
    print(f"{'model':<14}{'b/a':>8}{'b/d':>8}{'c/b':>8}{'util a':>9}{'util b':>9}{'util d':>9}   {'acc a':>7} {'acc b':>7}")
    for name, a, b, c, d, acc_a, acc_b, flops in rows:
        cb = f"{c / b:8.2f}" if c else f"{'n/a':>8}"
        u = [f"{r * flops / 1e9 / peak:9.1%}" for r in (a, b, d)]
        print(f"{name:<14}{b / a:8.2f}{b / d:8.2f}{cb}{''.join(u)}   {acc_a:7.4f} {acc_b:7.4f}")
    if args.epoch_check:
        epoch_check(dataset)
    if torch.cuda.is_available() and dataset == "fashion-mnist":
        gpu_report(data, mean, std, args.seed, args.repeat)
    else:
        print("\nno CUDA GPU here: the GPU figures are not measured")
    frames = [first_frame() for _ in range(3)]
    frames = [f for f in frames if f is not None]
    print(f"\ntime to the picker's first frame (median of {len(frames)}): {statistics.median(frames):.2f} s"
          if frames else "\ntime to first frame: not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
