"""How fast the workbench trains, against the tutorial loop it replaces and the bare compute floor.

Run:  python benchmarks/speed.py [--models mlp-deep cnn-pool] [--epochs 1] [--dataset auto]

For each model, in this one process, on the same data, model, batch size (64) and optimizer:
  (a) tutorial: torchvision dataset + ToTensor/Normalize + DataLoader(batch 64, shuffle) + loss.item() per batch
  (b) trainers: the workbench's `trainers.run` loop, headless
  (c) app:      the same loop inside the running Textual app with the charts visible (Textual run_test)
  (d) floor:    forward/backward/step over pre-made normalised tensors, no reporting
and prints samples per second, the ratios the goals name, and test accuracy after the same epochs.
Also: time to the picker's first frame of `workbench` in a pseudo-terminal.
"""

from __future__ import annotations

import argparse
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

from trainers import RunConfig, run  # noqa: E402
from trainers.data import availability, load  # noqa: E402
from trainers.events import EpochEnded, RunFailed  # noqa: E402
from trainers.loop import make_optimizer, resolve_config  # noqa: E402
from trainers.models import MODELS  # noqa: E402

BATCH = 64


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = 0x08  # unsigned byte
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def torchvision_root(name: str, data, tmp: Path) -> Path:
    """The same images laid out as torchvision.datasets.FashionMNIST expects (un-gzipped raw IDX files)."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    _write_idx(raw / "train-images-idx3-ubyte", data.train_x[:, 0].numpy())
    _write_idx(raw / "train-labels-idx1-ubyte", data.train_y.numpy())
    _write_idx(raw / "t10k-images-idx3-ubyte", data.test_x[:, 0].numpy())
    _write_idx(raw / "t10k-labels-idx1-ubyte", data.test_y.numpy())
    return tmp


def spec_setup(model_name: str, seed: int):
    """The model and optimizer exactly as the workbench builds them for this model's seed defaults."""
    spec = MODELS[model_name]
    torch.manual_seed(seed)
    model = spec.build()
    return model, make_optimizer(resolve_config(RunConfig(model=model_name)), model.parameters())


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(y), 1000))
    model.train()
    return correct / len(y)


def tutorial(model_name: str, root: Path, mean, std, epochs: int, seed: int) -> tuple[float, float]:
    """(a) The seeds' loop, line for line in spirit."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    train = datasets.FashionMNIST(str(root), train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(str(root), train=False, download=False, transform=tf)
    loader = DataLoader(train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model, opt = spec_setup(model_name, seed)
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        running = 0.0
        for x, y in loader:
            out = model(x)
            loss = F.cross_entropy(out, y)
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
            correct += (model(x).argmax(1) == y).sum().item()
    return rate, correct / len(test)


def floor(model_name: str, data, mean, std, epochs: int, seed: int) -> float:
    """(d) Compute only: pre-made normalised tensors, fixed order, no reporting."""
    x = (data.train_x.float().div(255) - mean[0]) / std[0]
    y = data.train_y
    model, opt = spec_setup(model_name, seed)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[perm], y[perm]
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(y), BATCH):
            loss = F.cross_entropy(model(x[i:i + BATCH]), y[i:i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y[i:i + BATCH])
    return n / (time.perf_counter() - start)


def config(model_name: str, dataset: str, epochs: int, seed: int) -> RunConfig:
    return RunConfig(model=model_name, dataset=dataset, epochs=epochs, batch_size=BATCH, seed=seed,
                     device="cpu", normalize=True)


def trainers_loop(model_name: str, dataset: str, epochs: int, seed: int) -> tuple[float, float]:
    """(b) The workbench's loop, headless."""
    ends = []
    for event in run(config(model_name, dataset, epochs, seed)):
        if isinstance(event, RunFailed):
            raise SystemExit(f"trainers run failed: {event.reason}")
        if isinstance(event, EpochEnded):
            ends.append(event)
    seen = sum(e.samples_per_sec * e.seconds for e in ends)
    return seen / sum(e.seconds for e in ends), ends[-1].test_accuracy


