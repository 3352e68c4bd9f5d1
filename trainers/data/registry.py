"""The datasets: what each is, whether its files are here, and loading it as uint8 tensors.

Importing this module does not import torch, torchvision or Pillow (the UI lists datasets first);
`load()` and `load_image()` do. MNIST-style IDX files are decoded directly with numpy, downloads go
through urllib with progress reported to a callback (never printed), and every failure a user can fix
is raised as a WorkbenchError with one sentence saying what to do.
"""

from __future__ import annotations

import gzip
import http.client
import os
import re
import struct
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ConfigError, DatasetUnavailable, WorkbenchError

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, int, int], None]

SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [Path("/usr/share/datasets/mnist")],
}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
# torchvision.datasets.folder.IMG_EXTENSIONS, copied so that listing a folder needs no torchvision import
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


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

# name -> (torchvision class, folder under data_dir of our own layout)
_IDX_DATASETS = {"mnist": ("MNIST", "mnist"), "fashion-mnist": ("FashionMNIST", "fashion-mnist")}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_DOWNLOAD_TIMEOUT = 10.0


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name]


def resolve_data_dir(data_dir: str | None) -> Path:
    """The argument, else $WORKBENCH_DATA, else $XDG_CACHE_HOME/workbench/data (~/.cache by default)."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("WORKBENCH_DATA"):
        return Path(os.environ["WORKBENCH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "workbench" / "data"


@dataclass(frozen=True)
class Availability:
    state: str  # "ready", "download" (not here, will be downloaded) or "missing"
    where: str  # where the files are, or where they are looked for / should go
    message: str  # one sentence for the user


def search_paths(name: str, data_dir: str | None = None) -> list[Path]:
    """Every folder looked in for `name`'s files, in order."""
    _info(name)
    if name in _IDX_DATASETS:
        root = resolve_data_dir(data_dir)
        cls, own = _IDX_DATASETS[name]
        return [root / cls / "raw", root / own, root, *SYSTEM_DIRS.get(name, [])]
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
        layout = _quick_layout(root)
        if layout is None:
            return Availability("missing", str(root), f"found no labelled images in {root}; it needs one "
                                "subfolder per class, or files named after their class like cat.1.jpg")
        return Availability("ready", str(root), f"images in {root} ({layout})")
    found = find_idx(name, data_dir)
    if found is not None:
        return Availability("ready", str(found[0].parent), f"found in {found[0].parent}")
    target = _download_dir(name, data_dir)
    if not download:
        return Availability("missing", str(target), f"not here and downloading is off: put {_file_list()} "
                            f"in {target}{_debian_hint(name)}")
    return Availability("download", str(target), f"not here yet: will download to {target}; offline, put "
                        f"{_file_list()} in {target}{_debian_hint(name)}")


@dataclass
class LoadedData:
    train_x: "torch.Tensor | None"  # uint8 (N, C, H, W), contiguous, CPU; None when lazy
    train_y: "torch.Tensor | None"  # int64 (N,)
    test_x: "torch.Tensor | None"
    test_y: "torch.Tensor | None"
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    source: str  # where the data came from, for the user
    warnings: list[str] = field(default_factory=list)
    train_dataset: "torch.utils.data.Dataset | None" = None  # lazy image folders: (uint8 CHW, int label)
    test_dataset: "torch.utils.data.Dataset | None" = None

    @property
    def train_size(self) -> int:
        return len(self.train_x) if self.train_x is not None else len(self.train_dataset)

    @property
    def test_size(self) -> int:
        return len(self.test_x) if self.test_x is not None else len(self.test_dataset)


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
    if name in _IDX_DATASETS:
        return _load_idx(name, data_dir, download, progress)
    if name == "synthetic-digits":
        return _load_synthetic(extra)
    return _load_folder(data_dir, input_shape, seed, progress, memory_budget)


# ---------------------------------------------------------------------------------------------- IDX


def _file_list() -> str:
    names = [f + ".gz" for f in _IDX_FILES]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _download_dir(name: str, data_dir: str | None) -> Path:
    return resolve_data_dir(data_dir) / _IDX_DATASETS[name][0] / "raw"


def _idx_file(folder: Path, base: str) -> Path | None:
    # also the spelling of some re-packagings (train-images.idx3-ubyte)
    for stem in (base, base.replace("-idx", ".idx")):
        for candidate in (folder / (stem + ".gz"), folder / stem):
            if candidate.is_file():
                return candidate
    return None


