"""The `workbench` command without a screen, run as a user would: a subprocess, its output and exit code."""

import csv
import json
import os
import subprocess

import pytest

from tests import python
from PIL import Image

pytestmark = pytest.mark.slow  # each test starts the command as a process of its own

TINY = ["--dataset", "synthetic-digits", "--device", "cpu", "--limit-batches", "3"]


def wb(*args, cwd=None, env_extra=None):
    return python.workbench(*args, cwd=cwd, env=dict(os.environ, **(env_extra or {})))


def test_models_lists_every_model_with_its_input_and_seed():
    out = wb("models")
    assert out.returncode == 0
    for name in ("mlp-scratch", "mlp-deep", "mnistnet", "cnn-pool", "resnet-small", "lenet5", "autoencoder",
                 "catdog-cnn"):
        assert name in out.stdout
    assert "3x128x128" in out.stdout and "reconstruct" in out.stdout


def test_datasets_says_what_is_ready_and_where_files_go(tmp_path):
    out = wb("datasets", "--data-dir", str(tmp_path))
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert any(line.startswith("synthetic-digits") and "ready" in line for line in lines)
    assert str(tmp_path / "MNIST" / "raw") in out.stdout


def test_inspect_prints_tree_parameters_and_shapes():
    out = wb("inspect", "lenet5", "--dataset", "fashion-mnist")
    assert out.returncode == 0, out.stderr
    assert "AvgPool2d(kernel_size=2, stride=2, padding=0)" in out.stdout
    for shape in ("6x28x28", "6x14x14", "16x10x10", "16x5x5", "400", "120", "84"):
        assert shape in out.stdout
    assert "61,706" in out.stdout and "0.weight" in out.stdout


def test_inspect_piped_never_wraps_the_printed_model():
    out = wb("inspect", "cnn-pool", "--no-time")  # stdout is a pipe here, as in `| less` or `> file`
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    pooling = [line for line in lines if "MaxPool2d(" in line]
    assert pooling and all(line.rstrip().endswith("ceil_mode=False)") for line in pooling), pooling
    assert any(len(line) > 80 for line in lines)  # it was cut at 80 columns before


