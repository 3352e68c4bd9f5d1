"""The cost before training: figures checked against hand counts and torchinfo, the estimate's arithmetic,
and data that is not here."""

import gzip
import struct

import pytest
import torch
import torchinfo

from tests.conftest import TINY
from trainers import cost as costs
from trainers.config import RunConfig
from trainers.cost import estimate, format_cost, static_cost, timed_cost
from trainers.errors import ConfigError
from trainers.models import MODELS, get_spec

MODELS_PY = '''
from torch import nn

class Linear(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.fc = nn.Linear(784, 10, bias=bias)
    def forward(self, x):
        return self.fc(x.flatten(1))

def linear_no_bias():
    return Linear(bias=False)

class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 5)      # 1x28x28 -> 10x24x24
        self.fc = nn.Linear(10 * 24 * 24, 10)
    def forward(self, x):
        return self.fc(self.conv(x).relu().flatten(1))
'''


@pytest.fixture
def user_models(tmp_path):
    path = tmp_path / "tiny_models.py"
    path.write_text(MODELS_PY)
    return lambda name: f"{path}:{name}"


def config(model, **kw):
    base = dict(model=model, dataset="synthetic-digits", batch_size=32, epochs=3, device="cpu", extra=dict(TINY))
    base.update(kw)
    return RunConfig(**base)


def test_a_linear_layer_by_hand(user_models):
    c = static_cost(config(user_models("linear_no_bias")))
    assert c.params == c.trainable == 7840
    assert c.mult_adds_per_sample == 784 * 10  # one multiply-add per weight
    assert c.param_bytes == 7840 * 4
    # torchinfo keeps each layer-with-parameters' output twice (forward value and its gradient)
    assert c.activation_bytes_per_batch == 32 * 10 * 4 * 2
    assert c.input_bytes == 32 * 784 * 4
    with_bias = static_cost(config(user_models("Linear")))
    assert with_bias.params == 7850
    assert with_bias.mult_adds_per_sample == 7840 + 10  # torchinfo counts the bias adds too


def test_a_convolution_by_hand(user_models):
    c = static_cost(config(user_models("Conv"), batch_size=8))
    conv = 10 * 24 * 24 * (1 * 5 * 5) + 10 * 24 * 24  # a multiply-add per weight per output position, the bias
    fc = 5760 * 10 + 10
    assert c.mult_adds_per_sample == conv + fc
    assert c.params == 10 * 25 + 10 + fc
    assert c.activation_bytes_per_batch == 8 * (5760 + 10) * 4 * 2


@pytest.mark.parametrize("model", ["mlp-tied", "cnn-pool", "autoencoder"])
def test_the_figures_are_torchinfos_at_the_batch_size(model):
    """Counted on one sample and scaled: the same as torchinfo run on the whole batch."""
    c = static_cost(config(model, batch_size=16))
    net = get_spec(model).build()
    s = torchinfo.summary(net, input_size=(16, 1, 28, 28), device="cpu", mode="eval", verbose=0)
    assert c.mult_adds_per_sample * 16 == s.total_mult_adds
    assert c.activation_bytes_per_batch == s.total_output_bytes
    assert c.param_bytes == s.total_param_bytes
    assert c.params == s.total_params


def test_the_estimate_is_batches_times_epochs_plus_evaluation():
    c = estimate(config("mlp", batch_size=32, epochs=3), steps=3, warmup=1)
    assert c.batches_per_epoch == 256 // 32 and c.eval_samples == 64
    assert c.seconds_per_batch > 0 and c.timed_steps == 3 and c.device.startswith("cpu")
    assert c.seconds_per_epoch == pytest.approx(c.seconds_per_batch * 8 + c.eval_seconds_per_sample * 64)
    assert c.seconds_total == pytest.approx(3 * c.seconds_per_epoch)
    bigger = static_cost(config("mlp", batch_size=32, extra={"train_size": 1000, "test_size": 64}))
    assert bigger.batches_per_epoch == 32  # the last, partial batch counts
    limited = static_cost(config("mlp", limit_batches=3, limit_test_batches=1, test_batch_size=10))
    assert limited.batches_per_epoch == 3 and limited.eval_samples == 10


def test_the_models_defaults_fill_what_is_unset():
    c = static_cost(RunConfig(model="lenet5", dataset="synthetic-digits"))
    assert c.batch_size == MODELS["lenet5"].defaults["batch_size"] == 256
    assert c.epochs == 10


