"""The datasets: what each is, whether its files are here, and loading it as uint8 tensors.

Importing this module does not import torch, torchvision or Pillow (the UI lists datasets first);
`load()` does. The loaders: idx (MNIST-style files, decoded with numpy, downloaded through urllib),
folder (your own images, decoded with Pillow), synthetic (procedural digits). Every failure a user can fix
is raised as a WorkbenchError with one sentence saying what to do.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DatasetUnavailable
from .base import LoadedData, Progress, resolve_data_dir
from .folder import holdout, load_folder, quick_layout, scan_folder
from .idx import (IDX_DATASETS, STANDARD_SIZES, debian_hint, download_dir, file_list, find_idx, idx_length, idx_paths,
                  load_idx)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    shape: tuple[int, int, int] | None  # (C, H, W); None: image-folder takes the model's input shape
    classes: tuple[str, ...] | None  # None: read from the files
    mean: tuple[float, ...] | None  # per channel, in [0, 1] units; None: computed from the data
    std: tuple[float, ...] | None
    needs_files: bool


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("mnist", "handwritten digits 0-9, 28x28 grayscale, 60000 train + 10000 test",
                (1, 28, 28), DIGITS, (0.1307,), (0.3081,), True),
    DatasetInfo("fashion-mnist", "Zalando clothing in 10 classes, 28x28 grayscale, 60000 train + 10000 test",
                (1, 28, 28), FASHION_CLASSES, (0.2860,), (0.3530,), True),
    DatasetInfo("image-folder", "your own images from --data-dir: one subfolder per class, or files named "
                "like cat.1.jpg; resized to the model's input", None, None, None, None, True),
    DatasetInfo("synthetic-digits",
                "procedurally drawn digits 0-9, 28x28 grayscale; no files or download needed",
                (1, 28, 28), DIGITS, None, None, False),
]}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name]


@dataclass(frozen=True)
class Availability:
    state: str  # "ready", "download" (not here, will be downloaded) or "missing"
    where: str  # where the files are, or where they are looked for / should go
    message: str  # one sentence for the user


def search_paths(name: str, data_dir: str | None = None) -> list[Path]:
    """Every folder looked in for `name`'s files, in order."""
    _info(name)
    if name in IDX_DATASETS:
        return idx_paths(name, data_dir)
    if name == "image-folder":
        return [Path(data_dir).expanduser()] if data_dir else []
    return []


def availability(name: str, data_dir: str | None = None, download: bool = True) -> Availability:
    """Whether `name` can be loaded now, cheaply: no torch import, no network. With download=False a
    dataset whose files are absent is "missing", not "download"."""
    try:
        return _availability(name, data_dir, download)
    except OSError as err:  # a folder that cannot be listed (permissions, a dead mount)
        return Availability("missing", str(data_dir or ""), f"cannot read {err.filename or data_dir}: {err.strerror}")


def _availability(name: str, data_dir: str | None, download: bool) -> Availability:
    _info(name)
    if name == "synthetic-digits":
        return Availability("ready", "", "generated, no files needed")
    if name == "image-folder":
        if not data_dir:
            return Availability("missing", "", "pass --data-dir pointing at a folder of images "
                                "(one subfolder per class, or files named like cat.1.jpg)")
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            return Availability("missing", str(root),
                                f"no folder at {root}; pass --data-dir pointing at a folder of images")
        layout = quick_layout(root)
        if layout is None:
            return Availability("missing", str(root), f"found no labelled images in {root}; it needs one "
                                "subfolder per class, or files named after their class like cat.1.jpg")
        return Availability("ready", str(root), f"images in {root} ({layout})")
    found = find_idx(name, data_dir)
    if found is not None:
        return Availability("ready", str(found[0].parent), f"found in {found[0].parent}")
    target = download_dir(name, data_dir)
    if not download:
        return Availability("missing", str(target), f"not here and downloading is off: put {file_list()} "
                            f"in {target}{debian_hint(name)}")
    return Availability("download", str(target), f"not here yet: will download to {target}; offline, put "
                        f"{file_list()} in {target}{debian_hint(name)}")


