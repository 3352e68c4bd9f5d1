"""Every model in the zoo: the seeds' shapes, a forward pass and one training step on tiny data."""

import pytest
import torch

from trainers.inspection import count_parameters, layer_shapes
from trainers.models.init import init_parameters
from trainers.train.loop import loss_fn
from trainers.models import MODELS, get_spec
from trainers.errors import ConfigError

# Parameter counts follow from the seeds' layer sizes; a changed layer changes the count.
EXPECTED_PARAMS = {
    "mlp-scratch": 784 * 256 + 256 + 256 * 10 + 10,
    "mlp": 784 * 256 + 256 + 256 * 10 + 10,
    "mlp-deep": 784 * 512 + 512 + 512 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10,
    "mlp-wide": 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10,
    "mnistnet": 784 * 28 + 28 + 28 * 10 + 10,
    "cnn-strided": (16 * 9 + 16) + (32 * 16 * 9 + 32) + (64 * 32 * 49 + 64) + (64 * 120 + 120) + (120 * 10 + 10),
    "cnn-pool": (10 * 25 + 10) + (20 * 10 * 25 + 20) + (320 * 10 + 10),
    "resnet-small": (16 * 25 + 16) + (32 * 16 * 25 + 32) + 2 * (16 * 16 * 9 + 16) + 2 * (32 * 32 * 9 + 32) + 512 * 10 + 10,
    "lenet5": (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10),
    "mlp-tied": 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10,
    "autoencoder": (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 32 * 49 + 32) + (32 * 32 * 49 + 32)
    + (32 * 16 * 9 + 16) + (16 * 9 + 1),
    "catdog-cnn": (6 * 3 * 25 + 6) + (16 * 6 * 25 + 16) + (32 * 16 * 16 + 32) + (32 * 32 * 16 + 32)
    + (32 * 32 * 25 + 32) + (32 * 16 + 16) + (16 * 2 + 2),
}


def test_every_registered_model_is_covered():
    assert set(MODELS) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_shape_and_one_training_step(name):
    spec = MODELS[name]
    torch.manual_seed(0)
    model = spec.build()
    assert count_parameters(model)[0] == EXPECTED_PARAMS[name]
    x = torch.rand(4, *spec.input_shape)
    out = model(x)
    if spec.task == "classify":
        assert out.shape == (4, spec.num_classes)
        target = torch.tensor([0, 1, 0, 1])
    else:
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1  # Sigmoid output
        target = x
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = loss_fn(spec.loss)(out, target)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_mnistnet_ends_in_log_softmax():
    out = MODELS["mnistnet"].build()(torch.rand(3, 1, 28, 28))
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)
    assert MODELS["mnistnet"].loss == "nll"


def test_scratch_layer_uses_raw_parameters():
    model = MODELS["mlp-scratch"].build()
    names = dict(model.named_parameters())
    assert names["fc1.weight"].shape == (784, 256)  # (in, out): x.mm(W) + b, as the seed writes it
    assert names["fc1.bias"].shape == (256,)


@pytest.mark.parametrize("name,shapes", [
    ("cnn-strided", [(16, 14, 14), (32, 7, 7), (64, 1, 1)]),
    ("cnn-pool", [(10, 24, 24), (10, 12, 12), (20, 8, 8), (20, 4, 4), (10,)]),
    ("resnet-small", [(16, 24, 24), (16, 12, 12), (32, 8, 8), (32, 4, 4), (10,)]),
    ("autoencoder", [(32, 1, 1), (32, 7, 7), (16, 14, 14), (1, 28, 28)]),
    ("catdog-cnn", [(6, 124, 124), (6, 62, 62), (16, 29, 29), (32, 1, 1), (2,)]),
])
def test_layer_shapes_follow_the_seeds(name, shapes):
    spec = MODELS[name]
    seen = [layer.output_shape for layer in layer_shapes(spec.build(), spec.input_shape)]
    for shape in shapes:
        assert shape in seen, f"{name}: {shape} not among {seen}"


def test_classifiers_can_be_built_for_another_class_count():
    assert MODELS["catdog-cnn"].build(num_classes=3)(torch.rand(1, 3, 128, 128)).shape == (1, 3)


@pytest.mark.parametrize("how", ["normal", "xavier", "kaiming", "constant"])
def test_initialisations_change_weights_and_zero_biases(how):
    model = MODELS["mlp"].build()
    before = model.fc1.weight.detach().clone()
    init_parameters(model, how)
    assert not torch.equal(before, model.fc1.weight)
    assert torch.count_nonzero(model.fc1.bias) == 0
    if how == "constant":
        assert torch.all(model.fc1.weight == 1)
    if how == "normal":
        assert abs(model.fc1.weight.std().item() - 0.01) < 0.002


def test_unknown_model_names_the_choices():
    with pytest.raises(ConfigError, match="mlp-deep"):
        get_spec("no-such-model")