def find_idx(name: str, data_dir: str | None) -> list[Path] | None:
    """The four IDX files from the first folder holding all of them, or None."""
    for folder in search_paths(name, data_dir):
        files = [_idx_file(folder, base) for base in _IDX_FILES]
        if all(files):
            return files
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Decode one uint8 IDX file (gzipped or not) into an array of its declared shape."""

    def corrupt(why: str) -> DatasetUnavailable:
        return DatasetUnavailable(f"{path} is not a valid IDX file ({why}); delete it to download it again, "
                                  "or replace it with an intact copy.")

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetUnavailable(f"could not read {path} ({err.strerror or err}).") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise corrupt(f"broken gzip data: {err}") from err
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise corrupt("too short for its header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != ndim:
        raise corrupt(f"magic number {raw[:4].hex()} is not that of a {ndim}-dimensional uint8 array")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise corrupt(f"{len(raw) - header} data bytes where its header declares {count}")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=header).reshape(dims)


def _load_idx(name: str, data_dir: str | None, download: bool, progress: Progress | None) -> LoadedData:
    import torch

    info = DATASETS[name]
    files = find_idx(name, data_dir)
    if files is None:
        target = _download_dir(name, data_dir)
        if not download:
            raise DatasetUnavailable(f"{name} is not here and downloading is off: put {_file_list()} in "
                                     f"{target}{_debian_hint(name)}.")
        _download(name, target, progress)
        files = find_idx(name, data_dir)
        assert files is not None
    arrays = []
    for i, path in enumerate(files):
        if progress:
            progress(f"reading {path.name}", i, len(files))
        arrays.append(_read_idx(path, 3 if "images" in path.name else 1))
    if progress:
        progress("reading files", len(files), len(files))
    tensors = []
    for x, y, xpath in ((arrays[0], arrays[1], files[0]), (arrays[2], arrays[3], files[2])):
        if x.shape[1:] != (28, 28) or len(x) != len(y) or (len(y) and y.max() >= len(info.classes)):
            raise DatasetUnavailable(f"{xpath.name} and its labels in {xpath.parent} do not match (images "
                                     f"{x.shape}, labels {y.shape}); replace them with intact copies.")
        # frombuffer of bytes is read-only; the copy makes writable tensors torch accepts without a warning
        tensors += [torch.from_numpy(x.reshape(len(x), 1, 28, 28).copy()),
                    torch.from_numpy(y.astype(np.int64))]
    warnings = []
    asked = Path(data_dir).expanduser() if data_dir else None
    used = files[0].parent.resolve()
    if asked is not None and asked.resolve() not in (used, *used.parents):
        why = "does not exist" if not asked.exists() else f"has no {name} files"
        warnings.append(f"--data-dir {asked} {why}; {name} was read from {files[0].parent} instead.")
    return LoadedData(*tensors, classes=info.classes, mean=info.mean, std=info.std,
                      source=f"{name} from {files[0].parent}", warnings=warnings)


def _debian_hint(name: str) -> str:
    return ", or install Debian's dataset-fashion-mnist package" if name == "fashion-mnist" else ""


def _download(name: str, target: Path, progress: Progress | None) -> None:
    """Fetch the four files from torchvision's mirrors into `target`, checking their md5 sums."""
    from torchvision import datasets
    from torchvision.datasets.utils import check_integrity

    cls = getattr(datasets, _IDX_DATASETS[name][0])
    failure = DatasetUnavailable(f"could not download {name} (offline?): put {_file_list()} in {target}"
                                 f"{_debian_hint(name)}.")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetUnavailable(f"could not create {target} to download {name} into ({err.strerror}); "
                                 "pass a writable --data-dir.") from err
    for filename, md5 in cls.resources:
        path = target / filename
        if check_integrity(str(path), md5):
            continue
        for mirror in cls.mirrors:
            try:
                _fetch(mirror + filename, path, progress)
            except (OSError, http.client.HTTPException, ValueError):  # URLError, HTTPError, timeouts, resets
                continue
            if check_integrity(str(path), md5):
                break
            path.unlink(missing_ok=True)
        else:
            raise failure


