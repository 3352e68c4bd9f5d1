"""The training loop as a caller sees it: the events it yields, stopping, pausing, seeds, failures."""

import math
import threading

import numpy as np
import pytest
import torch

from trainers import RunControl, run
from trainers.events import (BatchEnded, CheckpointSaved, EpochEnded, Paused, Predictions, Reconstructions,
                             RunFailed, RunFinished, RunStarted)
from tests.conftest import tiny_config


def kinds(events):
    return [type(e).__name__ for e in events]


def test_two_batch_run_yields_the_documented_sequence():
    events = list(run(tiny_config(limit_batches=2)))
    assert kinds(events) == ["RunStarted", "ParametersSnapshot", "Activations", "BatchEnded", "BatchEnded",
                             "EpochEnded", "Predictions", "ParametersSnapshot", "Confusion", "Activations",
                             "RunFinished"]
    started, before, _, b1, b2, epoch, preds, after, _, _, done = events
    assert started.parameters == 203530 and started.task == "classify" and started.batches_per_epoch == 2
    assert started.train_size == 256 and started.test_size == 64 and started.classes == tuple("0123456789")
    assert "Linear(in_features=784, out_features=256" in started.summary
    assert (b1.batch, b1.seen, b2.batch, b2.seen, b2.total) == (1, 32, 2, 64, 64)
    assert b2.step == 2 and b1.samples_per_sec > 0 and 0 <= b1.accuracy <= 1
    assert epoch.epoch == 1 and math.isfinite(epoch.test_loss) and 0 <= epoch.test_accuracy <= 1
    assert preds.images.dtype == np.uint8 and preds.images.shape == (32, 1, 28, 28)
    assert preds.probabilities.shape == (32, 10) and np.allclose(preds.probabilities.sum(1), 1, atol=1e-5)
    assert done.epochs_completed == 1 and not done.stopped
    # The snapshots are of the live model: its weights moved between initialisation and epoch 1.
    assert (before.epoch, after.epoch) == (0, 1)
    assert [p.name for p in before.parameters] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert before.parameters[0].first != after.parameters[0].first


def test_training_lowers_the_loss_on_synthetic_digits():
    cfg = tiny_config(model="mlp-deep", optimizer="adam", epochs=3, limit_batches=None,
                      extra={"train_size": 2000, "test_size": 400},
                      log_every=100)
    epochs = [e for e in run(cfg) if isinstance(e, EpochEnded)]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].test_accuracy > 0.5  # ten classes: chance is 0.1


def test_autoencoder_yields_reconstructions_as_small_uint8_images():
    events = list(run(tiny_config(model="autoencoder", epochs=2)))
    recs = [e for e in events if isinstance(e, Reconstructions)]
    assert [r.epoch for r in recs] == [1, 2]
    assert recs[0].originals.shape == recs[0].outputs.shape == (32, 1, 28, 28)
    assert recs[0].outputs.dtype == np.uint8
    assert np.array_equal(recs[0].originals, recs[1].originals)  # the same images every epoch
    assert not np.array_equal(recs[0].outputs, recs[1].outputs)
    assert all(e.accuracy is None for e in events if isinstance(e, BatchEnded))


def test_same_seed_same_numbers_other_seed_other_numbers():
    def losses(seed):
        return [e.loss for e in run(tiny_config(seed=seed)) if isinstance(e, BatchEnded)]

    assert losses(3) == losses(3)
    assert losses(3) != losses(4)


def test_stop_takes_effect_within_one_batch():
    control = RunControl()
    seen = []
    for event in run(tiny_config(limit_batches=None, epochs=3), control):
        seen.append(event)
        if isinstance(event, BatchEnded) and event.batch == 2:
            control.request_stop()
    batches = [e for e in seen if isinstance(e, BatchEnded)]
    assert batches[-1].batch == 2  # no batch after the one during which stop was asked
    assert isinstance(seen[-1], RunFinished) and seen[-1].stopped and seen[-1].epochs_completed == 0


def test_a_plain_threading_event_stops_too():
    stop = threading.Event()
    stop.set()
    events = list(run(tiny_config(), stop))
    assert isinstance(events[-1], RunFinished) and events[-1].stopped


def test_pause_yields_paused_and_resumes():
    control = RunControl()
    out = []
    for event in run(tiny_config(), control):
        out.append(event)
        if isinstance(event, BatchEnded) and event.batch == 1:
            control.pause()
            threading.Timer(0.5, control.resume).start()
    names = kinds(out)
    assert names.index("Paused") == names.index("BatchEnded") + 1
    # The pause is not training time: elapsed grows by far less than the 0.5 s spent paused
    b1, b2 = [e for e in out if isinstance(e, BatchEnded)][:2]
    assert b2.elapsed - b1.elapsed < 0.25
    assert [e.paused for e in out if isinstance(e, Paused)] == [True, False]
    assert isinstance(out[-1], RunFinished) and not out[-1].stopped


