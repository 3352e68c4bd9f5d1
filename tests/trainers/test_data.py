"""Datasets: finding and decoding IDX files, failing clearly offline, synthetic digits, image folders."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainers.data import base as data_base, folder as data_folder, idx as data_idx, registry as data
from trainers.errors import ConfigError, DatasetUnavailable, WorkbenchError

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails the way it does offline, so no test can reach the network."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(autouse=True)
def isolated_dirs(monkeypatch, tmp_path):
    """No system dataset folders and no real cache: only what a test writes itself."""
    monkeypatch.setattr(data_idx, "SYSTEM_DIRS",
                        {"mnist": [tmp_path / "sys-mnist"], "fashion-mnist": [tmp_path / "sys-fm"]})
    monkeypatch.delenv("WORKBENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------ IDX files


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, gz: bool = True, n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict:
    """Four tiny IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        IDX_NAMES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX_NAMES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        IDX_NAMES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX_NAMES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw, compresslevel=1))
        else:
            (folder / name).write_bytes(raw)
    return arrays


def assert_matches(loaded: data_base.LoadedData, arrays: dict) -> None:
    assert loaded.train_x.dtype == torch.uint8 and loaded.train_y.dtype == torch.int64
    assert loaded.train_x.shape == (len(arrays[IDX_NAMES[0]]), 1, 28, 28) and loaded.train_x.is_contiguous()
    assert np.array_equal(loaded.train_x[:, 0].numpy(), arrays[IDX_NAMES[0]])
    assert np.array_equal(loaded.train_y.numpy(), arrays[IDX_NAMES[1]])
    assert np.array_equal(loaded.test_x[:, 0].numpy(), arrays[IDX_NAMES[2]])
    assert np.array_equal(loaded.test_y.numpy(), arrays[IDX_NAMES[3]])
    assert (loaded.train_size, loaded.test_size) == (len(arrays[IDX_NAMES[1]]), len(arrays[IDX_NAMES[3]]))