def in_app(model_name: str, dataset: str, epochs: int, seed: int) -> tuple[float, float] | None:
    """(c) The same run inside the Textual app, train screen and charts visible, at 100x30."""
    try:
        from workbench.bench import run_in_app
    except ImportError:
        return None
    rows = run_in_app(config(model_name, dataset, epochs, seed), size=(100, 30))
    # training happens in the app's child process; its epoch rows carry the same measurements as (b)
    seen = sum(r["samples_per_sec"] * r["train_seconds"] for r in rows)
    return seen / sum(r["train_seconds"] for r in rows), rows[-1]["test_accuracy"]


def first_frame(marker: str = "mlp-deep", timeout: float = 20.0) -> float | None:
    """Seconds from starting `workbench` in a pseudo-terminal to the picker's text on screen."""
    import pty
    import select

    exe = shutil.which("workbench")
    cmd = [exe] if exe else [sys.executable, "-m", "workbench"]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mlp-deep", "cnn-pool"])
    ap.add_argument("--dataset", default="auto", help="fashion-mnist when installed, else synthetic-digits")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="rounds of (b), (c), (d), interleaved; medians reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-app", action="store_true")
    args = ap.parse_args()
    dataset = args.dataset
    if dataset == "auto":
        dataset = "fashion-mnist" if availability("fashion-mnist").state == "ready" else "synthetic-digits"
    extra = {"train_size": 60000, "test_size": 10000} if dataset == "synthetic-digits" else {}
    data = load(dataset, input_shape=(1, 28, 28), extra=extra)
    mean, std = data.mean, data.std
    print(f"dataset {dataset}: {data.train_size} train / {data.test_size} test; batch {BATCH}; "
          f"{args.epochs} epoch(s); (b) (c) (d) {args.repeat} rounds each, interleaved, median shown; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(dataset, data, Path(tmp))
        for name in args.models:
            spec = MODELS[name]
            print(f"\n{name} ({spec.defaults.get('optimizer')} lr {spec.defaults.get('lr')})", flush=True)
            a, acc_a = tutorial(name, root, mean, std, args.epochs, args.seed)
            print(f"  (a) tutorial loop   {a:10,.0f} samples/s   test acc {acc_a:.4f}", flush=True)
            bs, cs, ds = [], [], []
            acc_b = acc_c = None
            for r in range(args.repeat):
                b, acc_b = trainers_loop(name, dataset, args.epochs, args.seed)
                bs.append(b)
                c = None if args.skip_app else in_app(name, dataset, args.epochs, args.seed)
                if c:
                    cs.append(c[0])
                    acc_c = c[1]
                ds.append(floor(name, data, mean, std, args.epochs, args.seed))
                print(f"      round {r + 1}: (b) {b:,.0f}  (c) {c[0] if c else float('nan'):,.0f}  "
                      f"(d) {ds[-1]:,.0f} samples/s", flush=True)
            b, c, d = statistics.median(bs), statistics.median(cs) if cs else None, statistics.median(ds)
            print(f"  (b) trainers loop   {b:10,.0f} samples/s   test acc {acc_b:.4f}", flush=True)
            if c:
                print(f"  (c) in the app      {c:10,.0f} samples/s   test acc {acc_c:.4f}", flush=True)
            print(f"  (d) compute floor   {d:10,.0f} samples/s", flush=True)
            rows.append((name, a, b, c, d, acc_a, acc_b))
    print("\nsummary (ratios of samples/s; goals: b/a >= 3 for mlp-deep, >= 2 for cnn-pool; b/d >= 0.90; c/b >= 0.95)")
    print(f"{'model':<14}{'b/a':>8}{'b/d':>8}{'c/b':>8}   {'acc a':>7} {'acc b':>7}")
    for name, a, b, c, d, acc_a, acc_b in rows:
        cb = f"{c / b:8.2f}" if c else f"{'n/a':>8}"
        print(f"{name:<14}{b / a:8.2f}{b / d:8.2f}{cb}   {acc_a:7.4f} {acc_b:7.4f}")
    frames = [first_frame() for _ in range(3)]
    frames = [f for f in frames if f is not None]
    print(f"\ntime to the picker's first frame (median of {len(frames)}): {statistics.median(frames):.2f} s"
          if frames else "\ntime to first frame: not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