def load(name: str, *, input_shape: tuple[int, int, int], data_dir: str | None = None, seed: int = 0,
         download: bool = True, extra: dict | None = None, progress: Progress | None = None,
         memory_budget: int = 2 * 1024**3) -> LoadedData:
    """Load dataset `name` for a model taking `input_shape` (C, H, W) images.

    `seed` only decides the held-out split of an image folder without a test set; synthetic data has
    its own `extra["data_seed"]`, so changing the run seed does not change the data.
    """
    info = _info(name)
    input_shape = tuple(int(v) for v in input_shape)
    extra = extra or {}
    if info.shape is not None and input_shape != info.shape:
        c, h, w = input_shape
        raise ConfigError(f"the model expects {c}x{h}x{w} input but {name} images are 1x28x28; choose a "
                          "model made for 28x28 grayscale, or the image-folder dataset.")
    if name in IDX_DATASETS:
        return load_idx(info, data_dir, download, progress)
    if name == "synthetic-digits":
        return _load_synthetic(extra)
    return load_folder(data_dir, input_shape, seed, progress, memory_budget)


# ---------------------------------------------------------------------------------------- synthetic


def _load_synthetic(extra: dict) -> LoadedData:
    import torch

    data_seed = int(extra.get("data_seed", 0))
    train_size, test_size = int(extra.get("train_size", 10000)), int(extra.get("test_size", 2000))
    if train_size < 1 or test_size < 1:
        raise ConfigError(f"synthetic-digits sizes must be at least 1, got train_size={train_size} "
                          f"and test_size={test_size}.")
    cache = resolve_data_dir(None) / "synthetic-digits"
    train_x, train_y = drawn_once(train_size, data_seed, "train", cache)
    test_x, test_y = drawn_once(test_size, data_seed, "test", cache)
    x = train_x.astype(np.float32) / 255
    return LoadedData(torch.from_numpy(train_x), torch.from_numpy(train_y),
                      torch.from_numpy(test_x), torch.from_numpy(test_y),
                      classes=DIGITS, mean=(float(x.mean()),), std=(float(x.std()),),
                      source=f"synthetic-digits generated with data seed {data_seed}")


def drawn_once(n: int, seed: int, split: str, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """synthetic.generate(), kept in `cache` (a folder) after the first time: 12,000 digits take a second to draw, and
    every trainer process of the default dataset would draw them again. A damaged or missing file is drawn
    again; a cache that cannot be written is done without."""
    from . import synthetic

    if cache is None:
        return synthetic.generate(n, seed, split)
    path = cache / f"v{synthetic.DRAWING}-seed{seed}-{split}-{n}.npz"
    try:
        with np.load(path) as saved:
            x, y = saved["x"], saved["y"]
        if x.shape == (n, 1, synthetic.SIZE, synthetic.SIZE) and x.dtype == np.uint8 and y.shape == (n,):
            return x, y
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass
    x, y = synthetic.generate(n, seed, split)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, x=x, y=y)
        os.replace(tmp, path)  # whole or absent: two processes drawing at once each write a whole file
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except (OSError, UnboundLocalError):
            pass
    return x, y


# ------------------------------------------------------------------------------------------ sizes


@dataclass(frozen=True)
class SplitSizes:
    train: int
    test: int
    classes: int
    note: str  # "" when read from the data itself; else where the figures come from


def split_sizes(name: str, data_dir: str | None = None, extra: dict | None = None, seed: int = 0) -> SplitSizes:
    """How many training and test samples a run of `name` would have, without decoding any image: IDX
    headers, synthetic sizes, or an image folder's listing (with the same held-out split a run makes).
    IDX files that are not here give the standard sizes; an image folder that is not here raises."""
    info = _info(name)
    if name == "synthetic-digits":
        extra = extra or {}
        return SplitSizes(int(extra.get("train_size", 10000)), int(extra.get("test_size", 2000)), 10, "")
    if name in IDX_DATASETS:
        files = find_idx(name, data_dir)
        if files is None:
            train, test = STANDARD_SIZES[name]
            return SplitSizes(train, test, len(info.classes), "the standard split; the files are not here")
        counts = [idx_length(files[0]), idx_length(files[2])]
        return SplitSizes(counts[0], counts[1], len(info.classes), "")
    if not data_dir:
        raise DatasetUnavailable("image-folder needs --data-dir pointing at a folder of images.")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"no folder at {root}; image-folder needs --data-dir pointing at a folder of images.")
    plan = scan_folder(root)
    train, test = plan.train, plan.test
    if not test:
        train, test = holdout(train, seed)
    return SplitSizes(len(train), len(test), len(plan.classes), "")