def test_resume_continues_from_the_checkpoint_up_to_the_total_asked(tmp_path):
    first = tmp_path / "a"
    list(run(tiny_config(epochs=1, out=str(first))))
    events = list(run(tiny_config(epochs=2, resume=str(first), out=str(tmp_path / "b"))))
    assert events[0].start_epoch == 1 and events[0].epochs == 2
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [2]


def test_resume_from_another_models_checkpoint_is_refused(tmp_path):
    list(run(tiny_config(out=str(tmp_path / "a"))))
    events = list(run(tiny_config(model="mlp-deep", resume=str(tmp_path / "a"))))
    assert kinds(events) == ["RunFailed"]
    assert "'mlp'" in events[0].reason and "mlp-deep" in events[0].reason


def test_save_request_writes_a_checkpoint_mid_run(tmp_path):
    control = RunControl()
    control.request_save()
    events = list(run(tiny_config(out=str(tmp_path / "r")), control))
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert saved and torch.load(saved[0].path, weights_only=True)["model_name"] == "mlp"


@pytest.mark.parametrize("overrides,phrase", [
    (dict(lr=-0.1), "learning rate"),
    (dict(batch_size=0), "batch size"),
    (dict(model="catdog-cnn"), "3x128x128"),
    (dict(model="nope"), "unknown model"),
    (dict(dataset="nope"), "unknown dataset"),
    (dict(device="cuda:7"), "cuda"),
])
def test_bad_configurations_fail_with_one_sentence(overrides, phrase):
    events = list(run(tiny_config(**overrides)))
    assert kinds(events) == ["RunFailed"]
    assert phrase in events[0].reason and "\n" not in events[0].reason


def test_nan_loss_stops_the_run_with_advice():
    events = list(run(tiny_config(model="mlp-deep", optimizer="sgd", lr=1e6, limit_batches=None, log_every=1)))
    assert isinstance(events[-1], RunFailed), events[-1]
    assert "diverged" in events[-1].reason and "lower learning rate" in events[-1].reason


def test_a_model_that_raises_becomes_a_readable_failure(tmp_path):
    src = tmp_path / "broken.py"
    src.write_text("import torch\nclass Net(torch.nn.Module):\n"
                   "    def __init__(self):\n        super().__init__(); self.fc = torch.nn.Linear(10, 10)\n"
                   "    def forward(self, x):\n        return self.fc(x)\n")
    events = list(run(tiny_config(model=f"{src}:Net")))
    assert kinds(events) == ["RunFailed"]
    assert "failed on a batch of 1x28x28" in events[0].reason


