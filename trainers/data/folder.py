"""Your own images: a folder with one subfolder per class (or files named after their class, like
cat.1.jpg), an optional test/ folder, decoded with Pillow into uint8 tensors, or decoded on access
(FolderImages, a torch Dataset built on first use) when they would not fit in memory."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DatasetUnavailable, WorkbenchError
from .base import LoadedData, Progress

if TYPE_CHECKING:
    import torch

# torchvision.datasets.folder.IMG_EXTENSIONS, copied so that listing a folder needs no torchvision import
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_TEST_NAMES = ("test", "val", "valid", "validation")
_PREFIX = re.compile(r"[^._\-\d]+")


@dataclass
class FolderPlan:
    classes: tuple[str, ...]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]  # empty: hold out part of train
    layout: str
    notes: list[str] = field(default_factory=list)


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sorted (image files, subfolders) of `folder`, hidden entries skipped."""
    files, dirs = [], []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                dirs.append(Path(e.path))
            elif e.name.lower().endswith(IMG_EXTENSIONS) and e.is_file():
                files.append(Path(e.path))
    return sorted(files), sorted(dirs)


def _images_under(folder: Path) -> list[Path]:
    """Every image below `folder`, at any depth (as torchvision's ImageFolder finds them), sorted."""
    found = []
    for parent, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(parent, f) for f in files
                  if not f.startswith(".") and f.lower().endswith(IMG_EXTENSIONS)]
    return sorted(found)


def _prefix(path: Path) -> str | None:
    m = _PREFIX.match(path.name)
    return m.group(0).lower() if m else None


def _labelled(folder: Path, notes: list[str] | None = None) -> tuple[str, dict[str, list[Path]]] | None:
    """A folder's images by class, from subfolders (ImageFolder style) or else from file-name prefixes.
    Class folders without images are skipped, and said in `notes`."""
    files, dirs = _listing(folder)
    by_class = {d.name: _images_under(d) for d in dirs}
    empty = sorted(c for c, f in by_class.items() if not f)
    by_class = {c: f for c, f in by_class.items() if f}
    if by_class:
        if empty and notes is not None:
            notes.append(f"class folder{'s' if len(empty) > 1 else ''} {', '.join(empty[:5])} in {folder} "
                         f"{'have' if len(empty) > 1 else 'has'} no images and {'were' if len(empty) > 1 else 'was'} "
                         f"skipped")
        return "class subfolders", by_class
    prefixed: dict[str, list[Path]] = {}
    for f in files:
        if (p := _prefix(f)) is not None:
            prefixed.setdefault(p, []).append(f)
    if prefixed:
        return "class-prefixed file names", prefixed
    return None


QUICK_DEPTH = 3  # a class folder's images are in it or a folder or two below
QUICK_ENTRIES = 4000  # entries a quick look reads at most: typing "/" in the app must not walk the disk


def _has_image(folder: Path, budget: list[int] | None = None) -> bool:
    """An image within QUICK_DEPTH levels of `folder`, looking at no more than QUICK_ENTRIES entries."""
    budget = budget if budget is not None else [QUICK_ENTRIES]
    level = [folder]
    for _depth in range(QUICK_DEPTH):
        below = []
        for current in level:
            try:
                with os.scandir(current) as entries:
                    for entry in entries:
                        budget[0] -= 1
                        if budget[0] < 0:
                            return False
                        if entry.name.startswith("."):
                            continue
                        if entry.name.lower().endswith(IMG_EXTENSIONS):
                            return True
                        try:
                            if entry.is_dir():
                                below.append(entry.path)
                        except OSError:
                            continue
            except OSError:
                continue
        level = below
    return False


def quick_layout(root: Path) -> str | None:
    """The layout `scan_folder` will find, from a look that stops at the first image of each folder
    (availability() must stay cheap even when --data-dir holds a million images)."""
    train = next((d for d in _listing(root)[1] if d.name.lower() == "train"), None)
    for folder, where in ((train, "train/ with "), (root, "")):
        if folder is None:
            continue
        files, dirs = _listing(folder)
        budget = [QUICK_ENTRIES]
        if any(_has_image(d, budget) for d in dirs):
            return where + "class subfolders"
        if any(_prefix(f) for f in files):
            return where + "class-prefixed file names"
    return None