def _fetch(url: str, path: Path, progress: Progress | None) -> None:
    """Stream `url` to `path` through a temporary file, so an interrupted download leaves nothing behind."""
    request = urllib.request.Request(url, headers={"User-Agent": "workbench"})
    partial = path.with_name(path.name + ".part")
    try:
        with (urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT) as response,
              open(partial, "wb") as out):
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(f"downloading {path.name}", done, total)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------- synthetic


def _load_synthetic(extra: dict) -> LoadedData:
    import torch

    from . import synthetic

    data_seed = int(extra.get("data_seed", 0))
    train_size, test_size = int(extra.get("train_size", 10000)), int(extra.get("test_size", 2000))
    if train_size < 1 or test_size < 1:
        raise ConfigError(f"synthetic-digits sizes must be at least 1, got train_size={train_size} "
                          f"and test_size={test_size}.")
    train_x, train_y = synthetic.generate(train_size, data_seed, "train")
    test_x, test_y = synthetic.generate(test_size, data_seed, "test")
    x = train_x.astype(np.float32) / 255
    return LoadedData(torch.from_numpy(train_x), torch.from_numpy(train_y),
                      torch.from_numpy(test_x), torch.from_numpy(test_y),
                      classes=DIGITS, mean=(float(x.mean()),), std=(float(x.std()),),
                      source=f"synthetic-digits generated with data seed {data_seed}")


# ------------------------------------------------------------------------------------- image folder

_TEST_NAMES = ("test", "val", "valid", "validation")
_PREFIX = re.compile(r"[^._\-\d]+")


@dataclass
class _FolderPlan:
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


def _quick_layout(root: Path) -> str | None:
    """The layout `_scan_folder` will find, from a look that stops at the first image of each folder
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


def _scan_folder(root: Path) -> _FolderPlan:
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
    return _FolderPlan(classes, train, test, layout, notes)


def _holdout(samples: list[tuple[Path, int]], seed: int, fraction: float = 0.2):
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


def _load_folder(data_dir: str | None, input_shape: tuple[int, int, int], seed: int,
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
    plan = _scan_folder(root)
    warnings = list(plan.notes)
    train, test = plan.train, plan.test
    held_out = not test
    if held_out:
        train, test = _holdout(train, seed)
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


# ------------------------------------------------------------------------------------------ sizes


@dataclass(frozen=True)
class SplitSizes:
    train: int
    test: int
    classes: int
    note: str  # "" when read from the data itself; else where the figures come from


_STANDARD_SIZES = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000)}


def split_sizes(name: str, data_dir: str | None = None, extra: dict | None = None, seed: int = 0) -> SplitSizes:
    """How many training and test samples a run of `name` would have, without decoding any image: IDX
    headers, synthetic sizes, or an image folder's listing (with the same held-out split a run makes).
    IDX files that are not here give the standard sizes; an image folder that is not here raises."""
    info = _info(name)
    if name == "synthetic-digits":
        extra = extra or {}
        return SplitSizes(int(extra.get("train_size", 10000)), int(extra.get("test_size", 2000)), 10, "")
    if name in _IDX_DATASETS:
        files = find_idx(name, data_dir)
        if files is None:
            train, test = _STANDARD_SIZES[name]
            return SplitSizes(train, test, len(info.classes), "the standard split; the files are not here")
        counts = []
        for path in (files[0], files[2]):
            try:
                with open(path, "rb") as raw:
                    zipped = raw.read(2) == b"\x1f\x8b"
                with (gzip.open(path) if zipped else open(path, "rb")) as f:
                    head = f.read(8)  # magic, then the number of images: the rest stays unread
            except (OSError, EOFError) as err:
                raise DatasetUnavailable(f"could not read {path} ({err}).") from None
            if len(head) < 8:
                raise DatasetUnavailable(f"{path} is not a valid IDX file (too short for its header).")
            counts.append(struct.unpack(">I", head[4:8])[0])
        return SplitSizes(counts[0], counts[1], len(info.classes), "")
    if not data_dir:
        raise DatasetUnavailable("image-folder needs --data-dir pointing at a folder of images.")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetUnavailable(f"no folder at {root}; image-folder needs --data-dir pointing at a folder of images.")
    plan = _scan_folder(root)
    train, test = plan.train, plan.test
    if not test:
        train, test = _holdout(train, seed)
    return SplitSizes(len(train), len(test), len(plan.classes), "")
