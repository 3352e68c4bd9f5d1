"""`workbench export`: a standalone script that trains the run again, its metrics as CSV, TensorBoard files."""

import ast
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import recorded, tiny_config
from trainers.events import BatchEnded, EpochEnded, Predictions, RunFinished
from workbench.cli import main

# Runs a script with trainers and workbench made unimportable (the editable install would otherwise find them
# from anywhere): the exported script must stand on torch and torchvision alone.
RUNNER = ("import runpy, sys\n"
          "sys.modules['trainers'] = sys.modules['workbench'] = None\n"
          "sys.argv = [sys.argv[1]]\n"
          "runpy.run_path(sys.argv[0], run_name='__main__')\n")
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ .*test loss ([\d.]+)(?: accuracy ([\d.]+)% \((\d+)/(\d+)\))?$")


def run_script(script: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_DATA", "WORKBENCH_RUNS")}
    return subprocess.run([sys.executable, "-c", RUNNER, str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_the_runner_really_cannot_import_the_workbench(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import trainers\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    plain = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert plain.returncode == 0  # the editable install finds trainers from anywhere: hence the runner
    out = run_script(probe, tmp_path)
    assert out.returncode != 0 and "import of trainers halted" in out.stderr


USER_MODEL = '''from __future__ import annotations

import torch
from torch import nn

WIDTH = 8


class Squeeze(nn.Module):
    """A tiny autoencoder of the user's own: 784 -> WIDTH -> 784."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Linear(784, WIDTH)
        self.up = nn.Linear(WIDTH, 784)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up(torch.relu(self.down(x.flatten(1))))).view_as(x)


if __name__ == "__main__":
    raise SystemExit("this must not run inside the exported script")
'''

CASES = {
    # the default path on the first batches of one epoch
    "mlp-limited": dict(model="mlp", seed=5, limit_batches=3, limit_test_batches=None),
    # whole epochs twice (the data order of epoch 2 depends on epoch 1's draws), SGD, per-layer settings
    "cnn-whole-epochs": dict(model="cnn-pool", seed=11, epochs=2, limit_batches=None, limit_test_batches=None,
                             extra={"train_size": 96, "test_size": 40, "data_seed": 3}, init="kaiming",
                             layer_init=["conv1=xavier", "fc=constant:0.01"], freeze=["conv2"], weight_decay=1e-4,
                             lr=0.05),
    # a user's file, copied in; a reconstruction task (MSE, no accuracy)
    "user-autoencoder": dict(model="USER:Squeeze", seed=2, epochs=2, limit_batches=2, limit_test_batches=1,
                             test_batch_size=16),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.slow
def test_the_script_trains_to_the_runs_test_figures_without_the_workbench(tmp_path, case):
    settings = dict(CASES[case])
    if settings["model"].startswith("USER:"):
        model_file = tmp_path / "mine.py"
        model_file.write_text(USER_MODEL)
        settings["model"] = f"{model_file}:Squeeze"
    folder, events = recorded(tiny_config(out=str(tmp_path / "run"), **settings))
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert finished, [e for e in events if type(e).__name__ == "RunFailed"]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    home = tmp_path / "elsewhere"
    home.mkdir()
    assert main(["export", folder, "--script", str(home / "train.py")]) == 0
    script = home / "train.py"
    imported = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"torch", "torchvision", "numpy", "PIL", "math", "gzip", "shutil", "pathlib"}, imported

    out = run_script(script, home)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [m for m in map(EPOCH_LINE.match, out.stdout.splitlines()) if m]
    assert [int(m.group(1)) for m in lines] == [e.epoch for e in epochs]
    for m, e in zip(lines, epochs):
        assert float(m.group(2)) == pytest.approx(e.test_loss, abs=2e-6)
        if e.test_accuracy is None:
            assert m.group(3) is None
        else:  # the same count of correct test images, so the same figure to every printed digit
            assert m.group(3) == f"{100 * e.test_accuracy:.2f}"
            assert int(m.group(4)) == round(e.test_accuracy * int(m.group(5)))
    if finished[0].final_test_accuracy is not None:
        assert lines[-1].group(3) == f"{100 * finished[0].final_test_accuracy:.2f}"


def _write_idx(path: Path, array) -> None:
    """A gzipped IDX file of uint8 `array`, as Zalando and Debian ship them."""
    import gzip
    import struct

    import numpy as np

    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()))


@pytest.mark.slow
def test_a_fashion_mnist_script_reads_the_runs_own_files_through_torchvision(tmp_path):
    from trainers.data.synthetic import generate

    files = tmp_path / "data" / "fashion-mnist"  # one of the folders the workbench looks in
    files.mkdir(parents=True)
    for split, n, prefix in (("train", 80, "train"), ("test", 30, "t10k")):
        x, y = generate(n, 4, split)
        _write_idx(files / f"{prefix}-images-idx3-ubyte.gz", x[:, 0])
        _write_idx(files / f"{prefix}-labels-idx1-ubyte.gz", y)
    config = tiny_config(dataset="fashion-mnist", data_dir=str(tmp_path / "data"), download=False, seed=3,
                         out=str(tmp_path / "run"), limit_batches=2, extra={})
    folder, events = recorded(config)
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert finished and finished[0].final_test_accuracy is not None, events[-1]
    home = tmp_path / "elsewhere"
    home.mkdir()
    assert main(["export", folder, "--script", str(home / "train.py")]) == 0
    assert f'SOURCE = Path("{files}")' in (home / "train.py").read_text()
    out = run_script(home / "train.py", home)
    assert out.returncode == 0, out.stderr[-2000:]
    last = [m for m in map(EPOCH_LINE.match, out.stdout.splitlines()) if m][-1]
    assert last.group(3) == f"{100 * finished[0].final_test_accuracy:.2f}" and last.group(5) == "30"
    assert sorted(p.name for p in (home / "data" / "FashionMNIST" / "raw").iterdir()) == sorted(
        f"{p}-{k}-idx{d}-ubyte" for p in ("train", "t10k") for k, d in (("images", 3), ("labels", 1)))


def _batches_and_epochs(events):
    return [e for e in events if isinstance(e, BatchEnded)], [e for e in events if isinstance(e, EpochEnded)]


def test_csv_has_one_row_per_logged_batch_and_per_epoch(tmp_path, capsys):
    folder, events = recorded(tiny_config(out=str(tmp_path / "run"), epochs=2, log_every=2, limit_batches=5))
    batches, epochs = _batches_and_epochs(events)
    assert main(["export", folder, "--csv", str(tmp_path / "m.csv")]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert [r["kind"] for r in rows] == ["batch"] * 3 + ["epoch"] + ["batch"] * 3 + ["epoch"]
    batch_rows = [r for r in rows if r["kind"] == "batch"]
    assert [(int(r["epoch"]), int(r["batch"]), int(r["step"])) for r in batch_rows] == \
        [(b.epoch, b.batch, b.step) for b in batches]
    assert [float(r["loss"]) for r in batch_rows] == [b.loss for b in batches]  # full precision, not rounded
    assert [float(r["accuracy"]) for r in batch_rows] == [b.accuracy for b in batches]
    epoch_rows = [r for r in rows if r["kind"] == "epoch"]
    assert [float(r["test_accuracy"]) for r in epoch_rows] == [e.test_accuracy for e in epochs]
    assert [float(r["test_loss"]) for r in epoch_rows] == [e.test_loss for e in epochs]
    assert [float(r["loss"]) for r in epoch_rows] == [e.train_loss for e in epochs]
    assert [int(r["step"]) for r in epoch_rows] == [5, 10] and all(r["test_loss"] == "" for r in batch_rows)

    # no FILE: standard output, and nothing else on it
    assert main(["export", folder, "--csv"]) == 0
    captured = capsys.readouterr()
    assert list(csv.DictReader(io.StringIO(captured.out))) == rows
    assert captured.err == ""
    # the run after a bare --csv (argparse hands it to --csv): still the run, to standard output
    assert main(["export", "--csv", folder]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == rows


def test_tensorboard_files_read_back_with_every_scalar(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder, events = recorded(tiny_config(out=str(tmp_path / "run"), epochs=2, limit_batches=4, log_every=2))
    batches, epochs = _batches_and_epochs(events)
    assert main(["export", folder, "--tensorboard", str(tmp_path / "tb")]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    logdir = tmp_path / "tb" / "run"  # DIR/RUN_NAME: several runs exported to one DIR sit side by side
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("batch/loss", "batch/accuracy", "batch/samples_per_sec"):
        assert [s.step for s in acc.Scalars(tag)] == [b.step for b in batches]
    assert [s.value for s in acc.Scalars("batch/loss")] == pytest.approx([b.loss for b in batches])
    for tag in ("epoch/train_loss", "epoch/train_accuracy", "epoch/test_loss", "epoch/test_accuracy"):
        assert [s.step for s in acc.Scalars(tag)] == [1, 2]
    assert [s.value for s in acc.Scalars("epoch/test_accuracy")] == pytest.approx([e.test_accuracy for e in epochs])
    predictions = [e for e in events if isinstance(e, Predictions)]
    assert [i.step for i in acc.Images("predictions")] == [p.epoch for p in predictions]
    texts = {t.split("/")[0] for t in tags["tensors"]}
    assert {"config", "predictions"} <= texts, tags
    assert "_hparams_/experiment" in acc.PluginTagToContent("hparams")  # the HPARAMS tab's settings
    assert acc.Scalars("hparam/test_accuracy")[0].value == pytest.approx(epochs[-1].test_accuracy)
    # a second export to the same place would mix two copies in TensorBoard's charts
    assert main(["export", folder, "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "already holds TensorBoard files" in capsys.readouterr().err


def test_without_tensorboard_installed_the_error_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    folder, _ = recorded(tiny_config(out=str(tmp_path / "run"), limit_batches=1))
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith(("tensorboard.", "torch.utils.tensorboard"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard raises ImportError
    assert main(["export", folder, "--tensorboard", str(tmp_path / "tb"), "--script", str(tmp_path / "t.py")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'workbench[tensorboard]'" in err
    assert not (tmp_path / "t.py").exists() and not (tmp_path / "tb").exists()  # nothing half done


def _error(capsys, *argv) -> str:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and err.count("\n") == 1, err
    return err


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    folder, _ = recorded(tiny_config(out=str(tmp_path / "run"), limit_batches=1))
    assert "no run named 'nope'" in _error(capsys, "nope", "--csv")
    assert "needs --script FILE, --csv [FILE] or --tensorboard DIR" in _error(capsys, folder)
    waiting = tmp_path / "waiting"
    waiting.mkdir()
    (waiting / "request.json").write_text(json.dumps({"model": "mlp"}))
    assert "has not started yet" in _error(capsys, str(waiting), "--script", str(tmp_path / "t.py"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "never started" in _error(capsys, str(empty), "--csv")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("{not json")
    assert "damaged" in _error(capsys, str(damaged), "--script", str(tmp_path / "t.py"))
    assert "does not exist" in _error(capsys, folder, "--script", str(tmp_path / "no" / "such" / "t.py"))
    assert "is a folder" in _error(capsys, folder, "--csv", str(tmp_path))
    (tmp_path / "file").write_text("")
    assert "cannot write TensorBoard files" in _error(capsys, folder, "--tensorboard", str(tmp_path / "file"))
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "permission denied" in _error(capsys, folder, "--script", str(locked / "t.py"))
    assert not (tmp_path / "t.py").exists()


def test_an_image_folder_run_is_refused_for_scripts_in_one_line(tmp_path):
    from trainers.errors import WorkbenchError
    from trainers.export.script import script_source

    config = tiny_config(dataset="image-folder", model="mlp").to_dict()
    with pytest.raises(WorkbenchError, match="--csv and --tensorboard work"):
        script_source(config, tmp_path)