def test_a_users_model_file_trains(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text("import torch\n"
                   "def make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n")
    events = list(run(tiny_config(model=f"{src}:make")))
    assert isinstance(events[0], RunStarted) and events[0].parameters == 7850
    assert isinstance(events[-1], RunFinished)


def test_a_users_autoencoder_is_recognised_by_its_output_shape(tmp_path):
    src = tmp_path / "ae.py"
    src.write_text("import torch\nclass AE(torch.nn.Module):\n"
                   "    def __init__(self):\n        super().__init__(); self.c = torch.nn.Conv2d(1, 1, 3, padding=1)\n"
                   "    def forward(self, x):\n        return torch.sigmoid(self.c(x))\n")
    events = list(run(tiny_config(model=f"{src}:AE")))
    assert events[0].task == "reconstruct" and any(isinstance(e, Reconstructions) for e in events)


def test_a_users_model_file_that_fails_to_import_is_one_line(tmp_path):
    src = tmp_path / "bad.py"
    src.write_text("import no_such_module_here\n")
    events = list(run(tiny_config(model=f"{src}:Net")))
    assert kinds(events) == ["RunFailed"] and "ModuleNotFoundError" in events[0].reason


def test_classifier_on_image_folder_gets_the_folders_class_count(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog", "fox"):
        for i in range(6):
            Image.new("RGB", (40, 30), color=(i * 40, 100, 200 if cls == "dog" else 0)).save(tmp_path / f"{cls}.{i}.png")
    events = list(run(tiny_config(model="catdog-cnn", dataset="image-folder", data_dir=str(tmp_path),
                                  batch_size=4)))
    assert isinstance(events[-1], RunFinished), events[-1]
    preds = next(e for e in events if isinstance(e, Predictions))
    assert preds.classes == ("cat", "dog", "fox") and preds.images.shape[1:] == (3, 128, 128)


def test_a_users_model_file_is_executed_once_per_run(tmp_path):
    src = tmp_path / "counted.py"
    log = tmp_path / "imports.log"
    src.write_text(f"open({str(log)!r}, 'a').write('x')\n"
                   "import torch\n"
                   "def make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))\n")
    list(run(tiny_config(model=f"{src}:make")))
    assert log.read_text() == "x"


def test_save_while_paused_writes_at_once_and_stays_paused(tmp_path):
    control = RunControl()
    out = []
    for event in run(tiny_config(out=str(tmp_path / "r")), control):
        out.append(event)
        if isinstance(event, BatchEnded) and event.batch == 1:
            control.pause()
        elif isinstance(event, Paused) and event.paused:
            control.request_save()
        elif isinstance(event, CheckpointSaved) and control.paused:
            control.resume()
    names = kinds(out)
    paused, resumed = names.index("Paused"), len(names) - 1 - names[::-1].index("Paused")
    assert "CheckpointSaved" in names[paused:resumed]  # saved while still paused


def test_each_finished_epoch_is_saved_so_a_later_failure_keeps_it(tmp_path):
    src = tmp_path / "flaky.py"
    src.write_text("import torch\nclass Net(torch.nn.Module):\n"
                   "    calls = 0\n"
                   "    def __init__(self):\n        super().__init__(); self.fc = torch.nn.Linear(784, 10)\n"
                   "    def forward(self, x):\n"
                   "        Net.calls += 1\n"
                   "        if Net.calls > 8:\n            raise RuntimeError('broke in epoch 2')\n"
                   "        return self.fc(x.flatten(1))\n")
    events = list(run(tiny_config(model=f"{src}:Net", epochs=3, out=str(tmp_path / "r"))))
    failed = events[-1]
    assert isinstance(failed, RunFailed) and "broke in epoch 2" in failed.reason
    assert failed.epochs_completed == 1 and failed.checkpoint == str(tmp_path / "r" / "checkpoint.pt")
    assert torch.load(failed.checkpoint, weights_only=True)["epoch"] == 1


def test_a_model_returning_a_tuple_is_told_so(tmp_path):
    src = tmp_path / "tup.py"
    src.write_text("import torch\nclass Net(torch.nn.Module):\n"
                   "    def __init__(self):\n        super().__init__(); self.fc = torch.nn.Linear(784, 10)\n"
                   "    def forward(self, x):\n        y = self.fc(x.flatten(1)); return y, y\n")
    events = list(run(tiny_config(model=f"{src}:Net")))
    assert kinds(events) == ["RunFailed"] and "returned a tuple" in events[0].reason


def test_a_users_file_calling_exit_is_an_error_not_an_exit(tmp_path):
    src = tmp_path / "quits.py"
    src.write_text("import sys\nsys.exit(3)\n")
    events = list(run(tiny_config(model=f"{src}:Net")))
    assert kinds(events) == ["RunFailed"] and "SystemExit" in events[0].reason


def test_image_folder_warnings_reach_the_run(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        for i in range(4):
            Image.new("L", (28, 28), 40 if cls == "cat" else 220).save(tmp_path / f"{cls}.{i}.png")
    (tmp_path / "cat.9.png").write_bytes(b"not a png")
    events = list(run(tiny_config(model="mlp", dataset="image-folder", data_dir=str(tmp_path), batch_size=2)))
    assert isinstance(events[0], RunStarted), events[0]
    assert any("cat.9.png" in w for w in events[0].warnings)


def test_bf16_mixed_precision_trains_and_fp16_on_a_cpu_is_one_sentence():
    events = list(run(tiny_config(amp="bf16", epochs=2)))
    assert isinstance(events[-1], RunFinished) and math.isfinite(events[-1].final_test_loss)
    plain = [e.loss for e in run(tiny_config()) if isinstance(e, BatchEnded)]
    mixed = [e.loss for e in run(tiny_config(amp="bf16")) if isinstance(e, BatchEnded)]
    assert plain != mixed and all(abs(a - b) < 0.1 for a, b in zip(plain, mixed))  # close, not the same
    if not torch.cuda.is_available():
        failed = list(run(tiny_config(amp="fp16")))
        assert kinds(failed) == ["RunFailed"] and "needs a CUDA GPU" in failed[0].reason


@pytest.mark.slow
def test_compile_gives_the_same_run_up_to_float_rounding(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    plain = [e.loss for e in run(tiny_config()) if isinstance(e, BatchEnded)]
    compiled = [e.loss for e in run(tiny_config(compile=True)) if isinstance(e, BatchEnded)]
    assert len(compiled) == len(plain) and all(abs(a - b) < 1e-4 for a, b in zip(plain, compiled))