def test_mnist_in_torchvision_layout_gzipped(tmp_path):
    arrays = write_idx_set(tmp_path / "MNIST" / "raw", gz=True)
    loaded = data.load("mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path), download=False)
    assert_matches(loaded, arrays)
    assert loaded.classes == tuple("0123456789")
    assert (loaded.mean, loaded.std) == ((0.1307,), (0.3081,))
    assert str(tmp_path / "MNIST" / "raw") in loaded.source


def test_fashion_mnist_flat_and_uncompressed(tmp_path):
    arrays = write_idx_set(tmp_path, gz=False)
    loaded = data.load("fashion-mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path), download=False)
    assert_matches(loaded, arrays)
    assert loaded.classes[0] == "T-shirt/top" and loaded.classes[9] == "Ankle boot"
    assert (loaded.mean, loaded.std) == ((0.2860,), (0.3530,))


def test_fashion_mnist_from_system_dir(tmp_path):
    arrays = write_idx_set(tmp_path / "sys-fm")
    assert data.availability("fashion-mnist", str(tmp_path / "empty")).state == "ready"
    loaded = data.load("fashion-mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path / "empty"),
                       download=False)
    assert_matches(loaded, arrays)
    assert "sys-fm" in loaded.source
    # the --data-dir asked for was not where the files came from: the run says so
    assert loaded.warnings == [f"--data-dir {tmp_path / 'empty'} does not exist; fashion-mnist was read from "
                               f"{tmp_path / 'sys-fm'} instead."]


def test_data_dir_wins_over_system_dir(tmp_path):
    write_idx_set(tmp_path / "sys-mnist", seed=1)
    mine = write_idx_set(tmp_path / "data" / "mnist", seed=2)
    assert data.search_paths("mnist", str(tmp_path / "data"))[:3] == [
        tmp_path / "data" / "MNIST" / "raw", tmp_path / "data" / "mnist", tmp_path / "data"]
    loaded = data.load("mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path / "data"))
    assert_matches(loaded, mine)
    assert loaded.warnings == []  # found under the --data-dir given: nothing to warn of


def test_data_dir_defaults_to_env_then_xdg_cache(tmp_path, monkeypatch):
    assert data_base.resolve_data_dir(None) == tmp_path / "cache" / "workbench" / "data"
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "env"))
    assert data_base.resolve_data_dir(None) == tmp_path / "env"
    assert data_base.resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


@pytest.mark.parametrize("damage", ["truncated", "bad magic", "broken gzip"])
def test_corrupt_idx_file_names_the_file(tmp_path, damage):
    folder = tmp_path / "MNIST" / "raw"
    write_idx_set(folder, gz=damage == "broken gzip")
    name = "t10k-images-idx3-ubyte"
    if damage == "truncated":
        path = folder / name
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "bad magic":
        path = folder / name
        path.write_bytes(b"\x00\x00\x08\x02" + path.read_bytes()[4:])
    else:
        path = folder / (name + ".gz")
        path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(WorkbenchError) as err:
        data.load("mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path), download=False)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_missing_without_download_says_where_to_put_files(tmp_path):
    assert data.availability("mnist", str(tmp_path)).state == "download"
    with pytest.raises(DatasetUnavailable) as err:
        data.load("mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path), download=False)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte.gz" in message


def test_download_offline_fails_with_one_sentence(tmp_path):
    with pytest.raises(DatasetUnavailable) as err:
        data.load("fashion-mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path))
    message = str(err.value)
    assert "could not download" in message and str(tmp_path / "FashionMNIST" / "raw") in message
    assert "dataset-fashion-mnist" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "\n" not in message
    assert not list((tmp_path / "FashionMNIST" / "raw").iterdir())  # no half-written files left behind


def test_download_reports_progress_and_checks_md5(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    arrays = write_idx_set(tmp_path / "served")
    served = {p.name: p.read_bytes() for p in (tmp_path / "served").iterdir()}
    resources = [(name, hashlib.md5(blob).hexdigest()) for name, blob in served.items()]
    resources[0] = (resources[0][0], "0" * 32)  # the first mirror serves a file with the wrong checksum...
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", ["https://mirror.invalid/", "https://second.invalid/"])

    class Response(io.BytesIO):
        def __init__(self, blob):
            super().__init__(blob)
            self.headers = {"Content-Length": str(len(blob))}

    fetched = []

    def fake_urlopen(request, timeout):
        assert timeout <= 30
        fetched.append(request.full_url)
        return Response(served[request.full_url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    calls = []

    def get():
        return data.load("mnist", input_shape=(1, 28, 28), data_dir=str(tmp_path),
                         progress=lambda *a: calls.append(a))

    with pytest.raises(DatasetUnavailable):  # ...and so does the second: no file passes its check
        get()
    assert len(fetched) == 2 and not (tmp_path / "MNIST" / "raw" / resources[0][0]).exists()

    resources[0] = (resources[0][0], hashlib.md5(served[resources[0][0]]).hexdigest())
    assert_matches(get(), arrays)
    downloads = [c for c in calls if c[0].startswith("downloading")]
    assert downloads and all(done <= total for _, done, total in downloads)
    assert data.availability("mnist", str(tmp_path)).state == "ready"


def test_mnist_rejects_a_model_for_colour_images(tmp_path):
    with pytest.raises(ConfigError) as err:
        data.load("mnist", input_shape=(3, 28, 28), data_dir=str(tmp_path))
    assert "3x28x28" in str(err.value) and "1x28x28" in str(err.value)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="synthetic-digits"):
        data.availability("cifar")


def test_registry_and_import_without_torch():
    assert set(data.DATASETS) == {"mnist", "fashion-mnist", "image-folder", "synthetic-digits"}
    assert [n for n, d in data.DATASETS.items() if not d.needs_files] == ["synthetic-digits"]
    heavy = ("torch", "torchvision", "PIL")
    code = f"import sys, trainers.data.registry; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(data.__file__).parents[2])
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------ synthetic digits

SMALL = {"train_size": 300, "test_size": 100}


def test_synthetic_digits_need_no_files(tmp_path):
    assert data.availability("synthetic-digits").state == "ready"
    loaded = data.load("synthetic-digits", input_shape=(1, 28, 28), data_dir=str(tmp_path / "nowhere"),
                       extra=SMALL)
    assert loaded.train_x.shape == (300, 1, 28, 28) and loaded.test_x.shape == (100, 1, 28, 28)
    assert loaded.train_x.dtype == torch.uint8 and loaded.train_y.dtype == torch.int64
    assert loaded.classes == tuple("0123456789")
    assert torch.bincount(loaded.train_y, minlength=10).tolist() == [30] * 10
    assert 0 < loaded.mean[0] < 0.5 and 0 < loaded.std[0] < 0.5
    assert not (tmp_path / "nowhere").exists()


def test_synthetic_digits_follow_the_data_seed_not_the_run_seed():
    def get(data_seed, seed=0):
        return data.load("synthetic-digits", input_shape=(1, 28, 28), seed=seed,
                         extra={**SMALL, "data_seed": data_seed})

    a, b, c = get(0), get(0, seed=7), get(1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    assert not torch.equal(a.train_x[:100], a.test_x)  # the test set is a different stream


def test_synthetic_digits_are_learnable_but_not_trivial():
    loaded = data.load("synthetic-digits", input_shape=(1, 28, 28),
                       extra={"train_size": 3000, "test_size": 500})
    x = (loaded.train_x.flatten(1).float() / 255 - loaded.mean[0]) / loaded.std[0]
    xt = (loaded.test_x.flatten(1).float() / 255 - loaded.mean[0]) / loaded.std[0]
    y, yt = loaded.train_y, loaded.test_y
    centroids = torch.stack([x[y == k].mean(0) for k in range(10)])
    template_matching = (torch.cdist(xt, centroids).argmin(1) == yt).float().mean().item()
    assert template_matching < 0.9  # a per-class average image does not solve it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: extra threads only slow this down on a busy machine
    try:
        torch.manual_seed(0)
        mlp = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.Adam(mlp.parameters(), 2e-3)
        for _ in range(4):
            for b in torch.randperm(len(x)).split(50):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(mlp(x[b]), y[b]).backward()
                opt.step()
        with torch.no_grad():
            accuracy = (mlp(xt).argmax(1) == yt).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy > 0.8


def test_synthetic_digits_reject_other_shapes():
    with pytest.raises(ConfigError, match="1x28x28"):
        data.load("synthetic-digits", input_shape=(3, 32, 32), extra=SMALL)


# ---------------------------------------------------------------------------------------- image folders

COLOURS = {"cat": (255, 0, 0), "dog": (0, 0, 255), "owl": (0, 255, 0)}


def png(path: Path, colour=(255, 0, 0), size=(12, 10), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def grey(colour) -> int:
    return Image.new("RGB", (1, 1), colour).convert("L").getpixel((0, 0))


def test_image_folder_with_train_and_test_folders(tmp_path):
    for split, n in (("train", 4), ("val", 2)):
        for cls in ("dog", "cat"):
            for i in range(n):
                png(tmp_path / split / cls / f"{i}.png", COLOURS[cls])
    loaded = data.load("image-folder", input_shape=(1, 8, 6), data_dir=str(tmp_path))
    assert loaded.classes == ("cat", "dog")
    assert loaded.train_x.shape == (8, 1, 8, 6) and loaded.test_x.shape == (4, 1, 8, 6)
    assert loaded.train_x.dtype == torch.uint8 and loaded.train_y.dtype == torch.int64
    for x, y in ((loaded.train_x, loaded.train_y), (loaded.test_x, loaded.test_y)):
        for k, cls in enumerate(loaded.classes):
            assert (x[y == k] == grey(COLOURS[cls])).all()  # RGB converted to L, resized, labelled right
    assert loaded.warnings == []
    assert loaded.mean == pytest.approx(((grey(COLOURS["cat"]) + grey(COLOURS["dog"])) / 510,), abs=1e-3)
    assert data.availability("image-folder", str(tmp_path)).state == "ready"


def test_image_folder_class_subfolders_hold_out_a_seeded_fifth(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(10):
            png(tmp_path / cls / f"{cls}{i:02d}.png", COLOURS[cls])
    png(tmp_path / "owl" / "nested" / "only.png", COLOURS["owl"])

    a = data.load("image-folder", input_shape=(3, 4, 4), data_dir=str(tmp_path), seed=1)
    assert a.classes == ("cat", "dog", "owl")
    assert a.train_x.shape == (17, 3, 4, 4) and a.test_size == 4
    assert torch.bincount(a.test_y, minlength=3).tolist() == [2, 2, 0]  # a lone image stays in training
    assert tuple(a.train_x[a.train_y == 2][0, :, 0, 0].tolist()) == COLOURS["owl"]
    assert "held out" in a.source and len(a.mean) == 3

    def split(seed):
        return data_folder.holdout(data_folder.scan_folder(tmp_path).train, seed)[1]

    assert split(1) == split(1) and split(1) != split(2)


def test_image_folder_flat_files_named_by_class(tmp_path):
    names = ["cat.1.png", "cat.2.png", "Cat_3.png", "dog-1.png", "dog12.png", "dog.7.png",
             "owl.1.png", "owl.2.png"]
    for name in names:
        png(tmp_path / name, COLOURS[name[:3].lower()])
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = data.load("image-folder", input_shape=(1, 5, 5), data_dir=str(tmp_path))
    assert loaded.classes == ("cat", "dog", "owl")
    assert loaded.train_size + loaded.test_size == 8
    assert "class-prefixed" in data.availability("image-folder", str(tmp_path)).message
    labels = torch.cat([loaded.train_y, loaded.test_y])
    assert torch.bincount(labels).tolist() == [3, 3, 2]


def test_image_folder_flat_train_with_unlabelled_test(tmp_path):
    for i in range(5):
        png(tmp_path / "train" / f"cat.{i}.png", COLOURS["cat"])
        png(tmp_path / "train" / f"dog.{i}.png", COLOURS["dog"])
        png(tmp_path / "test" / f"{i}.png")  # the Kaggle test set: numbers only, no labels
    loaded = data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    assert loaded.classes == ("cat", "dog")
    assert (loaded.train_size, loaded.test_size) == (8, 2)
    assert any("test/" in w and "held out" in w for w in loaded.warnings)


def test_image_folder_skips_unreadable_images_with_a_warning(tmp_path):
    for i in range(3):
        for cls in ("cat", "dog"):
            png(tmp_path / "train" / cls / f"{i}.png", COLOURS[cls])
            png(tmp_path / "test" / cls / f"{i}.png", COLOURS[cls])
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = png(tmp_path / "train" / "cat" / "cut.png", size=(64, 64))
    good.write_bytes(good.read_bytes()[:60])  # truncated in the pixel data
    loaded = data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    assert loaded.train_size == 6 and loaded.test_size == 6
    assert len(loaded.warnings) == 2
    assert any("broken.png" in w for w in loaded.warnings) and any("cut.png" in w for w in loaded.warnings)


def test_image_folder_without_usable_images(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(b"garbage")
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "b.png").write_bytes(b"garbage")
    with pytest.raises(DatasetUnavailable, match="could be read"):
        data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    png(tmp_path / "numbers" / "123.png")  # no class in the name, no class folder
    assert data.availability("image-folder", str(tmp_path / "numbers")).state == "missing"
    with pytest.raises(DatasetUnavailable, match="no labelled images"):
        data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path / "numbers"))
    png(tmp_path / "singles" / "cat" / "1.png")
    png(tmp_path / "singles" / "dog" / "1.png")
    with pytest.raises(DatasetUnavailable, match="no test images"):
        data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path / "singles"))
    with pytest.raises(DatasetUnavailable, match="--data-dir"):
        data.load("image-folder", input_shape=(1, 4, 4))
    assert data.availability("image-folder").state == "missing"
    assert data.availability("image-folder", str(tmp_path / "absent")).state == "missing"


def test_big_image_folder_is_decoded_lazily_with_the_same_samples(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(tmp_path / f"{cls}.{i}.png")
    (tmp_path / "dog.99.png").write_bytes(b"not a png")
    eager = data.load("image-folder", input_shape=(3, 6, 5), data_dir=str(tmp_path), seed=3)
    lazy = data.load("image-folder", input_shape=(3, 6, 5), data_dir=str(tmp_path), seed=3, memory_budget=100)
    assert eager.train_x is not None and lazy.train_x is None and lazy.test_y is None
    assert isinstance(lazy.train_dataset, torch.utils.data.Dataset)
    assert (lazy.train_size, lazy.test_size) == (eager.train_size, eager.test_size)
    pairs = ((lazy.train_dataset, eager.train_x, eager.train_y),
             (lazy.test_dataset, eager.test_x, eager.test_y))
    for dataset, x, y in pairs:
        for i in range(len(dataset)):
            image, label = dataset[i]
            assert image.dtype == torch.uint8 and torch.equal(image, x[i]) and label == y[i]
    assert lazy.mean == pytest.approx(eager.mean) and lazy.std == pytest.approx(eager.std)
    assert len(lazy.warnings) == len(eager.warnings) == 1 and "dog.99.png" in lazy.warnings[0]
    again = pickle.loads(pickle.dumps(lazy.train_dataset))  # DataLoader workers receive it pickled
    assert torch.equal(again[0][0], lazy.train_dataset[0][0])


def test_load_image_converts_and_resizes(tmp_path):
    path = png(tmp_path / "a.png", (10, 20, 30), size=(40, 30))
    rgb = data_folder.load_image(path, (3, 7, 9))
    assert rgb.shape == (3, 7, 9) and rgb.dtype == torch.uint8 and rgb[:, 3, 4].tolist() == [10, 20, 30]
    grey_path = png(tmp_path / "g.jpg", 200, mode="L")
    assert data_folder.load_image(grey_path, (3, 2, 2)).shape == (3, 2, 2)
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(WorkbenchError, match="bad.jpg"):
        data_folder.load_image(tmp_path / "bad.jpg", (1, 4, 4))


def test_one_class_is_refused_and_an_empty_class_folder_is_a_warning(tmp_path):
    for i in range(3):
        png(tmp_path / "cat" / f"{i}.png", COLOURS["cat"])
    with pytest.raises(DatasetUnavailable, match=r"only one class \(cat\)"):
        data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    (tmp_path / "dog").mkdir()  # a class folder with nothing in it is still one class
    with pytest.raises(DatasetUnavailable, match="only one class"):
        data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    for i in range(3):
        png(tmp_path / "fox" / f"{i}.png", COLOURS["dog"])
    loaded = data.load("image-folder", input_shape=(1, 4, 4), data_dir=str(tmp_path))
    assert loaded.classes == ("cat", "fox")
    assert any("dog" in w and "no images" in w for w in loaded.warnings)


def test_the_quick_look_at_a_data_folder_is_bounded_so_typing_a_path_never_walks_the_disk(tmp_path, monkeypatch):
    # The app checks the data-folder field at every key: "/" or a home directory must not be walked whole.
    for i in range(30):
        (tmp_path / "big" / f"d{i:02d}").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "big" / "d29" / "0.png")
    deep = tmp_path / "deep" / "cat" / "a" / "b" / "c"
    deep.mkdir(parents=True)
    Image.new("L", (8, 8)).save(deep / "0.png")
    assert data_folder._has_image(tmp_path / "big")
    monkeypatch.setattr(data_folder, "QUICK_ENTRIES", 10)
    assert not data_folder._has_image(tmp_path / "big")  # gave up after 10 entries, before d29
    assert not data_folder._has_image(tmp_path / "deep" / "cat")  # deeper than a class folder's images go
    monkeypatch.undo()
    assert data.availability("image-folder", "/").state in ("missing", "ready")  # answers, and quickly


def test_synthetic_digits_are_drawn_once_then_read_and_a_damaged_copy_is_drawn_again(tmp_path, monkeypatch):
    from trainers.data import synthetic
    from trainers.data.registry import drawn_once

    drawn = []
    real = synthetic.generate
    monkeypatch.setattr(synthetic, "generate", lambda *a: drawn.append(a) or real(*a))
    first = drawn_once(50, 3, "train", tmp_path)
    again = drawn_once(50, 3, "train", tmp_path)
    assert len(drawn) == 1  # the second came from the file
    assert (first[0] == again[0]).all() and (first[1] == again[1]).all()
    assert (first[0] == real(50, 3, "train")[0]).all()  # the same digits as drawing them
    (cache,) = tmp_path.glob("*.npz")
    cache.write_bytes(cache.read_bytes()[:100])  # a copy cut short
    third = drawn_once(50, 3, "train", tmp_path)
    assert len(drawn) == 2 and (third[0] == first[0]).all()
    read_only = tmp_path / "ro"
    read_only.write_text("a file, not a folder")  # nowhere to keep it: drawn, not kept, no error
    assert (drawn_once(50, 3, "train", read_only)[0] == first[0]).all()