def scan_folder(root: Path) -> FolderPlan:
    """Work out the layout of an image folder and list its samples (no image is opened)."""
    _, dirs = _listing(root)
    by_name = {d.name.lower(): d for d in dirs}
    notes: list[str] = []
    train_dir = by_name.get("train")
    test_dir = next((by_name[n] for n in _TEST_NAMES if n in by_name), None)
    train_found = _labelled(train_dir, notes) if train_dir else None
    if train_found:
        layout, train_by = train_found
        layout = f"train/ with {layout}"
        test_by: dict[str, list[Path]] = {}
        if test_dir:
            test_found = _labelled(test_dir)
            known = test_found and set(test_found[1]) & set(train_by)
            if known:
                test_by = test_found[1]
                layout += f", {test_dir.name}/"
            else:
                notes.append(f"{test_dir.name}/ has no class labels the training images use, so 20% of "
                             "train/ is held out for testing instead")
    else:
        found = _labelled(root, notes)
        if not found:
            raise DatasetUnavailable(f"found no labelled images in {root}; image-folder needs one subfolder "
                                     "per class, or files named after their class like cat.1.jpg.")
        layout, train_by = found
        test_by = {}
    classes = tuple(sorted(train_by))
    if len(classes) < 2:
        raise DatasetUnavailable(f"found only one class ({classes[0]}) in {root}; a classifier needs images of two "
                                 "or more classes (one subfolder each, or file names starting with the class).")
    index = {c: i for i, c in enumerate(classes)}
    train = [(p, index[c]) for c in classes for p in train_by[c]]
    test = [(p, index[c]) for c in sorted(test_by) if c in index for p in test_by[c]]
    unknown = sorted(set(test_by) - set(index))
    if unknown:
        notes.append(f"skipped test classes with no training images: {', '.join(unknown[:5])}")
    return FolderPlan(classes, train, test, layout, notes)


def holdout(samples: list[tuple[Path, int]], seed: int, fraction: float = 0.2):
    """A seeded, per-class split: about `fraction` of each class with at least two images goes to test."""
    rng = np.random.default_rng(seed)
    labels = np.array([y for _, y in samples])
    test_idx: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) >= 2:
            test_idx += rng.permutation(idx)[:max(1, round(fraction * len(idx)))].tolist()
    chosen = set(test_idx)
    return [s for i, s in enumerate(samples) if i not in chosen], [samples[i] for i in sorted(chosen)]


def load_image(path, input_shape: tuple[int, int, int]) -> "torch.Tensor":
    """One image file as a uint8 (C, H, W) tensor: grayscale for C=1, RGB for C=3, resized to H x W."""
    import torch

    return torch.from_numpy(_decode(Path(path), tuple(input_shape)))