def test_a_dataset_not_here_keeps_the_static_figures(tmp_path):
    c = static_cost(config("mlp", dataset="mnist", data_dir=str(tmp_path), batch_size=64))
    assert (c.train_size, c.test_size, c.batches_per_epoch) == (60000, 10000, 938)
    assert "not here" in c.sizes_note
    folder = static_cost(config("catdog-cnn", dataset="image-folder", data_dir=str(tmp_path / "none")))
    assert folder.batches_per_epoch is None and "no folder" in folder.sizes_note
    assert folder.mult_adds_per_sample > 0 and folder.input_shape == (3, 128, 128)
    assert "size unknown" in "\n".join(format_cost(folder))


def test_idx_sizes_come_from_the_headers_alone(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name, n in (("train-images-idx3-ubyte", 70), ("t10k-images-idx3-ubyte", 30)):
        # a header that declares more images than the file holds: only the header is read
        (folder / (name + ".gz")).write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28)))
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 0))
    c = static_cost(config("mlp", dataset="mnist", data_dir=str(tmp_path), batch_size=32))
    assert (c.train_size, c.test_size, c.batches_per_epoch, c.sizes_note) == (70, 30, 3, "")


def test_frozen_layers_are_not_trainable_and_all_frozen_cannot_be_timed():
    c = static_cost(config("mlp", freeze=["fc1"]))
    assert c.params == 203530 and c.trainable == 2570
    with pytest.raises(ConfigError, match="frozen"):
        estimate(config("mlp", freeze=["fc1", "fc2"]))


def test_cancelled_dry_run_leaves_the_cost_untimed():
    c = static_cost(config("mlp"))
    assert timed_cost(c, config("mlp"), cancelled=lambda: True) == c


def test_bad_settings_are_one_sentence():
    with pytest.raises(ConfigError, match="3x128x128"):
        static_cost(config("catdog-cnn"))
    with pytest.raises(ConfigError, match="batch size"):
        static_cost(config("mlp", batch_size=0))


def test_the_median_is_of_timed_steps_after_the_warm_up(monkeypatch):
    clock = [0.0]
    durations = iter([50.0, 50.0, 1.0, 3.0, 2.0, 9.0])  # two slow warm-ups, then the timed steps

    def step():
        clock[0] += next(durations)

    monkeypatch.setattr(costs.time, "perf_counter", lambda: clock[0])
    median, n = costs._median_time(step, torch.device("cpu"), warmup=2, steps=3, budget_s=100,
                                   cancelled=lambda: False)
    assert (median, n) == (2.0, 3)
    durations = iter([0.0, 3.0, 3.0, 3.0])  # over the budget after two timed steps: stop there
    median, n = costs._median_time(step, torch.device("cpu"), warmup=1, steps=3, budget_s=5,
                                   cancelled=lambda: False)
    assert (median, n) == (3.0, 2)


@pytest.mark.parametrize("model", list(MODELS))
def test_every_models_lines_fit_the_pickers_panel(model):
    dataset = "image-folder" if model == "catdog-cnn" else "mnist"
    c = static_cost(RunConfig(model=model, dataset=dataset, device="cpu"))
    timed = costs.dataclasses.replace(c, device="cuda:0 (NVIDIA H200)", seconds_per_batch=1.234,
                                      seconds_per_epoch=3599.0, seconds_total=35990.0)
    for lines in (format_cost(c, "timing…"), format_cost(timed)):
        assert len(lines) == 4 and len("Cost · " + lines[0]) <= 40 and all(len(line) <= 40 for line in lines), lines


@pytest.mark.slow
def test_the_dry_run_in_its_own_interpreter():
    cfg = config("mlp")
    c = static_cost(cfg)
    timed = costs.timed_elsewhere(c, cfg, warmup=1, steps=2)
    assert timed.seconds_per_batch > 0 and timed.timed_steps == 2
    assert dataclasses_equal_but_timing(timed, c)
    with pytest.raises(costs.WorkbenchError, match="every parameter is frozen"):
        costs.timed_elsewhere(c, config("mlp", freeze=["fc1", "fc2"]))
    assert costs.timed_elsewhere(c, cfg, cancelled=lambda: True) == c  # killed at once, cost unchanged


def dataclasses_equal_but_timing(a, b) -> bool:
    static = ("params", "trainable", "mult_adds_per_sample", "param_bytes", "activation_bytes_per_batch",
              "input_bytes", "batches_per_epoch", "eval_samples", "input_shape")
    return all(getattr(a, f) == getattr(b, f) for f in static)
