"""MNIST-style IDX files: where they are looked for, decoding them with numpy, and downloading them from
torchvision's mirrors through urllib (progress reported to a callback, never printed)."""

from __future__ import annotations

import gzip
import http.client
import os
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetUnavailable
from .base import LoadedData, Progress, resolve_data_dir

SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [Path("/usr/share/datasets/mnist")],
}
# name -> (torchvision class, folder under data_dir of our own layout)
IDX_DATASETS = {"mnist": ("MNIST", "mnist"), "fashion-mnist": ("FashionMNIST", "fashion-mnist")}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
STANDARD_SIZES = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000)}  # (train, test)
DOWNLOAD_TIMEOUT = 10.0


def idx_paths(name: str, data_dir: str | None = None) -> list[Path]:
    """Every folder looked in for `name`'s IDX files, in order."""
    root = resolve_data_dir(data_dir)
    cls, own = IDX_DATASETS[name]
    return [root / cls / "raw", root / own, root, *SYSTEM_DIRS.get(name, [])]


def file_list() -> str:
    names = [f + ".gz" for f in IDX_FILES]
    return ", ".join(names[:-1]) + " and " + names[-1]


def download_dir(name: str, data_dir: str | None) -> Path:
    return resolve_data_dir(data_dir) / IDX_DATASETS[name][0] / "raw"


def _idx_file(folder: Path, base: str) -> Path | None:
    # also the spelling of some re-packagings (train-images.idx3-ubyte)
    for stem in (base, base.replace("-idx", ".idx")):
        for candidate in (folder / (stem + ".gz"), folder / stem):
            if candidate.is_file():
                return candidate
    return None


def find_idx(name: str, data_dir: str | None) -> list[Path] | None:
    """The four IDX files from the first folder holding all of them, or None."""
    for folder in idx_paths(name, data_dir):
        files = [_idx_file(folder, base) for base in IDX_FILES]
        if all(files):
            return files
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
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


def load_idx(info, data_dir: str | None, download: bool, progress: Progress | None) -> LoadedData:
    """`info`: the dataset's DatasetInfo (its name, classes, mean and std)."""
    import torch

    name = info.name
    files = find_idx(name, data_dir)
    if files is None:
        target = download_dir(name, data_dir)
        if not download:
            raise DatasetUnavailable(f"{name} is not here and downloading is off: put {file_list()} in "
                                     f"{target}{debian_hint(name)}.")
        _download(name, target, progress)
        files = find_idx(name, data_dir)
        assert files is not None
    arrays = []
    for i, path in enumerate(files):
        if progress:
            progress(f"reading {path.name}", i, len(files))
        arrays.append(read_idx(path, 3 if "images" in path.name else 1))
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


def debian_hint(name: str) -> str:
    return ", or install Debian's dataset-fashion-mnist package" if name == "fashion-mnist" else ""


def _download(name: str, target: Path, progress: Progress | None) -> None:
    """Fetch the four files from torchvision's mirrors into `target`, checking their md5 sums."""
    from torchvision import datasets
    from torchvision.datasets.utils import check_integrity

    cls = getattr(datasets, IDX_DATASETS[name][0])
    failure = DatasetUnavailable(f"could not download {name} (offline?): put {file_list()} in {target}"
                                 f"{debian_hint(name)}.")
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
        with (urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response,
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


def idx_length(path: Path) -> int:
    """The number of items an IDX file declares, from its header alone (the rest stays unread)."""
    try:
        with open(path, "rb") as raw:
            zipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path) if zipped else open(path, "rb")) as f:
            head = f.read(8)  # magic, then the number of images: the rest stays unread
    except (OSError, EOFError) as err:
        raise DatasetUnavailable(f"could not read {path} ({err}).") from None
    if len(head) < 8:
        raise DatasetUnavailable(f"{path} is not a valid IDX file (too short for its header).")
    return struct.unpack(">I", head[4:8])[0]