def _decode(path: Path, input_shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    c, h, w = input_shape
    if c not in (1, 3):
        raise ConfigError(f"images can be loaded with 1 (grayscale) or 3 (RGB) channels, not {c}.")
    mode = "L" if c == 1 else "RGB"
    try:
        with Image.open(path) as img:
            img.draft(mode, (w, h))  # JPEG: let the decoder shrink by 1/2..1/8, far faster for photos
            img = img.convert(mode).resize((w, h), Image.Resampling.BILINEAR)
            arr = np.array(img, dtype=np.uint8)
    except Exception as err:  # a broken file can make Pillow raise almost anything; the user needs one line
        raise WorkbenchError(f"could not read image {path} ({_reason(err)}).") from err
    return arr[None] if c == 1 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def _reason(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _workers() -> int:
    return min(16, 2 * (os.cpu_count() or 1))


def _decode_all(samples: list[tuple[Path, int]], input_shape: tuple[int, int, int], what: str,
                progress: Progress | None, warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decode every sample into one uint8 array with a thread pool (Pillow releases the GIL while it
    decodes and resizes); unreadable files are skipped and reported."""
    out = np.empty((len(samples),) + tuple(input_shape), dtype=np.uint8)
    ok = np.zeros(len(samples), dtype=bool)
    bad: list[str] = []

    def work(i: int) -> None:
        try:
            out[i] = _decode(samples[i][0], input_shape)
            ok[i] = True
        except WorkbenchError as err:
            bad.append(str(err))

    step = max(1, len(samples) // 100)
    with ThreadPoolExecutor(_workers()) as pool:
        for done, _ in enumerate(pool.map(work, range(len(samples))), 1):
            if progress and (done % step == 0 or done == len(samples)):
                progress(what, done, len(samples))
    warnings += _summarise(sorted(bad))
    labels = np.array([y for _, y in samples], dtype=np.int64)
    return (out, labels) if ok.all() else (out[ok], labels[ok])


def _summarise(problems: list[str], limit: int = 5) -> list[str]:
    if len(problems) <= limit:
        return problems
    return problems[:limit] + [f"... and {len(problems) - limit} more unreadable images skipped"]


def _readable(samples: list[tuple[Path, int]], warnings: list[str]) -> list[tuple[Path, int]]:
    """Samples whose header Pillow can parse (cheap: no pixel data is decoded)."""
    from PIL import Image

    def check(sample) -> str | None:
        try:
            with Image.open(sample[0]) as img:
                img.size  # noqa: B018 - opening parses the header; nothing else to do
            return None
        except Exception as err:  # anything Pillow raises means we cannot use the file
            return f"could not read image {sample[0]} ({_reason(err)})."

    with ThreadPoolExecutor(_workers()) as pool:
        results = list(pool.map(check, samples))
    warnings += _summarise(sorted(r for r in results if r))
    return [s for s, r in zip(samples, results) if r is None]


class _FolderImagesBase:
    """Images decoded on access, for folders too big to hold in memory: items are (uint8 CHW, label).
    A file that has become unreadable since the scan is replaced by the next readable one."""

    def __init__(self, samples: list[tuple[Path, int]], input_shape: tuple[int, int, int]) -> None:
        self.samples = samples
        self.input_shape = tuple(input_shape)
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import torch

        for k in range(len(self.samples)):
            path, label = self.samples[(index + k) % len(self.samples)]
            try:
                return torch.from_numpy(_decode(path, self.input_shape)), label
            except WorkbenchError as err:
                self.warnings.append(str(err))
        raise DatasetUnavailable("none of the images in the folder can be read any more.")


def _folder_images_class() -> type:
    # `FolderImages` subclasses torch's Dataset, so it is built on first use to keep this module's import
    # free of torch; stored as a module attribute, it still pickles by name for DataLoader workers.
    if "FolderImages" not in globals():
        from torch.utils.data import Dataset

        cls = type("FolderImages", (_FolderImagesBase, Dataset), {"__module__": __name__})
        globals()["FolderImages"] = cls
    return globals()["FolderImages"]


def __getattr__(name: str) -> Any:
    if name == "FolderImages":
        return _folder_images_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _stats_sample_size(input_shape: tuple[int, int, int], n: int) -> int:
    """How many images to estimate mean and std from: about 16M values are plenty, and stay cheap."""
    return min(n, max(100, 16_000_000 // int(np.prod(input_shape))))


def _channel_stats(x: np.ndarray, seed: int = 0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    limit = _stats_sample_size(x.shape[1:], len(x))
    if len(x) > limit:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]
    x = x.astype(np.float32) / 255
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    return tuple(float(m) for m in mean), tuple(float(max(s, 1e-6)) for s in std)


_NO_TEST = ("no test images are left in {root} (a class needs at least two images to hold one out); "
            "add more images, or a test/ folder with one subfolder per class.")


def load_folder(data_dir: str | None, input_shape: tuple[int, int, int], seed: int,
                 progress: Progress | None, memory_budget: int) -> LoadedData:
    import torch

    if input_shape[0] not in (1, 3):
        raise ConfigError(f"image-folder gives 1-channel (grayscale) or 3-channel (RGB) images, but the "
                          f"model expects {input_shape[0]} channels; choose another model.")
    if not data_dir:
        raise DatasetUnavailable("image-folder needs --data-dir pointing at a folder of images (one "
                                 "subfolder per class, or files named after their class like cat.1.jpg).")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"no folder at {root}; image-folder needs --data-dir pointing at a folder "
                                 "of images.")
    plan = scan_folder(root)
    warnings = list(plan.notes)
    train, test = plan.train, plan.test
    held_out = not test
    if held_out:
        train, test = holdout(train, seed)
    c, h, w = input_shape
    size = f"{c}x{h}x{w}"

    if (len(train) + len(test)) * c * h * w <= memory_budget:
        train_x, train_y = _decode_all(train, input_shape, "decoding training images", progress, warnings)
        test_x, test_y = _decode_all(test, input_shape, "decoding test images", progress, warnings)
        if not len(train_x):
            raise DatasetUnavailable(f"none of the images in {root} could be read; check that they are "
                                     "valid image files.")
        if not len(test_x):
            raise DatasetUnavailable(_NO_TEST.format(root=root))
        mean, std = _channel_stats(train_x, seed=seed)
        data = LoadedData(torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x),
                          torch.from_numpy(test_y), plan.classes, mean, std, "", warnings)
    else:
        train, test = _readable(train, warnings), _readable(test, warnings)
        if not train:
            raise DatasetUnavailable(f"none of the images in {root} could be read; check that they are "
                                     "valid image files.")
        if not test:
            raise DatasetUnavailable(_NO_TEST.format(root=root))
        rng = np.random.default_rng(seed)
        k = min(1000, _stats_sample_size(input_shape, len(train)))
        sample = [train[i] for i in np.sort(rng.choice(len(train), k, replace=False))]
        sample_x, _ = _decode_all(sample, input_shape, "sampling images for mean and std", progress, [])
        mean, std = _channel_stats(sample_x, seed) if len(sample_x) else ((0.5,) * c, (0.25,) * c)
        lazy = _folder_images_class()
        data = LoadedData(None, None, None, None, plan.classes, mean, std, "", warnings,
                          lazy(train, input_shape), lazy(test, input_shape))
    split = "20% held out for testing" if held_out else "its own test set"
    data.source = (f"image-folder {root} ({plan.layout}; {len(plan.classes)} classes, {split}, "
                   f"resized to {size}{'' if data.train_x is not None else ', decoded on the fly'})")
    return data
