"""What the loop does to be fast must not change what it computes: SGD's fused kernel (the default on a
CPU) ends a run with the weights the seeds' plain `torch.optim.SGD` loop gives, bit for bit; Adam's fused
kernel, which rounds differently, is taken only when asked for."""

import dataclasses

import pytest
import torch

import trainers.train.prepare
from trainers import run
from trainers.events import RunFailed
from tests.conftest import tiny_config


def final_weights(cfg, monkeypatch=None, plain=False):
    """Train `cfg` through trainers.train.loop.run; the model's weights at the end (and its optimizer)."""
    if plain:  # the optimizer as the seeds write it
        def make(c, params):
            if c.optimizer == "sgd":
                return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        monkeypatch.setattr(trainers.train.prepare, "make_optimizer", make)
    held = {}
    events = list(run(cfg, adapt=lambda s: held.update(model=s.model, optimizer=s.optimizer)))
    assert not any(isinstance(e, RunFailed) for e in events), events[-1]
    if plain:
        monkeypatch.undo()
    return torch.cat([p.detach().flatten() for p in held["model"].parameters()]), held["optimizer"]


@pytest.mark.parametrize("model, extra", [("mlp-deep", {}), ("cnn-pool", {"weight_decay": 1e-3}),
                                          ("mlp", {"momentum": 0.9})])
def test_fused_sgd_is_the_default_on_a_cpu_and_changes_no_bit(model, extra, monkeypatch):
    cfg = tiny_config(model=model, optimizer="sgd", epochs=2, limit_batches=4, **extra)
    fast, opt = final_weights(cfg)
    assert opt.param_groups[0]["fused"] is True
    slow, plain = final_weights(cfg, monkeypatch, plain=True)
    assert not plain.param_groups[0]["fused"]
    assert torch.equal(fast, slow)  # not close: the same floats


@pytest.mark.parametrize("extra", [{}, {"weight_decay": 1e-3}])
def test_adam_is_fused_only_when_asked(extra, monkeypatch):
    cfg = tiny_config(model="mlp-wide", optimizer="adam", epochs=2, limit_batches=4, **extra)
    default, opt = final_weights(cfg)
    assert not opt.param_groups[0]["fused"]
    slow, _ = final_weights(cfg, monkeypatch, plain=True)
    assert torch.equal(default, slow)
    fused, opt = final_weights(dataclasses.replace(cfg, fused_adam=True))
    assert opt.param_groups[0]["fused"] is True
    assert torch.allclose(fused, slow, atol=1e-5) and not torch.equal(fused, slow)  # rounding, nothing more


def test_channels_last_on_a_cpu_only_when_asked():
    """NHWC convolutions (and pooling) are faster on a CPU too, but round differently: a switch."""
    from trainers.events import EpochEnded

    def train(cfg):
        held = {}
        events = list(run(cfg, adapt=lambda s: held.update(session=s)))
        assert not any(isinstance(e, RunFailed) for e in events), events[-1]
        s = held["session"]
        weight = s.model.conv1.weight
        ended = [e for e in events if isinstance(e, EpochEnded)]
        return s, weight, torch.cat([p.detach().flatten() for p in s.model.parameters()]), ended[-1]

    cfg = tiny_config(model="cnn-pool", epochs=1, limit_batches=3)
    s, weight, plain, _ = train(cfg)
    assert not s.channels_last and weight.is_contiguous()
    s, weight, nhwc, ended = train(dataclasses.replace(cfg, channels_last=True))
    assert s.channels_last and weight.is_contiguous(memory_format=torch.channels_last)
    assert s.batches(False).x.is_contiguous(memory_format=torch.channels_last)  # the images are made NHWC once
    assert ended.test_accuracy is not None and 0 <= ended.test_accuracy <= 1
    assert torch.allclose(nhwc, plain, atol=1e-4)  # the same training, up to the convolutions' rounding
