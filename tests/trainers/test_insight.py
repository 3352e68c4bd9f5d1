"""The probes that look inside the network: activations of a few images, where a classifier is wrong, where
an autoencoder puts things — against hand-computed cases, on tiny runs, and through the run log."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers import run
from trainers.probes import evaluation as probe
from trainers.probes.activations import MAPS, activations
from trainers.probes.evaluation import Evaluation, encoder_of, pca_2d
from trainers.runs import RunReader


def session(task="classify", classes=("a", "b", "c"), normalize=False, mean=(0.0,), std=(1.0,), model=None):
    """What Evaluation reads of a trainers.train.prepare.Session."""
    data = SimpleNamespace(classes=classes, mean=mean, std=std)
    return SimpleNamespace(task=task, classify=task == "classify", data=data, device=torch.device("cpu"),
                           normalize=normalize, model=model or nn.Identity(), world=1, input_shape=(1, 2, 2))


def images(values):
    """One 1x2x2 image per value, every pixel that value (so an image says which one it is)."""
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()


def test_confusion_matrix_per_class_accuracy_and_worst_by_hand(monkeypatch):
    monkeypatch.setattr(probe, "WORST", 2)  # fewer kept than wrong: the running top-k must merge batches
    e = Evaluation(session())
    # batch 1: true 0,0,1 ; logits make predictions 0 (right), 1 (wrong, p=.7), 1 (right)
    logits1 = torch.log(torch.tensor([[.8, .1, .1], [.2, .7, .1], [.1, .8, .1]]))
    e.add(images([.1, .2, .3]), torch.tensor([0, 0, 1]), logits1)
    # batch 2: true 2,2,1 ; predictions 0 (wrong, p=.9), 2 (right), 2 (wrong, p=.6)
    logits2 = torch.log(torch.tensor([[.9, .05, .05], [.1, .1, .8], [.2, .2, .6]]))
    e.add(images([.4, .5, .6]), torch.tensor([2, 2, 1]), logits2)
    e.finish()
    c = e.event(3)
    assert isinstance(c, ev.Confusion) and c.epoch == 3 and c.classes == ("a", "b", "c")
    assert c.matrix.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    assert c.per_class == pytest.approx((0.5, 0.5, 0.5))
    # the two most confident of the three wrong ones, worst first, with their own pictures
    assert c.worst_true == (2, 0) and c.worst_predicted == (0, 1)
    assert c.worst_confidence == pytest.approx((0.9, 0.7))
    assert c.worst_images.dtype == np.uint8 and c.worst_images[:, 0, 0, 0].tolist() == [102, 51]  # .4, .2


def test_the_worst_images_are_the_original_pixels_when_inputs_were_normalised():
    e = Evaluation(session(normalize=True, mean=(0.5,), std=(0.25,)))
    x = torch.tensor([0, 64, 128, 255], dtype=torch.uint8).reshape(1, 1, 2, 2)
    xn = (x.float() / 255 - 0.5) / 0.25
    e.add(xn, torch.tensor([0]), torch.tensor([[0.0, 5.0, 0.0]]))
    c = e.event(1)
    assert np.array_equal(c.worst_images[0], x[0].numpy())


def test_a_classifier_that_is_always_right_has_no_worst_images():
    e = Evaluation(session())
    e.add(images([.1, .2]), torch.tensor([0, 2]), torch.tensor([[9.0, 0, 0], [0, 0, 9.0]]))
    c = e.event(1)
    assert c.worst_images.shape == (0, 1, 2, 2) and c.worst_true == () and c.per_class == (1.0, None, 1.0)


def test_a_tiny_run_records_a_confusion_matrix_of_its_whole_test_pass():
    events = list(run(tiny_config(epochs=2)))
    confusions = [e for e in events if isinstance(e, ev.Confusion)]
    epochs = [e for e in events if isinstance(e, ev.EpochEnded)]
    assert [c.epoch for c in confusions] == [1, 2]
    for c, epoch in zip(confusions, epochs):
        m = c.matrix
        assert m.shape == (10, 10) and m.sum() == 64  # every test image counted once
        assert np.trace(m) / m.sum() == pytest.approx(epoch.test_accuracy)  # the same pass as the evaluation
        for i, accuracy in enumerate(c.per_class):
            assert accuracy == (pytest.approx(m[i, i] / m[i].sum()) if m[i].sum() else None)
        assert len(c.worst_true) == min(8, m.sum() - np.trace(m))
        assert all(t != p for t, p in zip(c.worst_true, c.worst_predicted))
        assert list(c.worst_confidence) == sorted(c.worst_confidence, reverse=True)
        assert all(0 < p <= 1 for p in c.worst_confidence)
        assert c.worst_images.shape == (len(c.worst_true), 1, 28, 28) and c.worst_images.dtype == np.uint8


def test_pca_recovers_codes_lying_on_a_known_plane_up_to_sign():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(8, 2)))  # two orthonormal directions in an 8-d code
    a = rng.normal(size=200)
    b = rng.normal(size=200)
    a, b = a - a.mean(), b - b.mean()
    b -= a * (a @ b) / (a @ a)  # uncorrelated, so the principal axes are exactly a's and b's
    a, b = 3 * a / a.std(), b / b.std()
    codes = torch.tensor(np.outer(a, basis[:, 0]) + np.outer(b, basis[:, 1]) + 5.0)
    points, explained = pca_2d(codes)
    for axis, truth in ((0, a), (1, b)):
        got = points[:, axis].numpy()
        sign = np.sign(got @ truth)
        assert np.allclose(sign * got, truth, atol=1e-6)
    assert explained == pytest.approx((0.9, 0.1))
    # the sign does not flip for a code that barely moved (as between two epochs)
    moved, _ = pca_2d(codes + 1e-4 * torch.tensor(rng.normal(size=codes.shape)))
    assert np.allclose(moved.numpy(), points.numpy(), atol=1e-2)


def test_pca_of_a_one_number_code_leaves_the_second_axis_at_zero():
    points, explained = pca_2d(torch.tensor([[1.0], [2.0], [4.0]]))
    assert np.allclose(points[:, 1].numpy(), 0) and explained == pytest.approx((1.0, 0.0))
    assert np.allclose(points[:, 0].numpy(), [-4 / 3, -1 / 3, 5 / 3])  # the one direction, +1, kept positive


class Halves(nn.Module):
    """Reconstructs every image as half of itself; its code is the image's mean pixel, twice."""

    def encode(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([m, 2 * m], 1)

    def forward(self, x):
        return x / 2


def test_an_autoencoders_worst_reconstructions_and_code_by_hand():
    model = Halves()
    e = Evaluation(session(task="reconstruct", model=model))
    e.add(images([.24, .8]), torch.tensor([0, 1]), model(images([.24, .8])))
    e.add(images([.4]), torch.tensor([2]), model(images([.4])))
    latent = e.event(2)
    assert isinstance(latent, ev.Latent) and latent.code_size == 2
    errors = [(v / 2) ** 2 for v in (.8, .4, .24)]  # (x - x/2)^2, worst first
    assert latent.worst_errors == pytest.approx(errors)
    assert latent.mean_error == pytest.approx(sum(errors) / 3)
    assert latent.worst_images[:, 0, 0, 0].tolist() == [204, 102, 61]
    assert latent.worst_outputs[:, 0, 0, 0].tolist() == [102, 51, 31]
    assert latent.labels.tolist() == [0, 1, 2] and latent.points.dtype == np.float16
    # codes on a line: the first component is the line, the second is empty
    assert latent.explained == pytest.approx((1.0, 0.0), abs=1e-6)
    # ...and its sign: the direction (1, 2)/sqrt(5) has its largest loading positive
    assert np.allclose(latent.points[:, 0], np.array([-.24, .32, -.08]) * np.sqrt(5), atol=1e-2)


def test_the_code_convention_encode_then_encoder_then_none():
    class WithEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(2, 1)

    assert encoder_of(Halves()).__func__ is Halves.encode
    with_encoder = WithEncoder()
    assert encoder_of(with_encoder) is with_encoder.encoder
    assert encoder_of(nn.Linear(2, 2)) is None
    e = Evaluation(session(task="reconstruct", model=nn.Identity()))
    e.add(images([.5]), torch.tensor([0]), images([.5]))
    latent = e.event(1)
    assert latent.points is None and latent.code_size == 0 and latent.worst_errors == (0.0,)


def test_activations_follow_the_models_own_layer_shapes():
    from trainers.models.cnn import lenet5

    torch.manual_seed(0)
    model = lenet5()
    x = torch.rand(3, 1, 28, 28)
    walked = activations(model, 0, x, (x * 255).to(torch.uint8), [1, 2, 3], tuple("0123456789"))
    expected, h = [], x
    for name, layer in model.named_children():
        h = layer(h)
        expected.append((name, type(layer).__name__, tuple(h.shape[1:]), h))
    assert [(la.name, la.kind, la.shape) for la in walked.layers] == [e[:3] for e in expected]
    assert model.training  # the walk puts the model back as it found it
    for layer, (_, _, _, out) in zip(walked.layers, expected):
        flat = out.detach().reshape(3, -1)
        assert layer.low == pytest.approx(flat.min(1).values.tolist(), abs=1e-5)
        assert layer.high == pytest.approx(flat.max(1).values.tolist(), abs=1e-5)
        assert layer.mean == pytest.approx(flat.mean(1).tolist(), abs=1e-5)
        if out.dim() == 4:
            k = min(MAPS, out.shape[1])
            assert layer.maps.shape == (3, k, *out.shape[2:]) and layer.maps.dtype == np.uint8
            raw = out.detach()[:, :k]
            assert np.allclose(layer.map_low, raw.amin(dim=(2, 3)).numpy(), atol=1e-5)
            assert np.allclose(layer.map_high, raw.amax(dim=(2, 3)).numpy(), atol=1e-5)
            assert (layer.maps.reshape(3, k, -1).min(2) == 0).all() and (layer.maps.reshape(3, k, -1).max(2) == 255).all()
        else:
            assert layer.maps is None
    # the sigmoids after each convolution say so (before/after pairs in the view)
    assert [(la.name, la.follows) for la in walked.layers if la.follows] == [("1", "0"), ("4", "3")]


def test_a_module_used_twice_appears_twice():
    from trainers.models.mlp import TiedMLP

    walked = activations(TiedMLP(), 1, torch.rand(2, 1, 28, 28), torch.zeros(2, 1, 28, 28, dtype=torch.uint8),
                         [0, 0], tuple("0123456789"))
    names = [la.name for la in walked.layers]
    assert names == ["net.0", "net.1", "net.2", "net.3", "net.4", "net.3#2", "net.6", "net.7"]


def test_the_probes_events_round_trip_through_the_run_log(tmp_path):
    for model in ("lenet5", "autoencoder"):
        folder, events = recorded(tiny_config(model=model, epochs=1, out=str(tmp_path / model)))
        replay = list(RunReader(folder).events())
        for kind in (ev.Activations, ev.Confusion if model == "lenet5" else ev.Latent):
            kept = [e for e in events if isinstance(e, kind)]
            shown = [e for e in replay if isinstance(e, kind)]
            assert len(shown) == len(kept) >= 1
            for a, b in zip(kept, shown):
                assert _same(a, b), kind.__name__
        walks = [e for e in replay if isinstance(e, ev.Activations)]
        assert [w.epoch for w in walks] == [0, 1]  # at initialisation, then after the epoch
        assert isinstance(walks[0].layers[0], ev.LayerActivation) and walks[0].images.shape[0] == 4


def _same(a, b) -> bool:
    import dataclasses

    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_an_autoencoder_run_scatters_its_test_codes_by_class():
    events = list(run(tiny_config(model="autoencoder", epochs=1)))
    latent = next(e for e in events if isinstance(e, ev.Latent))
    assert latent.points.shape == (64, 2) and latent.labels.shape == (64,) and latent.code_size == 32
    assert set(latent.labels.tolist()) <= set(range(10)) and np.isfinite(latent.points.astype(float)).all()
    assert list(latent.worst_errors) == sorted(latent.worst_errors, reverse=True)
    assert latent.worst_errors[0] >= latent.mean_error
    recon = next(e for e in events if isinstance(e, ev.EpochEnded))
    assert latent.mean_error == pytest.approx(recon.test_loss, rel=1e-4)  # per-image MSE averaged = the test loss


def test_large_feature_maps_are_kept_small_with_their_raw_range():
    from trainers.probes.activations import MAP_SIDE

    conv = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1))
    x = torch.rand(1, 3, 128, 96)
    walked = activations(conv, 1, x, (x * 255).to(torch.uint8), [0], ("cat", "dog"))
    layer = walked.layers[0]
    assert layer.shape == (2, 128, 96) and layer.maps.shape == (1, 2, MAP_SIDE, 24)  # the aspect kept
    raw = conv(x).detach()
    assert np.allclose(layer.map_low[0], raw.amin(dim=(2, 3))[0].numpy(), atol=1e-6)
    assert np.allclose(layer.map_high[0], raw.amax(dim=(2, 3))[0].numpy(), atol=1e-6)


def test_a_stopped_and_resumed_run_records_each_epochs_probes_once_and_the_same(tmp_path):
    from trainers.backends import resume_config
    from trainers.runs.log import read_events

    config = dict(epochs=3, limit_batches=4, model="cnn-strided")
    whole, _ = recorded(tiny_config(**config, out=str(tmp_path / "whole")))
    folder, events = recorded(tiny_config(**config, out=str(tmp_path / "cut")), stop_at=(2, 2))
    assert events[-1].stopped
    folder, _ = recorded(resume_config(folder))
    for kind, epochs in ((ev.Activations, [0, 1, 2, 3]), (ev.Confusion, [1, 2, 3])):
        mine = [e for e in read_events(folder) if isinstance(e, kind)]
        theirs = [e for e in read_events(whole) if isinstance(e, kind)]
        assert [e.epoch for e in mine] == epochs
        assert all(_same(a, b) for a, b in zip(mine, theirs)), kind.__name__  # bit for bit on the CPU