def test_train_piped_prints_plain_lines_and_writes_the_run(tmp_path):
    out = wb("train", "--model", "mlp", *TINY, "--epochs", "2", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\r" not in out.stdout  # log files stay readable
    epochs = [line for line in out.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and "test loss" in epochs[0] and "acc" in epochs[0]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("args,phrase", [
    (["train", "--model", "nope", *TINY], "unknown model"),
    (["train", "--model", "mlp", "--dataset", "nope"], "unknown dataset"),
    (["train", "--model", "catdog-cnn", *TINY], "3x128x128"),
    (["train", "--model", "mlp", *TINY, "--lr", "-1"], "learning rate"),
    (["train", "--model", "mlp", *TINY, "--batch-size", "0"], "batch-size"),
    (["train", "--model", "mlp", "--dataset", "mnist", "--no-download", "--data-dir", "{tmp}"], "MNIST"),
    (["predict", "{tmp}/nothing", "--images", "{tmp}"], "no run named"),
    (["predict", "{tmp}", "--images", "{tmp}"], "no checkpoint"),  # a folder, but no run's
    # the output is checked before the run is even looked at
    (["predict", "{tmp}/nothing", "--images", "{tmp}", "--out", "{tmp}/no/such/x.csv"], "does not exist"),
    (["predict", "{tmp}/nothing", "--images", "{tmp}", "--out", "{tmp}"], "is a folder"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, args, phrase):
    out = wb(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    problem = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(problem) == 1 and phrase in out.stderr, out.stderr


@pytest.mark.parametrize("args,phrase", [
    (["--model", "nope"], "unknown model 'nope'"),
    (["--model", "nope", "--dataset", "nope"], "unknown model 'nope'"),
    (["--model", "mlp", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["--model", "{tmp}/missing.py:Net"], "missing.py does not exist"),
])
def test_unknown_names_stop_before_the_app_opens(tmp_path, args, phrase):
    out = wb(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert out.returncode == 2
    assert out.stdout == ""  # no screen was drawn
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("workbench: error: ") and phrase in out.stderr


def test_a_pair_that_does_not_fit_still_opens_the_picker(tmp_path):
    from trainers import RunConfig
    from workbench.cli import check_names

    check_names(RunConfig(model="catdog-cnn", dataset="mnist"))  # the picker explains it; no error here
    model_file = tmp_path / "mine.py"
    model_file.write_text("raise SystemExit('must not be imported by the check')\n")
    check_names(RunConfig(model=f"{model_file}:Net", dataset="synthetic-digits"))


def test_image_folder_warnings_are_printed_by_train(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for cls, colour in (("cat", (250, 250, 250)), ("dog", (0, 0, 0))):
        for i in range(4):
            Image.new("RGB", (16, 16), colour).save(data / f"{cls}.{i}.png")
    (data / "cat.9.png").write_bytes(b"garbage, not a png")
    out = wb("train", "--model", "catdog-cnn", "--dataset", "image-folder", "--data-dir", str(data), "--device", "cpu",
             "--epochs", "1", "--batch-size", "2", "--limit-batches", "1", "--out", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("workbench: warning: ")]
    assert any("cat.9.png" in line for line in warnings), out.stderr
    assert "Traceback" not in out.stderr


def test_predict_labels_a_folder_and_skips_unreadable_images(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    for cls, colour in (("cat", (250, 250, 250)), ("dog", (0, 0, 0))):
        for i in range(8):
            Image.new("RGB", (32, 32), colour).save(train / f"{cls}.{i}.png")
    run_dir = tmp_path / "run"
    out = wb("train", "--model", "catdog-cnn", "--dataset", "image-folder", "--data-dir", str(train),
             "--device", "cpu", "--epochs", "1", "--batch-size", "8", "--out", str(run_dir))
    assert out.returncode == 0, out.stderr
    images = tmp_path / "test"
    images.mkdir()
    Image.new("RGB", (50, 40), (240, 240, 240)).save(images / "1.jpg")
    Image.new("RGB", (50, 40), (10, 10, 10)).save(images / "2.jpg")
    (images / "3.jpg").write_bytes(b"not an image")
    out = wb("predict", str(run_dir), "--images", str(images), "--out", str(tmp_path / "res.csv"))
    assert out.returncode == 0, out.stderr
    assert "3.jpg" in out.stderr and "Traceback" not in out.stderr
    rows = list(csv.DictReader(open(tmp_path / "res.csv")))
    assert [r["file"] for r in rows] == ["1.jpg", "2.jpg"]
    assert {r["class"] for r in rows} <= {"cat", "dog"} and all(0 < float(r["probability"]) <= 1 for r in rows)
    if os.path.exists("/dev/full"):  # a write that fails half way (a full disk) is one line too
        out = wb("predict", str(run_dir), "--images", str(images), "--out", "/dev/full")
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.splitlines()[-1].startswith("workbench: error: could not write /dev/full")


def test_ctrl_c_stops_after_the_batch_and_saves_the_run(tmp_path):
    import signal

    env = dict(os.environ)
    proc = python.popen([python.PYTHON, "-m", "workbench.cli", "train", "--model", "mlp", "--dataset",
                         "synthetic-digits", "--device", "cpu", "--epochs", "1000", "--out", str(tmp_path / "r")],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.readline()  # printed when training starts
    assert first.startswith("mlp on synthetic-digits")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and "stopping after this batch" in err
    assert "stopped at epoch 1, batch" in out and "--resume r" in out
    assert (tmp_path / "r" / "checkpoint.pt").is_file()  # the weights trained so far are kept


def test_a_second_train_into_the_same_out_goes_beside_it_and_says_where(tmp_path):
    args = ["train", "--model", "mlp", *TINY, "--epochs", "1", "--out", str(tmp_path / "run")]
    assert wb(*args).returncode == 0
    out = wb(*args)
    assert out.returncode == 0 and f"run saved in {tmp_path / 'run'}-2" in out.stdout


def test_inspect_with_a_dataset_prints_the_cost_and_a_timed_estimate():
    out = wb("inspect", "mlp", "--dataset", "synthetic-digits", "--device", "cpu", "--epochs", "2",
             "--batch-size", "50")
    assert out.returncode == 0, out.stderr
    assert "total parameters: 203,530" in out.stdout  # the earlier sections are still there
    cost = out.stdout[out.stdout.index("\nCost"):]
    assert "parameters: 203,530, 203,530 trainable" in cost
    assert "204k mult-adds/sample, batch 50" in cost
    assert "a batch on cpu" in cost and "2 epochs ≈" in cost
    assert "200 batches of 50 + 2,000 test samples" in cost  # 10,000 generated digits by default
    assert "random data" in cost


def test_inspect_cost_without_the_data_or_the_dry_run(tmp_path):
    out = wb("inspect", "lenet5", "--dataset", "mnist", "--data-dir", str(tmp_path), "--no-time")
    assert out.returncode == 0, out.stderr
    cost = out.stdout[out.stdout.index("\nCost"):]
    assert "epoch: 235 batches + 10,000 test" in cost  # lenet5's batch of 256 over the standard 60,000
    assert "the standard split; the files are not here" in cost
    assert "timing skipped (--no-time)" in cost and "a batch on" not in cost


def test_inspect_bad_batch_size_is_one_line_before_any_output():
    out = wb("inspect", "mlp", "--dataset", "mnist", "--batch-size", "0", "--no-time")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == "workbench: error: batch size must be at least 1, got 0."


def test_the_app_without_a_terminal_is_one_line_not_escape_codes_and_a_hang(tmp_path):
    from tests.conftest import recorded, tiny_config

    one, _ = recorded(tiny_config(out=str(tmp_path / "one")))
    two, _ = recorded(tiny_config(model="lenet5", out=str(tmp_path / "two")))
    for args in ([], ["attach", one], ["compare", one, two]):
        out = python.run([python.PYTHON, "-m", "workbench.cli", *args], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)  # as under cron, or `| head`
        assert out.returncode == 2 and "\x1b" not in out.stdout, args
        assert out.stderr.count("\n") == 1 and "the app needs a terminal" in out.stderr, out.stderr


def test_train_resumes_from_a_checkpoint_file_outside_any_run(tmp_path):
    from tests.conftest import recorded, tiny_config

    folder, _ = recorded(tiny_config(out=str(tmp_path / "first")))
    lone = tmp_path / "elsewhere" / "weights.pt"
    lone.parent.mkdir()
    lone.write_bytes((tmp_path / "first" / "checkpoint.pt").read_bytes())
    home = tmp_path / "home"
    out = wb("train", "--resume", str(lone), "--epochs", "2", env_extra={"WORKBENCH_RUNS": str(home)})
    assert out.returncode == 0, out.stderr
    assert "resumed after epoch 1, on to epoch 2" in out.stdout and "finished 2 epoch(s)" in out.stdout
    (run,) = home.iterdir()  # a new run in the runs home, with the file's settings
    assert [json.loads(r)["epoch"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [2]
    assert json.loads((run / "config.json").read_text())["model"] == "mlp"
    out = wb("train", "--resume", str(lone), env_extra={"WORKBENCH_RUNS": str(home)})  # nothing left to train
    assert out.returncode == 2 and "1 epoch(s) done" in out.stderr and out.stderr.count("\n") == 1
    assert len(list(home.iterdir())) == 1  # and no failed run left behind


def test_a_damaged_checkpoint_is_called_damaged_and_the_finished_run_stays_finished(tmp_path):
    from tests.conftest import recorded, tiny_config
    from trainers.runs import read_status

    folder, _ = recorded(tiny_config(out=str(tmp_path / "run")))
    path = tmp_path / "run" / "checkpoint.pt"
    path.write_bytes(b"garbage, not a checkpoint")
    (tmp_path / "run" / "checkpoint.json").unlink()  # no digest to check: torch.load meets the damage
    before = {name: (tmp_path / "run" / name).read_bytes() for name in ("events.jsonl", "metrics.jsonl", "result.json")}
    out = wb("train", "--resume", folder, "--epochs", "2")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "is not a readable checkpoint" in out.stderr and "could run code" not in out.stderr
    assert read_status(folder).state == "finished"
    assert {name: (tmp_path / "run" / name).read_bytes() for name in before} == before


def test_a_misspelt_name_leaves_no_run_and_a_run_that_fails_to_start_says_what_it_was(tmp_path):
    home = tmp_path / "home"
    env = {"WORKBENCH_RUNS": str(home)}
    assert wb("train", "--model", "mpl", *TINY, env_extra=env).returncode == 2
    assert wb("train", "--model", "catdog-cnn", *TINY, env_extra=env).returncode == 2  # 3x128x128 on 1x28x28
    assert not home.exists() or not list(home.iterdir())
    out = wb("train", "--model", "lenet5", "--dataset", "mnist", "--no-download", "--data-dir", str(tmp_path),
             env_extra=env)
    assert out.returncode == 1 and "MNIST" in out.stderr
    listing = wb("runs", env_extra=env).stdout.splitlines()
    assert len(listing) == 2 and listing[1].split()[1:4] == ["lenet5", "mnist", "0/0"], listing


def test_train_takes_the_default_dataset_when_none_is_given(tmp_path):
    out = wb("train", "--model", "mlp", "--device", "cpu", "--limit-batches", "2", "--epochs", "1",
             "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mlp on synthetic-digits")


def test_predict_labels_one_image_file(tmp_path):
    from tests.conftest import recorded, tiny_config

    folder, _ = recorded(tiny_config(out=str(tmp_path / "run")))
    Image.new("L", (28, 28), 200).save(tmp_path / "seven.png")
    out = wb("predict", folder, "--images", str(tmp_path / "seven.png"), "--out", str(tmp_path / "res.csv"))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(open(tmp_path / "res.csv")))
    assert [r["file"] for r in rows] == ["seven.png"] and rows[0]["class"] in "0123456789"
